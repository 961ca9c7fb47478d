"""What a platform runs locally to match uploads against the survivors' hash feed.

No Django anywhere in this package: a platform installs it with ``pip install ".[platform]"``
(faiss is used when importable, numpy otherwise) and never needs the portal.

- :mod:`hashbank.platform.index`: the exact PDQ index (every stored hash within the threshold,
  with distances; removals honoured; saved to disk and memory-mapped back).
- :mod:`hashbank.platform.matcher`: hashes image files with pdqhash, all eight dihedral
  variants, and asks the index.
- :mod:`hashbank.platform.feed`: reads the signed feed over HTTP, verifying every document with
  :mod:`hashbank.feedformat` before anything is used (shared by the two below).
- :mod:`hashbank.platform.exchange`: the python-threatexchange exchange (for HMA and the
  ``threatexchange`` CLI); imports python-threatexchange, so it is not imported here.
- :mod:`hashbank.platform.store`: the reference matcher's local store (resumable ``sync``).
- :mod:`hashbank.platform.serve`: the small HTTP matcher an upload pipeline calls with hashes.
- :mod:`hashbank.platform.receiver`: ``receive``, a small server that verifies a pushed
  checkpoint and then syncs (or runs the platform's own fetch, for HMA and the CLI).
- :mod:`hashbank.platform.live`, :mod:`hashbank.platform.lookup`,
  :mod:`hashbank.platform.lookup_service`: the hosted lookup's index process (run by us, for
  platforms that should not hold the list; ``manage.py lookup_serve``).
- ``python -m hashbank.platform``: the command line (see :mod:`hashbank.platform.cli`).

docs/platforms.md explains how a platform connects with each of them.
"""

from hashbank.platform.index import DEFAULT_THRESHOLD, MAX_THRESHOLD, Match, PDQIndex, available_backends

__all__ = ["DEFAULT_THRESHOLD", "MAX_THRESHOLD", "Match", "PDQIndex", "available_backends"]
