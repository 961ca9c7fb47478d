"""Shared parts of the three imagehash signal types (64-bit, Pillow LANCZOS underneath)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from hashbank.fingerprints.base import HexSignalType


class ImageHashSignalType(HexSignalType):
    bits = 64
    #: The imagehash function that computes this signal from a PIL image.
    imagehash_function: ClassVar[str]
    # A flat image hashes to all zeros (or ones): it would match every other flat image.
    degenerate = {"0" * 16: "all bits clear, as for a flat image", "f" * 16: "all bits set"}

    @classmethod
    def hash_image(cls, image: Any) -> str:
        import imagehash

        return str(getattr(imagehash, cls.imagehash_function)(image))

    @classmethod
    def hash_file(cls, path: str | Path) -> str:
        from hashbank.fingerprints.images import open_image

        return cls.hash_image(open_image(path))
