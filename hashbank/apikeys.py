"""Partner API keys: `isk_<prefix>_<secret>`.

The prefix (8 Crockford characters) finds the row and is safe to show in logs and the admin;
the secret (32 characters, 160 bits) is checked against a SHA-256 of the whole key. Keys are
only ever read from the `Authorization: Bearer ...` header, never from a URL, where proxies
and browsers would log them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from hashbank.references import CROCKFORD

KEY_RE = re.compile(r"^isk_([0-9A-Z]{8})_([0-9A-Z]{32})$")


def key_generate() -> tuple[str, str]:
    """(prefix, whole key)."""
    prefix = "".join(secrets.choice(CROCKFORD) for _ in range(8))
    secret = "".join(secrets.choice(CROCKFORD) for _ in range(32))
    return prefix, f"isk_{prefix}_{secret}"


def key_hash(whole_key: str) -> str:
    return hashlib.sha256(whole_key.encode("ascii")).hexdigest()


def key_prefix(whole_key: str) -> str | None:
    match = KEY_RE.fullmatch(whole_key)
    return match.group(1) if match else None


def key_matches(whole_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(whole_key), stored_hash)
