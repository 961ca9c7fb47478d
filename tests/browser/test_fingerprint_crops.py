"""The browser also submits PDQs of the central 95%, 92.5%, 90% and 80% of each photo, and of
the photo with 10% and 20% cut off each side (with their mirrors), so copies cropped so (and
mirrored) still match on their plain PDQ. They approximate what pdqhash computes on the cropped
copy (the whole image's blur sampled on the crop's grid); this checks they land close enough to
match, that they are submitted with their own quality, and that a file's fingerprints stay
within what the server accepts per file."""

from __future__ import annotations

import pytest
from PIL import Image

from portal.survivor.wire import MAX_FINGERPRINTS_PER_FILE
from tests.browser import fingerprint_corpus as corpus

pytestmark = pytest.mark.browser


def centre_crop(image: Image.Image, keep: float) -> Image.Image:
    """The crop pdq.js's centreCropBox describes (JavaScript rounds halves up)."""
    w, h = image.size
    dw, dh = int(w * (1 - keep) / 2 + 0.5), int(h * (1 - keep) / 2 + 0.5)
    return image.crop((dw, dh, w - dw, h - dh))


def side_crop(image: Image.Image, side: str, cut: float) -> Image.Image:
    """The crop pdq.js's sideCropBox describes: round(size * cut) pixels off one side."""
    w, h = image.size
    dx, dy = int(w * cut + 0.5), int(h * cut + 0.5)
    return image.crop({"left": (dx, 0, w, h), "right": (0, 0, w - dx, h), "top": (0, dy, w, h),
                       "bottom": (0, 0, w, h - dy)}[side])


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "rocket.jpg"])
def test_crop_fingerprints_match_pdqhash_on_the_cropped_copy(fp, name):
    image = corpus.photo(name).convert("RGB")
    # A larger photo too, where the blur window of the image and of its crops differ more.
    for im in (image, image.resize((image.width * 3, image.height * 3), Image.Resampling.BICUBIC)):
        data = corpus.encode(im, "PNG")
        out = fp.fingerprint(data, "photo.png")
        assert out["ok"], out
        result = out["result"]
        assert result["pdq"] == corpus.reference(data).pdq
        crops = {c["crop"]: c for c in result["pdq_crops"] if "crop" in c}
        sides = {(c["side"], c["cut"]): c for c in result["pdq_crops"] if "side" in c}
        assert sorted(crops) == [0.8, 0.9, 0.925, 0.95]
        assert sorted(sides) == sorted((s, c) for s in ("left", "right", "top", "bottom") for c in (0.1, 0.2))
        for keep, crop in crops.items():
            copy = corpus.encode(centre_crop(im, keep), "PNG")
            platform = corpus.reference(copy)
            distance = corpus.hamming(crop["pdq"], platform.pdq)
            assert distance <= (12 if keep >= 0.9 else 24), (name, im.size, keep, distance)
            assert abs(crop["quality"] - platform.pdq_quality) <= 10
            # The crop's fingerprint is far from the uncropped image's: it is a new fingerprint.
            assert corpus.hamming(crop["pdq"], result["pdq"]) > 31
        for (side, cut), crop in sides.items():
            copy = side_crop(im, side, cut)
            platform = corpus.reference(corpus.encode(copy, "PNG"))
            mirrored = corpus.reference(corpus.encode(copy.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG"))
            distance = corpus.hamming(crop["pdq"], platform.pdq)
            mirror_distance = corpus.hamming(crop["mirror"], mirrored.pdq)
            assert distance <= 24 and mirror_distance <= 24, (name, im.size, side, cut, distance, mirror_distance)
            assert abs(crop["quality"] - platform.pdq_quality) <= 10
        pdq_signals = [s for s in result["signals"] if s["type"] == "pdq"]
        for crop in result["pdq_crops"]:
            if crop["quality"] >= 50:
                for value in (crop["pdq"], crop.get("mirror", crop["pdq"])):
                    assert {"type": "pdq", "value": value, "quality": crop["quality"]} in pdq_signals
        assert all(s["quality"] == result["pdq_quality"] for s in pdq_signals if s["value"] in result["pdq_dihedral"])
        assert len(result["signals"]) <= MAX_FINGERPRINTS_PER_FILE
        assert len({s["value"] for s in result["signals"]}) == len(result["signals"])


def test_tiny_images_get_no_crop_fingerprints(fp):
    data = corpus.encode(corpus.photo("coffee.png").resize((6, 5)), "PNG")
    result = fp.fingerprint(data, "tiny.png")["result"]
    assert [c["crop"] for c in result["pdq_crops"]] == []
    assert all(s["value"] in result["pdq_dihedral"] for s in result["signals"] if s["type"] == "pdq")
