"""Digests of a file's bytes, streamed so a large video never sits in memory whole."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

from hashbank.fingerprints.base import ExactSignalType

CHUNK = 1 << 20


class FileDigest(ExactSignalType):
    algorithm: ClassVar[str]

    @classmethod
    def hash_file(cls, path: str | Path) -> str:
        digest = hashlib.new(cls.algorithm)
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    @classmethod
    def hash_bytes(cls, data: bytes) -> str:
        return hashlib.new(cls.algorithm, data).hexdigest()
