"""What a platform runs locally to match uploads against the survivors' hash feed.

No Django anywhere in this package: a platform installs it with ``pip install ".[platform]"``
(faiss is used when importable, numpy otherwise) and never needs the portal.

- :mod:`hashbank.platform.index`: the exact PDQ index (every stored hash within the threshold,
  with distances; removals honoured; saved to disk and memory-mapped back).
- :mod:`hashbank.platform.matcher`: hashes image files with pdqhash, all eight dihedral
  variants, and asks the index.
- ``python -m hashbank.platform``: the command line (see :mod:`hashbank.platform.cli`).
"""

from hashbank.platform.index import DEFAULT_THRESHOLD, MAX_THRESHOLD, Match, PDQIndex, available_backends

__all__ = ["DEFAULT_THRESHOLD", "MAX_THRESHOLD", "Match", "PDQIndex", "available_backends"]
