"""The signal types by wire name."""

from __future__ import annotations

from hashbank.fingerprints.ahash import AHash
from hashbank.fingerprints.base import FingerprintError, SignalType
from hashbank.fingerprints.dhash import DHash
from hashbank.fingerprints.md5 import MD5
from hashbank.fingerprints.pdq import PDQ
from hashbank.fingerprints.phash import PHash
from hashbank.fingerprints.sha256 import SHA256
from hashbank.fingerprints.video_md5 import VideoMD5
from hashbank.fingerprints.vpdq import VPDQ

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    cls.name: cls for cls in (PDQ, PHash, DHash, AHash, MD5, SHA256, VideoMD5, VPDQ)
}


def get_signal_type(name: object) -> type[SignalType]:
    if not isinstance(name, str) or name not in SIGNAL_TYPES:
        known = ", ".join(sorted(SIGNAL_TYPES))
        raise FingerprintError(f"unknown signal type {name!r}; expected one of: {known}")
    return SIGNAL_TYPES[name]


def validate(signal_type: object, value: object, *, quality: int | None = None) -> str:
    """Validate and normalise one value of the named signal type."""
    return get_signal_type(signal_type).validate(value, quality=quality)
