"""Match image files against a PDQ index: every dihedral variant of every file, one search.

An upload that was rotated or mirrored has a different PDQ hash; pdqhash computes the hashes of
all eight rotations and reflections in one pass, and each is looked up. So are the query
variants of :mod:`hashbank.platform.variants` (the upload with flat bars and frames trimmed, cut
to a submitted crop, or with opaque stickers painted over): none or one for most unedited
uploads, a few for edited ones; a variant under the quality floor is not looked up. A file whose PDQ quality is
under the floor (flat or nearly blank images, whose hashes match unrelated pictures) is not
looked up at all and is reported as skipped.

Matches are candidates for a platform's own review, never verdicts: perceptual hashes can be
evaded and collided on purpose.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from hashbank.fingerprints.images import load_rgb
from hashbank.fingerprints.pdq import PDQ, QUALITY_FLOOR
from hashbank.platform.index import HASH_BYTES, PDQIndex
from hashbank.platform.variants import Variant, query_variants

#: What Pillow raises on a missing, truncated, oversized or non-image file.
_UNREADABLE: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

#: pdqhash.compute_dihedral's order.
VARIANTS = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """The eight dihedral PDQ hashes of one image (in :data:`VARIANTS` order) and its quality,
    and its query variants (each with its own quality)."""

    hashes: tuple[str, ...]
    quality: int
    extra: tuple[Variant, ...] = ()

    def queries(self, quality_floor: int = QUALITY_FLOOR) -> list[tuple[str, str]]:
        """(variant name, hash) of everything looked up: the dihedral hashes, then the query
        variants of at least `quality_floor`."""
        out = list(zip(VARIANTS, self.hashes, strict=True))
        out += [(v.name, v.hash) for v in self.extra if v.quality >= quality_floor]
        return out


@dataclass(frozen=True, slots=True)
class FileMatch:
    """A stored record within the threshold of one of the file's variants (the nearest one)."""

    key: str
    distance: int
    variant: str
    stored_hash: str
    query_hash: str
    #: Where the record's case was made ("survivor", "helpline", "unrecorded"); None when the
    #: index came without origins (a bare saved index).
    origin: str | None = None


@dataclass(slots=True)
class FileResult:
    path: str
    quality: int | None = None
    #: The file's own PDQ hash (the ``original`` variant), when it could be hashed.
    pdq: str | None = None
    matches: list[FileMatch] = field(default_factory=list)
    #: Why the file was not looked up (quality under the floor), if it was not.
    skipped: str | None = None
    #: Why the file could not be hashed (unreadable, not an image), if it could not.
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "quality": self.quality,
            "pdq": self.pdq,
            "matches": [
                {
                    "key": m.key,
                    "distance": m.distance,
                    "variant": m.variant,
                    "stored_hash": m.stored_hash,
                    "query_hash": m.query_hash,
                    "origin": m.origin,
                }
                for m in self.matches
            ],
            "skipped": self.skipped,
            "error": self.error,
        }


def hash_image(path: str | os.PathLike[str], *, variants: bool = True) -> ImageHashes:
    """PDQ hashes of the file's eight dihedral variants and (unless `variants` is false) its
    query variants, decoded as the project's reference hashers decode images (Pillow, first
    frame, no EXIF rotation)."""
    rgb = load_rgb(path)
    hashes, quality = PDQ.hash_pixels_dihedral(rgb)
    if len(hashes) != len(VARIANTS):
        raise RuntimeError(f"pdqhash returned {len(hashes)} dihedral hashes, expected {len(VARIANTS)}")
    extra = tuple(query_variants(rgb)) if variants and quality >= QUALITY_FLOOR else ()
    return ImageHashes(tuple(hashes), int(quality), extra)


def match_hashes(
    index: PDQIndex,
    images: Sequence[ImageHashes],
    *,
    threshold: int | None = None,
    origins: Mapping[str, str] | None = None,
    default_origin: str = "survivor",
) -> list[list[FileMatch]]:
    """For each image, the records within the threshold of any of its queries (its dihedral
    hashes and query variants): one entry per record, with the nearest query (the first in
    :meth:`ImageHashes.queries` order on a tie). With `origins` (id -> origin, ids not listed
    are `default_origin`), each match says its origin."""
    if not images:
        return []
    queries = [image.queries() for image in images]
    owner = [(i, q) for i, image_queries in enumerate(queries) for q in range(len(image_queries))]
    codes = np.frombuffer(
        bytes.fromhex("".join(h for image_queries in queries for _, h in image_queries)), dtype=np.uint8
    ).reshape(-1, HASH_BYTES)
    result = index.search(codes, threshold=threshold)
    best: list[dict[int, tuple[int, int]]] = [{} for _ in images]
    for query, row, distance in zip(result.query.tolist(), result.row.tolist(), result.distance.tolist(), strict=True):
        image, variant = owner[query]
        seen = best[image].get(row)
        if seen is None or (distance, variant) < seen:
            best[image][row] = (distance, variant)
    out: list[list[FileMatch]] = []
    for image_queries, rows in zip(queries, best, strict=True):
        found = [
            (
                distance,
                variant,
                FileMatch(
                    key=index.key_of(row),
                    distance=distance,
                    variant=image_queries[variant][0],
                    stored_hash=index.hash_of(row),
                    query_hash=image_queries[variant][1],
                    origin=None if origins is None else origins.get(index.key_of(row), default_origin),
                ),
            )
            for row, (distance, variant) in rows.items()
        ]
        found.sort(key=lambda m: (m[0], m[1], m[2].key))
        out.append([m for _, _, m in found])
    return out


def match_files(
    index: PDQIndex,
    paths: Iterable[str | os.PathLike[str]],
    *,
    threshold: int | None = None,
    quality_floor: int = QUALITY_FLOOR,
    origins: Mapping[str, str] | None = None,
) -> list[FileResult]:
    """Hash every file and look up all their variants in one search. A file that cannot be read
    gets an ``error``, one under the quality floor is ``skipped``; neither stops the others."""
    results: list[FileResult] = []
    hashed: list[tuple[FileResult, ImageHashes]] = []
    for path in paths:
        result = FileResult(path=os.fspath(path))
        results.append(result)
        try:
            image = hash_image(path)
        except _UNREADABLE as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            continue
        result.quality = image.quality
        result.pdq = image.hashes[0]
        if image.quality < quality_floor:
            result.skipped = f"PDQ quality {image.quality} is under {quality_floor}: too flat to match reliably"
            continue
        hashed.append((result, image))
    for (result, _), found in zip(
        hashed, match_hashes(index, [image for _, image in hashed], threshold=threshold, origins=origins), strict=True
    ):
        result.matches = found
    return results
