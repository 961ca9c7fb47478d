"""Case references and PINs: generated here, normalised here, never stored in the clear.

A reference is 80 random bits written as 16 Crockford base32 characters in groups of four
(`K7QM-2XHP-9DRT-WF4A`): no I, L, O or U, so it survives being read aloud or copied by hand,
and it is never sequential, so one case says nothing about another. The PIN is six digits:
the reference already carries the entropy; the PIN is a second thing to know, so a reference
seen over someone's shoulder or on a printout is not enough, and six digits are easy to keep
in one's head. Guessing is bounded by the per-case and per-address limits of the status page
(issue 4), and the PIN is stored only as an Argon2 hash.
"""

from __future__ import annotations

import hashlib
import secrets

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_CHARS = 16  # 16 x 5 bits = 80 bits
GROUP = 4
PIN_DIGITS = 6

# Crockford's decoding rules: letters that look like digits are read as those digits.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def reference_generate() -> str:
    raw = "".join(secrets.choice(CROCKFORD) for _ in range(REFERENCE_CHARS))
    return format_reference(raw)


def format_reference(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def reference_normalise(text: object) -> str | None:
    """The canonical 16 characters, or None if this cannot be a reference. Case-insensitive;
    dashes and spaces optional; O read as 0, I and L as 1."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    compact = "".join(ch for ch in text.upper() if ch not in "- \t").translate(_READ_AS)
    if len(compact) != REFERENCE_CHARS or any(ch not in CROCKFORD for ch in compact):
        return None
    return compact


def reference_digest(normalised: str) -> str:
    """What the database keeps. A plain SHA-256 is enough: 80 random bits cannot be found by
    hashing guesses, and it lets a lookup be one indexed equality."""
    return hashlib.sha256(normalised.encode("ascii")).hexdigest()


def pin_generate() -> str:
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def pin_normalise(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    compact = "".join(ch for ch in text if ch not in "- \t")
    if len(compact) != PIN_DIGITS or not compact.isascii() or not compact.isdigit():
        return None
    return compact


def _hasher():  # -> argon2.PasswordHasher
    from argon2 import PasswordHasher

    # OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): ~30 ms here. Larger settings
    # would make each status-page visit (and the dummy work for unknown cases) slower on
    # small servers without adding much: online guessing is throttled anyway.
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def pin_hash(pin: str) -> str:
    return _hasher().hash(pin)


def pin_verify(stored_hash: str, pin: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(stored_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_dummy_hash: str | None = None


def pin_dummy_verify(pin: str) -> None:
    """The same Argon2 work as a real check, for references that match no case, so the time
    taken does not reveal whether a case exists."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = pin_hash(pin_generate())
    pin_verify(_dummy_hash, pin)
