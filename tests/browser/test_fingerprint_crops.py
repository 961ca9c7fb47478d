"""The browser also submits PDQs of the central 95%, 90% and 80% of each photo, so copies
with their borders cropped off still match. They approximate what pdqhash computes on the
cropped copy (the whole image's blur sampled on the crop's grid); this checks they land close
enough to match, that they are submitted with their own quality, and that a file's
fingerprints stay within what the server accepts per file."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.browser import fingerprint_corpus as corpus

pytestmark = pytest.mark.browser

MAX_FINGERPRINTS_PER_FILE = 16  # portal/survivor/wire.py


def centre_crop(image: Image.Image, keep: float) -> Image.Image:
    """The crop pdq.js's centreCropBox describes (JavaScript rounds halves up)."""
    w, h = image.size
    dw, dh = int(w * (1 - keep) / 2 + 0.5), int(h * (1 - keep) / 2 + 0.5)
    return image.crop((dw, dh, w - dw, h - dh))


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
        crops = {c["crop"]: c for c in result["pdq_crops"]}
        assert sorted(crops) == [0.8, 0.9, 0.95]
        for keep, crop in crops.items():
            copy = corpus.encode(centre_crop(im, keep), "PNG")
            platform = corpus.reference(copy)
            distance = corpus.hamming(crop["pdq"], platform.pdq)
            assert distance <= (12 if keep >= 0.9 else 24), (name, im.size, keep, distance)
            assert abs(crop["quality"] - platform.pdq_quality) <= 10
            # The crop's fingerprint is far from the uncropped image's: it is a new fingerprint.
            assert corpus.hamming(crop["pdq"], result["pdq"]) > 31
        pdq_signals = [s for s in result["signals"] if s["type"] == "pdq"]
        for keep, crop in crops.items():
            if crop["quality"] >= 50:
                assert {"type": "pdq", "value": crop["pdq"], "quality": crop["quality"]} in pdq_signals
        assert all(s["quality"] == result["pdq_quality"] for s in pdq_signals if s["value"] in result["pdq_dihedral"])
        assert len(result["signals"]) <= MAX_FINGERPRINTS_PER_FILE
        assert len({s["value"] for s in result["signals"]}) == len(result["signals"])


def test_tiny_images_get_no_crop_fingerprints(fp):
    data = corpus.encode(corpus.photo("coffee.png").resize((6, 5)), "PNG")
    result = fp.fingerprint(data, "tiny.png")["result"]
    assert [c["crop"] for c in result["pdq_crops"]] == []
    assert all(s["value"] in result["pdq_dihedral"] for s in result["signals"] if s["type"] == "pdq")
