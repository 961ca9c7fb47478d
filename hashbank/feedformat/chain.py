"""The feed's hash chain.

Every entry is one line of canonical JSON (hashbank.feedformat.canonical.entry_bytes), served
and hashed exactly as stored: `chain(n) = sha256(chain(n-1) + line(n))` over raw bytes (the
previous digest as 32 bytes), with `chain(0) = GENESIS` (32 zero bytes). The publisher extends
the chain with `chain_step`; the verifier recomputes it over the lines it received.
"""

from __future__ import annotations

import hashlib

GENESIS = "0" * 64


def chain_step(prev_digest: str, line: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_digest) + line).hexdigest()
