"""Our browser fingerprints agree with the references platforms run, on real files.

Headless Chromium decodes and hashes real files (PNG in every colour type and bit depth, with
transparency and palettes, interlaced; GIF; WebP; BMP; baseline, progressive, EXIF-rotated,
grey and CMYK JPEG) built from the photographs in scikit-image's wheel. The references are
pdqhash and imagehash on the same file decoded by Pillow, and hashlib on its bytes.

The contract under test: whenever a result says `exact: true`, every fingerprint is identical
to the reference; lossless formats are always exact; JPEG photographs meet Meta's bar (median
PDQ distance 0, none above 10 bits at quality >= 80); files that cannot be matched exactly say
so; files that cannot be read get a kind message; no media ever leaves the page.
"""

from __future__ import annotations

import io
import statistics

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageOps

from hashbank.fingerprints.pdq import bits_to_hex
from tests.browser import fingerprint_corpus as corpus

pytestmark = pytest.mark.browser

LOSSLESS = corpus.lossless_files()
JPEGS = corpus.jpeg_files()
FIELDS = ["pdq", "pdq_quality", "pdq_dihedral", "phash", "dhash", "ahash", "md5", "sha256", "width", "height"]


def differences(result: dict, ref: corpus.Reference) -> dict:
    return {f: (result[f], getattr(ref, f)) for f in FIELDS if result[f] != getattr(ref, f)}


def pixel_report(got: np.ndarray, want: np.ndarray) -> str:
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    diff = np.abs(got.astype(int) - want.astype(int))
    return f"{int((diff.max(axis=2) > 0).sum())} pixels differ, max {int(diff.max())}"


@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_file_decodes_to_pillows_pixels(fp, name):
    data = LOSSLESS[name]
    ref = corpus.reference(data)
    decoded = fp.decode(data)
    assert decoded["ok"], decoded
    assert decoded["exact"] is True, decoded["warnings"]
    assert np.array_equal(decoded["rgb"], ref.rgb), pixel_report(decoded["rgb"], ref.rgb)


@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_file_fingerprints_are_bit_identical(fp, name):
    data = LOSSLESS[name]
    out = fp.fingerprint(data, name)
    assert out["ok"], out
    result = out["result"]
    assert result["kind"] == "image" and result["exact"] is True
    assert differences(result, corpus.reference(data)) == {}


def test_transparent_pixels_keep_their_stored_colour(fp):
    # A canvas would turn these into black: the reference hashes the stored colour.
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = np.arange(64)[None, :] * 4
    rgba[..., 1] = np.arange(64)[:, None] * 4
    rgba[..., 2] = 200
    rgba[..., 3] = 0
    data = corpus.write_png(rgba, 6, 8)
    decoded = fp.decode(data)
    assert np.array_equal(decoded["rgb"], rgba[..., :3])


def test_jpeg_photographs_meet_the_conformance_bar(fp):
    distances = []
    report = []
    for name, (data, quality) in sorted(JPEGS.items()):
        ref = corpus.reference(data)
        out = fp.fingerprint(data, name, "image/jpeg")
        assert out["ok"], (name, out)
        result = out["result"]
        d = corpus.hamming(result["pdq"], ref.pdq)
        distances.append(d)
        report.append((name, d, result["exact"]))
        if quality >= 80:
            assert d <= 10, (name, d)
        assert result["md5"] == ref.md5 and result["sha256"] == ref.sha256
        if result["exact"]:
            # Chromium decodes JPEG with libjpeg-turbo exactly as Pillow does: a result that
            # claims to be exact must be identical in every fingerprint.
            assert differences(result, ref) == {}, name
    assert statistics.median(distances) == 0, report


def test_exif_orientation_is_not_applied(fp):
    # The rule: hash the stored pixels, as pdqhash and imagehash do on the raw file. A platform
    # that rotates first finds one of our dihedral variants instead.
    data, _ = JPEGS["astronaut-exif6.jpg"]
    ref = corpus.reference(data)
    result = fp.fingerprint(data, "rotated.jpg")["result"]
    assert (result["width"], result["height"]) == (400, 300)
    assert result["orientation"] == 6
    assert result["pdq"] == ref.pdq
    rotated = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    upright = bits_to_hex(pdqhash.compute(np.ascontiguousarray(rotated))[0])
    assert min(corpus.hamming(upright, v) for v in result["pdq_dihedral"]) <= 10


def test_cmyk_jpeg_is_exact_or_says_so(fp):
    # Chromium's CMYK conversion reproduces Pillow's (a built-in probe checks it per browser).
    data = corpus.cmyk_jpeg()
    ref = corpus.reference(data)
    result = fp.fingerprint(data, "cmyk.jpg")["result"]
    if result["exact"]:
        assert differences(result, ref) == {}
    else:
        assert any("CMYK" in w for w in result["warnings"])
    assert result["md5"] == ref.md5
    assert corpus.hamming(result["pdq"], ref.pdq) <= 10


def test_lossy_webp_is_exact_or_says_so(fp):
    data = corpus.lossy_webp()
    ref = corpus.reference(data)
    result = fp.fingerprint(data, "photo.webp")["result"]
    if result["exact"]:
        assert differences(result, ref) == {}
    else:
        assert result["warnings"]
    assert corpus.hamming(result["pdq"], ref.pdq) <= 10
