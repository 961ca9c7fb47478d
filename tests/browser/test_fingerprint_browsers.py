"""The conformance suite on real files in three browser engines: Chromium, Firefox ESR and
WebKitGTK (all Debian's builds; see docs/fingerprints.md, "Browsers tested").

Every file of the corpus (tests/browser/fingerprint_corpus.py: PNG of every kind, GIF, WebP,
BMP, baseline, progressive, EXIF-rotated, grey and CMYK JPEG, photographs tagged with a
Display P3 colour profile as phones write them, HEIC of 8, 10 and 12 bits, with alpha, grey,
turned and mirrored) is fingerprinted by the page's real worker in
each browser, and compared with what pdqhash and imagehash compute on Pillow's pixels:
- the engine that ran (WebAssembly in all three);
- the `exact` flag: what this table expects, where INEXACT gives the files that no browser can
  fingerprint exactly and why;
- wherever `exact` is claimed, every fingerprint identical to the reference, bit for bit. A
  silently different fingerprint is the worst defect: that check comes first.
Under CI=true a missing browser fails the run; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from django.core.signals import request_started
from PIL import Image

from tests.browser import fingerprint_corpus as corpus
from tests.browser.fingerprint_page import DECODE, FingerprintPage, RemoteFingerprintPage

# django_db: the test database exists for the live server (each test's own transaction,
# which writes nothing, is rolled back: no flush as a `live_server` test would get).
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

BROWSERS = ("chromium", "firefox", "webkit")
FIELDS = ["pdq", "pdq_quality", "pdq_dihedral", "phash", "dhash", "ahash", "md5", "sha256", "width", "height"]


def conformance_files(icc: dict[str, bytes]) -> dict[str, bytes]:
    files = dict(corpus.lossless_files())
    files.update({name: data for name, (data, _quality) in corpus.jpeg_files().items()})
    files["coffee-cmyk-q92.jpg"] = corpus.cmyk_jpeg()
    files["astronaut-q90.webp"] = corpus.lossy_webp()
    files.update(icc)
    files["chelsea-alpha-q90.webp"] = corpus.transparent_lossy_webp()
    # WebP's EXIF orientation: no engine here applies it (the orientation rule holds).
    exif = Image.Exif()
    exif[0x0112] = 6
    files["coffee-exif6-q90.webp"] = corpus.encode(corpus.photo("coffee.png"), "WEBP", quality=90, exif=exif.tobytes())
    # HEIC of every kind, decoded by the vendored libheif as pillow-heif decodes it.
    files.update(corpus.heif_files())
    return files


ICC = corpus.icc_files()
FILES = conformance_files(ICC)
ICC_FILES = sorted(ICC)

#: Files that are correctly reported inexact in every browser, with the reason the warning gives.
INEXACT = {
    "chelsea-alpha-q90.webp": "transparency",  # the canvas premultiplies alpha: see-through colours are lost
    # libheif 1.23.2 (the browser's) and 1.23.6 (pillow-heif's) differ on odd sides turned.
    "chelsea-exif3.heic": "odd size",
}


@pytest.fixture(scope="module", params=BROWSERS)
def engine_page(request, browser, django_db_setup, django_db_blocker):
    """One page of the live site per browser, reused by the module's tests (as a person
    fingerprints a batch), with a record of every request this site's server received.

    The server is asked for here, not named by the tests, so they do not take pytest-django's
    per-test database flush; the database is opened for the home page, which reads the
    (empty) partner list. Chromium (`browser`) is started before the test database even for
    the other two: started later, Playwright's sync API leaves the connection that built the
    database open in another context, and the database cannot be dropped at the end (seen)."""
    live_server = request.getfixturevalue("live_server")
    served: list[tuple[str, str, int]] = []

    def record(sender, environ, **kwargs):
        served.append((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                       int(environ.get("CONTENT_LENGTH") or 0)))

    request_started.connect(record)
    try:
        if request.param == "chromium":
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            try:
                with django_db_blocker.unblock():
                    page = FingerprintPage(context.new_page(), live_server.url)
                page.served = served  # Playwright's own record of the page and its workers is checked
                yield request.param, page
            finally:
                context.close()
        else:
            remote = request.getfixturevalue(request.param)
            remote.take_errors()
            with django_db_blocker.unblock():
                page = RemoteFingerprintPage(remote, live_server.url, served)
            yield request.param, page
    finally:
        request_started.disconnect(record)


@pytest.fixture
def in_browser(engine_page):
    name, page = engine_page
    yield name, page
    # Nothing may have failed in the page, and nothing about a file may have left it. Each
    # test checks what happened since the previous one.
    errors, sent = list(page.errors), page.sent_anything()
    page.errors.clear()
    page.requests.clear()
    page.served.clear()
    assert errors == []
    assert sent == []


def differences(result: dict, ref: corpus.Reference) -> dict:
    return {f: (result[f], getattr(ref, f)) for f in FIELDS if result[f] != getattr(ref, f)}


def pixel_report(page, data: bytes, ref: corpus.Reference) -> str:
    decoded = page.decode(data)
    if not decoded.get("ok"):
        return f"decode failed: {decoded}"
    got, want = decoded["rgb"], ref.rgb
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    diff = got.astype(int) - want.astype(int)
    return (f"{int((np.abs(diff).max(axis=2) > 0).sum())} pixels differ, max {int(np.abs(diff).max())}, "
            f"mean per channel {np.round(diff.mean(axis=(0, 1)), 2).tolist()}")


@pytest.mark.parametrize("name", sorted(FILES))
def test_file_is_fingerprinted_exactly_or_says_so(in_browser, name):
    browser, page = in_browser
    data = FILES[name]
    ref = corpus.reference(data)
    out = page.fingerprint(data, name)
    assert out["ok"], out
    result = out["result"]
    if result["exact"]:
        diff = differences(result, ref)
        assert diff == {}, f"{browser} claims exact but differs on {name}: {diff}; {pixel_report(page, data, ref)}"
    assert result["timings"]["engine"] == "wasm", f"{browser} did not run the WebAssembly engine"
    assert result["md5"] == ref.md5 and result["sha256"] == ref.sha256
    if name in INEXACT:
        assert result["exact"] is False
        assert any(INEXACT[name] in w for w in result["warnings"]), result["warnings"]
        assert corpus.hamming(result["pdq"], ref.pdq) <= 31  # still a match for PDQ's threshold
    else:
        assert result["exact"] is True, f"{browser} on {name}: {result['warnings']}; {pixel_report(page, data, ref)}"


@pytest.mark.parametrize("name", ICC_FILES)
def test_colour_profiles_are_not_applied(in_browser, name):
    # The stored pixels, as Pillow gives them, not the colours converted from Display P3.
    browser, page = in_browser
    data = FILES[name]
    ref = corpus.reference(data)
    decoded = page.decode(data)
    assert decoded["ok"], decoded
    assert decoded["exact"] is True, decoded["warnings"]
    assert np.array_equal(decoded["rgb"], ref.rgb), f"{browser}: {pixel_report(page, data, ref)}"


def test_every_start_up_probe_passes(in_browser):
    # What each engine's own decoders reproduce: all of it, in all three browsers.
    browser, page = in_browser
    probe = page.page.evaluate(
        """async (url) => { const { probeBrowser } = await import(url); return await probeBrowser(); }""", DECODE)
    assert probe == {"faithful": True, "canvas": True,
                     "exact": {"jpeg": True, "cmyk": True, "webp": True, "jpegIcc": True, "webpIcc": True}}, browser


# A browser that still changes colours once the profile is gone, when the EXIF says the
# colour space is 'uncalibrated' (as phones write beside Display P3): red up by 12 levels.
# The tag as Pillow writes it (big-endian): 0xA001, SHORT, count 1, value 0xFFFF.
_CONVERTING_BROWSER = """async ([url, photo, plain]) => {
  const original = self.createImageBitmap;
  const tag = [0xa0, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff];
  const has = (b) => b.some((_, i) => tag.every((t, k) => b[i + k] === t));
  self.createImageBitmap = async (source, options) => {
    const bitmap = await original(source, options);
    if (!(source instanceof Blob) || !has(new Uint8Array(await source.arrayBuffer()))) return bitmap;
    const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    const img = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    for (let i = 0; i < img.data.length; i += 4) img.data[i] = Math.min(255, img.data[i] + 12);
    return original(img, options);
  };
  const { decodeImage, probeBrowser } = await import(url);
  const seen = (d) => ({ exact: d.exact, warnings: d.warnings });
  return { probe: (await probeBrowser()).exact, photo: seen(await decodeImage(window.__fpBytes(photo))),
           plain: seen(await decodeImage(window.__fpBytes(plain))) };
}"""


def test_a_browser_that_still_converts_colours_is_flagged_inexact(fp):
    photo = FILES["astronaut-p3-q90.jpg"]  # Display P3 profile and 'uncalibrated' EXIF, as a phone writes
    assert b"\xa0\x01\x00\x03\x00\x00\x00\x01\xff\xff" in photo
    plain = FILES["astronaut-q90.jpg"]
    out = fp.page.evaluate(_CONVERTING_BROWSER, [DECODE, base64.b64encode(photo).decode(),
                                                 base64.b64encode(plain).decode()])
    # Only the probe with a profile notices: it is what keeps the photo from claiming exact.
    assert out["probe"]["jpeg"] is True and out["probe"]["jpegIcc"] is False
    assert out["photo"]["exact"] is False
    assert any("colour profile" in w for w in out["photo"]["warnings"]), out["photo"]["warnings"]
    assert out["plain"] == {"exact": True, "warnings": []}


def test_the_profile_probe_would_catch_a_converting_browser():
    """The probe's stored pixels are known, and a browser that applied its profile would see
    others: the probe can fail. (Checked with lcms2 through Pillow, no browser needed.)"""
    for name, probe in _embedded_probes().items():
        with Image.open(io.BytesIO(probe["bytes"])) as im:
            assert im.info.get("icc_profile") == corpus.icc_profile(), name
            stored = np.asarray(im.convert("RGB"))
            assert _fnv_rgb(stored) == probe["fnv"], name
            converted = corpus.as_if_profile_applied(im, im.info["icc_profile"])
        assert _fnv_rgb(converted) != probe["fnv"]
        assert int(np.abs(converted.astype(int) - stored.astype(int)).max()) >= 8, name


def _fnv_rgb(rgb: np.ndarray) -> int:
    h = 0x811C9DC5
    for v in rgb.reshape(-1).tolist():
        h = ((h ^ v) * 0x01000193) & 0xFFFFFFFF
    return h


def _embedded_probes() -> dict[str, dict]:
    """The profile probes as decode.js embeds them (base64 and FNV-1a of the RGB bytes)."""
    import re

    from tests.conftest import ROOT

    source = (ROOT / "static" / "fingerprint" / "decode.js").read_text()
    probes = {}
    for name in ("jpegIcc", "webpIcc"):
        block = re.search(name + r": \{(.*?)\n  \},", source, re.S)
        assert block, name
        fnv = int(re.search(r"fnv: (0x[0-9a-f]+)", block[1])[1], 16)
        b64 = re.search(r"b64: '([^']+)'", block[1])[1]
        probes[name] = {"fnv": fnv, "bytes": base64.b64decode(b64)}
    return probes
