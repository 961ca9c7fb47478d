"""The partner feed's wire format, and its verifier: pure Python, no Django.

One definition shared by the three parties to the feed: the server that writes and signs it
(hashbank.feed), the platform tools that consume it (hashbank.platform, the
python-threatexchange exchange) and anyone writing their own client. docs/feed.md describes
the format in prose; this package is what it says in code.

- :mod:`hashbank.feedformat.canonical`: the format version, document kinds, entry fields and
  origins; an entry's canonical bytes; key ids; times.
- :mod:`hashbank.feedformat.chain`: the hash chain (`GENESIS`, `chain_step`).
- :mod:`hashbank.feedformat.verifier`: `FeedVerifier` and the checks of every signed document
  (`VerifyError` on any fault). Only it needs `cryptography`, and only when it checks a signature.
- ``python -m hashbank.feedformat keys.json headers.txt body.json``: checks documents saved
  with curl (:mod:`hashbank.feedformat.cli`).

Nothing here imports Django or the rest of hashbank (tests/test_import_graph.py holds it to
that), so a platform can use it without the portal. The old module path,
``hashbank.fingerprints.verify``, re-exports all of this for code written against it.
"""

from hashbank.feedformat.canonical import (
    ADD_FIELDS,
    CHECKPOINT_KIND,
    EVIDENCE_KIND,
    EVIDENCE_SECTIONS,
    FORMAT_VERSION,
    KEYS_KIND,
    ORIGINS,
    PAGE_KIND,
    SNAPSHOT_KIND,
    WITHDRAW_FIELDS,
    entry_bytes,
    format_time,
    key_id,
    origin_of,
    parse_time,
)
from hashbank.feedformat.chain import GENESIS, chain_step
from hashbank.feedformat.verifier import (
    Checkpoint,
    FeedVerifier,
    Page,
    SnapshotManifest,
    VerifyError,
    read_snapshot,
    verify_checkpoint,
    verify_evidence,
    verify_keyset,
    verify_page,
    verify_signature,
    verify_snapshot_manifest,
)

__all__ = [
    "ADD_FIELDS",
    "CHECKPOINT_KIND",
    "EVIDENCE_KIND",
    "EVIDENCE_SECTIONS",
    "FORMAT_VERSION",
    "GENESIS",
    "KEYS_KIND",
    "ORIGINS",
    "PAGE_KIND",
    "SNAPSHOT_KIND",
    "WITHDRAW_FIELDS",
    "Checkpoint",
    "FeedVerifier",
    "Page",
    "SnapshotManifest",
    "VerifyError",
    "chain_step",
    "entry_bytes",
    "format_time",
    "key_id",
    "origin_of",
    "parse_time",
    "read_snapshot",
    "verify_checkpoint",
    "verify_evidence",
    "verify_keyset",
    "verify_page",
    "verify_signature",
    "verify_snapshot_manifest",
]
