"""The old home of the feed verifier, kept so code and commands written against it still work.

The feed's wire format and its verifier now live in :mod:`hashbank.feedformat` (they are not
a fingerprint). docs/platforms.md and docs/feed.md told platforms to run
``python -m hashbank.fingerprints.verify`` and to import ``FeedVerifier`` from here, so this
module re-exports the same objects (``hashbank.fingerprints.verify.FeedVerifier is
hashbank.feedformat.FeedVerifier``) and runs the same command line. New code should import
``hashbank.feedformat``.
"""

from hashbank.feedformat import *  # noqa: F403 - a compatibility alias: exactly the new module's names
from hashbank.feedformat import __all__ as _all
from hashbank.feedformat.cli import main

__all__ = [*_all, "main"]

if __name__ == "__main__":
    raise SystemExit(main())
