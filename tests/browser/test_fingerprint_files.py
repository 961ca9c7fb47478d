"""fingerprintFile / fingerprintFiles in a real page: videos get exact fingerprints streamed in
chunks, unreadable files get kind messages, work can be cancelled, batches report progress,
and a browser that adds noise to image data is refused. Nothing is ever sent."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.browser import fingerprint_corpus as corpus
from tests.browser.fingerprint_page import DECODE, FINGERPRINT

pytestmark = pytest.mark.browser


def fake_mp4(size: int) -> bytes:
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    return head + os.urandom(size - len(head))


def test_video_gets_exact_fingerprints_only_streamed_in_chunks(fp):
    data = fake_mp4(9 * 1024 * 1024 + 123)
    out = fp.fingerprint(data, "clip.mp4", "video/mp4")
    assert out["ok"], out
    result = out["result"]
    assert result["kind"] == "video" and result["exact"] is True
    assert result["md5"] == hashlib.md5(data).hexdigest()
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["pdq"] is None and result["phash"] is None
    assert {"type": "video_md5", "value": result["md5"]} in result["signals"]
    assert any("vPDQ" in w for w in result["warnings"])
    reading = [p["loaded"] for p in out["progress"] if p["stage"] == "reading"]
    # Read in 4 MiB pieces: three progress steps, growing, ending at the size.
    assert reading == sorted(reading) and len(reading) == 3 and reading[-1] == len(data)
    assert out["progress"][-1]["fraction"] == 1


@pytest.mark.parametrize(
    ("name", "data", "code", "words"),
    [
        ("empty.jpg", b"", "empty", "empty"),
        ("notes.txt", b"just some words, not a picture" * 10, "unsupported", "cannot be fingerprinted"),
        ("broken.png", corpus.encode(corpus.photo("coffee.png"), "PNG")[:5000], "corrupt", "damaged"),
        ("broken.jpg", b"\xff\xd8\xff\xe0" + os.urandom(3000), "corrupt", "damaged"),
        # A HEIC header and nothing else: libheif refuses it (HEIC itself is decoded everywhere).
        ("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100), "corrupt", "damaged"),
        ("huge.png", corpus.write_png(corpus.np.zeros((1, 1), corpus.np.uint8), 0, 8).replace(
            b"\x00\x00\x00\x01\x00\x00\x00\x01", b"\x00\x00\xc3\x50\x00\x00\xc3\x50", 1), "too-large", "too large"),
    ],
)
def test_unreadable_files_get_a_kind_message(fp, name, data, code, words):
    out = fp.fingerprint(data, name)
    assert out["ok"] is False
    assert out["code"] == code, out
    assert words in out["message"]


def test_cancelling_stops_the_work_and_the_next_file_still_works(fp):
    out = fp.page.evaluate(
        """async (url) => {
            const { fingerprintFile } = await import(url);
            const chunk = new Uint8Array(4 * 1024 * 1024);
            chunk.set([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]);
            const big = new File(Array(48).fill(chunk), 'long.mp4');  // 192 MB, never copied whole
            const controller = new AbortController();
            let seen = 0;
            const started = performance.now();
            let error = null;
            try {
              const onProgress = () => { if (++seen === 2) controller.abort(); };
              await fingerprintFile(big, { signal: controller.signal, onProgress });
            } catch (e) { error = { name: e.name, code: e.code }; }
            const after = await fingerprintFile(new File([chunk.subarray(0, 1000)], 'small.mp4'));
            return { error, seen, ms: performance.now() - started, after: after.md5 };
        }""",
        FINGERPRINT,
    )
    assert out["error"] == {"name": "AbortError", "code": "cancelled"}
    assert out["seen"] == 2
    data = bytes([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6F, 0x6D]) + bytes(988)
    assert out["after"] == hashlib.md5(data).hexdigest()


def test_batch_reports_each_file_and_overall_progress(fp):
    good = corpus.encode(corpus.photo("chelsea.png"), "JPEG", quality=90)
    out = fp.page.evaluate(
        """async ([url, b64]) => {
            const { fingerprintFiles } = await import(url);
            const files = [new File([window.__fpBytes(b64)], 'a.jpg'), new File([new Uint8Array(10)], 'b.bin'),
                           new File([window.__fpBytes(b64)], 'c.jpg')];
            const events = [];
            const onProgress = (p) => events.push([p.index, p.stage, p.overall, p.done]);
            const outcomes = await fingerprintFiles(files, { onProgress });
            return { outcomes: outcomes.map((o) => ({ index: o.index, ok: o.ok, code: o.error && o.error.code,
                                                     pdq: o.result && o.result.pdq })), events };
        }""",
        [FINGERPRINT, base64.b64encode(good).decode()],
    )
    ref = corpus.reference(good)
    assert out["outcomes"] == [
        {"index": 0, "ok": True, "code": None, "pdq": ref.pdq},
        {"index": 1, "ok": False, "code": "unsupported", "pdq": None},
        {"index": 2, "ok": True, "code": None, "pdq": ref.pdq},
    ]
    overall = [e[2] for e in out["events"]]
    assert overall == sorted(overall) and overall[-1] == 1
    assert {e[0] for e in out["events"]} == {0, 1, 2}
    assert out["events"][-1][3] == 3


def test_a_browser_that_alters_image_data_is_refused(fp):
    # Simulate anti-fingerprinting noise (as Brave or Firefox's resistFingerprinting add) on
    # canvas reads in this page, then decode here: the canary must catch it.
    out = fp.page.evaluate(
        """async ([url, b64]) => {
            const original = OffscreenCanvasRenderingContext2D.prototype.getImageData;
            OffscreenCanvasRenderingContext2D.prototype.getImageData = function (...args) {
              const img = original.apply(this, args);
              img.data[0] ^= 1;
              return img;
            };
            const { decodeImage } = await import(url);
            try { await decodeImage(window.__fpBytes(b64)); return { ok: true }; }
            catch (e) { return { ok: false, code: e.code, message: e.message }; }
        }""",
        [DECODE, base64.b64encode(corpus.encode(corpus.photo("chelsea.png"), "JPEG")).decode()],
    )
    assert out["ok"] is False and out["code"] == "canvas-noise"
    assert "changes image data" in out["message"]
