"""PDQ: Meta's 256-bit perceptual photo hash, the one every partner matches on."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from hashbank.fingerprints.base import FingerprintError, HexSignalType, check_quality

#: Hashes below this quality come from flat or nearly flat images and match unrelated
#: pictures; python-threatexchange drops them too.
QUALITY_FLOOR = 50
#: Meta's recommended Hamming distance for a confident PDQ match.
THRESHOLD = 31
#: A real PDQ sets the bits of the DCT values above their median, so close to half of the
#: 256 bits are set; hashes far from that come from flat images or broken hashers.
MIN_SET_BITS = 32
MAX_SET_BITS = 224


class PDQ(HexSignalType):
    name = "pdq"
    bits = 256
    threshold = THRESHOLD
    quality_floor: ClassVar[int] = QUALITY_FLOOR

    @classmethod
    def validate(cls, value: object, *, quality: int | None = None) -> str:
        text = cls.normalise(value)
        set_bits = int(text, 16).bit_count()
        if set_bits < MIN_SET_BITS or set_bits > MAX_SET_BITS:
            raise FingerprintError(
                f"pdq: refused degenerate value ({set_bits} of 256 bits set; a real PDQ sets about half)"
            )
        if quality is not None:
            check_quality(cls.name, quality, cls.quality_floor)
        return text

    @classmethod
    def hash_pixels(cls, rgb: object) -> tuple[str, int]:
        """(hash, quality) of an RGB uint8 array of shape (h, w, 3), as pdqhash computes it."""
        import numpy as np
        import pdqhash

        bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
        return bits_to_hex(bits), int(quality)

    @classmethod
    def hash_pixels_dihedral(cls, rgb: object) -> tuple[list[str], int]:
        """The eight dihedral variants in pdqhash's order (original, rot90, rot180, rot270,
        flipX, flipY, flip+1, flip-1) and the quality."""
        import numpy as np
        import pdqhash

        variants, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb, dtype=np.uint8))
        return [bits_to_hex(v) for v in variants], int(quality)

    @classmethod
    def hash_file_with_quality(cls, path: str | Path) -> tuple[str, int]:
        from hashbank.fingerprints.images import load_rgb

        return cls.hash_pixels(load_rgb(path))

    @classmethod
    def hash_file(cls, path: str | Path) -> str:
        return cls.hash_file_with_quality(path)[0]

    @classmethod
    def get_examples(cls) -> list[str]:
        # From Meta's pdq/data test images, as python-threatexchange lists them.
        return [
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "d8f8f0cec0f4a84f8e370a22038f67f0b36a2ed597231e1d72e6b39c4a9c9b22",
            "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064",
            "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
            "c186f9619659658c4b6916daf934496985f4259c72c39676ab9edb631c3c349c",
        ]


def bits_to_hex(bits: object) -> str:
    """pdqhash returns 256 0/1 values, most significant first; hex is 64 lowercase digits."""
    value = 0
    for bit in bits:  # type: ignore[attr-defined]
        value = (value << 1) | int(bit)
    return f"{value:064x}"


validate = PDQ.validate
distance = PDQ.distance
