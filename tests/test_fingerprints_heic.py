"""HEIC/HEIF and AVIF in the reference hashers and the platform tools (issue 15, item 3): a
platform that decodes an iPhone photo with pillow-heif, or an AVIF with Pillow, gets the same
fingerprints from our library and matcher as from pdqhash and imagehash on those pixels; a
HEIC's own rotation (irot) is applied, as libheif applies it."""

from __future__ import annotations

import numpy as np
import pdqhash
import pillow_heif
import pytest
from PIL import Image
from skimage import data

from hashbank.fingerprints import SIGNAL_TYPES
from hashbank.fingerprints.pdq import bits_to_hex
from hashbank.platform.matcher import hash_image


def photo() -> Image.Image:
    return Image.fromarray(data.astronaut()).resize((384, 320))


def reference_pdq(rgb: np.ndarray) -> str:
    bits, _ = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return bits_to_hex(bits)


@pytest.fixture
def heic(tmp_path):
    path = tmp_path / "photo.heic"
    heif = pillow_heif.from_pillow(photo())
    heif.save(path, quality=85)
    return path


def test_a_heic_is_hashed_as_pillow_heif_decodes_it(heic):
    decoded = pillow_heif.open_heif(heic, convert_hdr_to_8bit=True).to_pillow().convert("RGB")
    rgb = np.asarray(decoded)
    assert SIGNAL_TYPES["pdq"].hash_file(heic) == reference_pdq(rgb)
    import imagehash

    assert SIGNAL_TYPES["phash"].hash_file(heic) == str(imagehash.phash(decoded))
    # The platform tools' matcher hashes the same pixels (all eight dihedral variants).
    assert hash_image(heic).hashes[0] == reference_pdq(rgb)
    # Lossy, but the same picture: within PDQ's match distance of the original's fingerprint.
    original = reference_pdq(np.asarray(photo()))
    assert (int(original, 16) ^ int(SIGNAL_TYPES["pdq"].hash_file(heic), 16)).bit_count() <= 31


def test_a_heic_rotation_is_applied_as_libheif_applies_it(tmp_path):
    """HEIF stores a phone's orientation as an irot box, which libheif applies: the file's
    fingerprint is of the picture as shown (unlike a JPEG's EXIF orientation, which no
    reference hasher applies)."""
    rotated = tmp_path / "rotated.heic"
    heif = pillow_heif.from_pillow(photo())
    heif.info["exif"] = _exif_orientation(6)
    heif.save(rotated, quality=85)
    with Image.open(rotated) as image:
        assert image.getexif().get(0x0112) == 1 and image.info["original_orientation"] == 6
        shown = np.asarray(image.convert("RGB"))
    # Orientation 6: turned a quarter clockwise, as a phone shows it.
    turned = np.asarray(photo().transpose(Image.Transpose.ROTATE_270))
    assert shown.shape == turned.shape == (384, 320, 3)
    assert np.abs(shown.astype(int) - turned.astype(int)).mean() < 4
    assert SIGNAL_TYPES["pdq"].hash_file(rotated) == reference_pdq(shown)
    assert (int(reference_pdq(turned), 16) ^ int(SIGNAL_TYPES["pdq"].hash_file(rotated), 16)).bit_count() <= 31


def test_an_avif_is_hashed_as_pillow_decodes_it(tmp_path):
    from PIL import features

    assert features.check("avif"), "Pillow 13 decodes AVIF with its own plugin"
    path = tmp_path / "photo.avif"
    photo().save(path, quality=80)
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    assert SIGNAL_TYPES["pdq"].hash_file(path) == reference_pdq(rgb)
    assert hash_image(path).hashes[0] == reference_pdq(rgb)


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()
