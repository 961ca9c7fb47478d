"""The JavaScript conformance vectors (tests/js/vectors/) must still be what the references say.

tests/js/*.test.mjs compare our browser code with the expected values committed in the vector
files. Those values were produced by pdqhash / imagehash / Pillow / scipy when the vectors were
generated; if a pinned dependency changes, the committed values could silently go stale and the
JS tests would keep passing against an old truth. This test recomputes every expected value
with the references installed here and compares.

To regenerate after a deliberate dependency change: python tests/vectors/make_vectors.py
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "js" / "vectors"
DCT_JS = ROOT / "static" / "fingerprint" / "dct.js"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_vectors", ROOT / "tests" / "vectors" / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mv = _load_generator()


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


FINGERPRINTS = _load("fingerprints.json")
RESIZE = _load("resize.json")
DCT = _load("dct.json")


def test_versions_recorded_are_the_pinned_ones():
    for payload in (FINGERPRINTS, RESIZE, DCT):
        versions = payload["versions"]
        assert versions["Pillow"] == Image.__version__ == "13.0.0"
        assert versions["imagehash"] == imagehash.__version__
        assert versions["pdqhash"] == pdqhash.__version__
        assert versions["numpy"] == np.__version__


def test_vector_files_stay_small():
    total = sum(p.stat().st_size for p in VECTORS.glob("*.json"))
    assert total < 3_000_000, total


@pytest.mark.parametrize("case", FINGERPRINTS["cases"], ids=lambda c: c["name"])
def test_fingerprint_vector_is_fresh(case):
    rgba = mv.unpack_pixels(case["rgba_sub_zlib_b64"], (case["height"], case["width"], 4))
    assert mv.pack_pixels(rgba) == case["rgba_sub_zlib_b64"]  # the pixel codec round-trips
    recomputed = mv.reference_fingerprints(rgba)
    assert recomputed == case["expected"]
    # The pass-order annotations used by the JS tests follow Pillow 13's rule.
    w, h = case["width"], case["height"]
    assert case["pillow13_vertical_first"] == {
        "phash": mv.pillow13_vertical_first(w, h, 32, 32),
        "dhash": mv.pillow13_vertical_first(w, h, 9, 8),
        "ahash": mv.pillow13_vertical_first(w, h, 8, 8),
    }


def test_fingerprint_expectations_are_not_trivial():
    """Guard against a generator bug that would make every case the same."""
    expected = [c["expected"] for c in FINGERPRINTS["cases"]]
    assert len({e["pdq"] for e in expected}) > 40
    assert len({e["phash"] for e in expected}) > 40
    assert any(e["pdq_quality"] == 100 for e in expected)
    assert any(0 < e["pdq_quality"] < 100 for e in expected)


@pytest.mark.parametrize("case", RESIZE["cases"], ids=lambda c: c["name"])
def test_resize_vector_is_fresh(case):
    gray = mv.unpack_pixels(case["gray_sub_zlib_b64"], (case["height"], case["width"]))
    out = mv.reference_resize(gray, (case["out_width"], case["out_height"]))
    expected = mv.unpack(case["expected_zlib_b64"], (case["out_height"], case["out_width"]))
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("case", DCT["cases"], ids=lambda c: c["name"])
def test_dct_vector_is_fresh(case):
    block = mv.unpack(case["input_zlib_b64"], (32, 32))
    expected = mv.unpack(case["expected_f64le_zlib_b64"], (32, 32), dtype="<f8")
    out = mv.reference_dct(block)
    # compare the bits, so that -0.0 and 0.0 count as different
    assert out.astype("<f8").tobytes() == expected.tobytes()


def test_dct_js_twiddle_literals_match_pocketfft():
    """dct.js embeds pocketfft's twiddles as literals; recompute them the pocketfft way."""
    source = DCT_JS.read_text()
    block = source[source.index("// BEGIN TWIDDLES") : source.index("// END TWIDDLES")]
    for name, values in mv.dct32_twiddles().items():
        match = re.search(rf"const {name} = new Float64Array\(\[(.*?)\]\);", block, re.S)
        assert match, name
        literals = [float(x) for x in match.group(1).replace("\n", " ").split(",") if x.strip()]
        assert len(literals) == len(values), name
        for got, want in zip(literals, values, strict=True):
            assert got.hex() == float(want).hex(), (name, got, want)
