"""Where WebAssembly is off, the JavaScript engine hashes one image with two workers (worker.js
+ its nested helper.js) on devices with two cores: the fingerprints are the references' bit
for bit whichever way the work is split, and cancelling in the middle of hashing stops the
work and leaves the next file working. (The default WebAssembly engine runs on one thread:
test_fingerprint_engines.py.)"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from tests.browser import fingerprint_corpus as corpus
from tests.browser.fingerprint_page import FINGERPRINT

pytestmark = pytest.mark.browser

FIELDS = ("pdq", "pdq_quality", "pdq_dihedral", "phash", "dhash", "ahash", "md5", "sha256", "width", "height")

RUN = """async ([url, b64, threads]) => {
  const { fingerprintFile } = await import(url);
  const file = new File([window.__fpBytes(b64)], 'photo');
  const r = await fingerprintFile(file, threads ? { threads, engine: 'js' } : { engine: 'js' });
  return { result: r, cores: navigator.hardwareConcurrency };
}"""


def _expected(data: bytes) -> dict:
    ref = corpus.reference(data)
    return {f: getattr(ref, f) for f in FIELDS}


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(lambda: corpus.photo("astronaut.png"), id="square"),
        # Portrait: Pillow 13 resizes vertically first for phash/ahash, the other share type.
        pytest.param(lambda: corpus.photo("chelsea.png").transpose(Image.Transpose.ROTATE_90), id="portrait"),
        pytest.param(lambda: corpus.photo("coffee.png").resize((1500, 280)), id="wide"),
    ],
)
def test_two_threads_give_the_references_bit_for_bit(fp, image):
    data = corpus.encode(image(), "PNG")
    expected = _expected(data)
    b64 = base64.b64encode(data).decode()
    default = fp.page.evaluate(RUN, [FINGERPRINT, b64, None])
    one = fp.page.evaluate(RUN, [FINGERPRINT, b64, 1])
    two = fp.page.evaluate(RUN, [FINGERPRINT, b64, 2])
    assert two["result"]["timings"]["threads"] == 2
    assert one["result"]["timings"]["threads"] == 1
    assert {out["result"]["timings"]["engine"] for out in (default, one, two)} == {"js"}
    if default["cores"] >= 2:
        assert default["result"]["timings"]["threads"] == 2
    for out in (default, one, two):
        assert {f: out["result"][f] for f in FIELDS} == expected
        assert out["result"]["signals"] == two["result"]["signals"]


def test_small_images_stay_on_one_thread(fp):
    data = corpus.encode(corpus.photo("astronaut.png").resize((100, 80)), "PNG")
    out = fp.page.evaluate(RUN, [FINGERPRINT, base64.b64encode(data).decode(), 2])
    assert out["result"]["timings"]["threads"] == 1
    assert out["result"]["pdq"] == corpus.reference(data).pdq


def test_cancelling_while_hashing_stops_and_the_next_file_works(fp):
    rng = np.random.default_rng(3)
    big = Image.fromarray(rng.integers(0, 256, (2400, 3200, 3), dtype=np.uint8))
    big_png = corpus.encode(big, "PNG", compress_level=1)
    small = corpus.encode(corpus.photo("coffee.png"), "PNG")
    out = fp.cancel_while_hashing(big_png, small, {"threads": 2, "engine": "js"})
    assert out["error"] == {"name": "AbortError", "code": "cancelled"}
    assert "hashing" in out["stages"]
    assert out["after"] == corpus.reference(small).pdq
    assert out["afterThreads"] == 2
