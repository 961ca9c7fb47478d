"""What every signal type offers, and the one error type for bad values."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar


class FingerprintError(ValueError):
    """A fingerprint value was refused. The message says exactly what is wrong, in words
    that can be shown to a partner's engineer or returned in an API error."""


class SignalType(ABC):
    #: The signal's name on the wire (python-threatexchange's where it has one).
    name: ClassVar[str]
    #: Largest distance at which two values are considered the same content.
    threshold: ClassVar[int]

    @classmethod
    @abstractmethod
    def validate(cls, value: object, *, quality: int | None = None) -> str:
        """Return the normalised value or raise FingerprintError."""

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> int:
        """Distance between two already-valid values (0 means identical)."""

    @classmethod
    def matches(cls, a: str, b: str) -> bool:
        return cls.distance(cls.validate(a), cls.validate(b)) <= cls.threshold

    @classmethod
    @abstractmethod
    def hash_file(cls, path: str | Path) -> str:
        """Reference hasher for tests and platform tools. Never called on survivors' media:
        the server has no endpoint that accepts media."""

    @classmethod
    @abstractmethod
    def get_examples(cls) -> list[str]:
        """Known-good values, for tests and documentation."""


class HexSignalType(SignalType):
    """A fixed-width hexadecimal value (perceptual bit strings and file digests)."""

    bits: ClassVar[int]
    #: Values refused even though well formed, each with the reason.
    degenerate: ClassVar[dict[str, str]] = {}

    @classmethod
    def hex_length(cls) -> int:
        return cls.bits // 4

    @classmethod
    def normalise(cls, value: object) -> str:
        if not isinstance(value, str):
            raise FingerprintError(f"{cls.name}: expected a string of hex digits, got {type(value).__name__}")
        text = value.strip().lower()
        length = cls.hex_length()
        if len(text) != length:
            raise FingerprintError(f"{cls.name}: expected {length} hex digits, got {len(text)}")
        bad = re.search(r"[^0-9a-f]", text)
        if bad:
            raise FingerprintError(
                f"{cls.name}: {bad.group(0)!r} at position {bad.start()} is not a hex digit (0-9, a-f)"
            )
        reason = cls.degenerate.get(text)
        if reason:
            raise FingerprintError(f"{cls.name}: refused degenerate value ({reason})")
        return text

    @classmethod
    def validate(cls, value: object, *, quality: int | None = None) -> str:
        return cls.normalise(value)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return hamming_hex(a, b)


class ExactSignalType(HexSignalType):
    """A digest of the file's bytes: only an identical file matches."""

    threshold = 0

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1


def hamming_hex(a: str, b: str) -> int:
    """Number of differing bits between two hex strings of equal length."""
    if len(a) != len(b):
        raise FingerprintError(f"cannot compare values of different lengths ({len(a)} and {len(b)})")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def check_quality(name: str, quality: object, floor: int) -> int:
    """Quality scores are integers 0..100; values below the floor match unreliably."""
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise FingerprintError(f"{name}: quality must be a whole number from 0 to 100")
    if not 0 <= quality <= 100:
        raise FingerprintError(f"{name}: quality {quality} is outside 0..100")
    if quality < floor:
        raise FingerprintError(f"{name}: quality {quality} is below the floor of {floor}; too unreliable to match")
    return quality
