"""Nothing but fingerprints leaves the browser. Every request of the whole journey (page,
workers, downloads) is recorded; none carries a file's bytes, its name or its EXIF, and every
body sent is either a small form or the fingerprint JSON with nothing else in it.

The journey ticks "Add file names and tiny blurred pictures to my receipt" on the receipt and
after adding a file: the names and pictures are shown, yet no name, no picture's bytes and no
data: URL appears in any request's URL, headers or body."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, unquote

import pytest

from tests.browser.journey import EXIF_MARKER, make_photos, run_journey

pytestmark = pytest.mark.browser

#: Every form on the journey, and the fields each may send.
FORM_FIELDS = {"csrfmiddlewaretoken", "age", "pictured", "consent", "reference", "pin", "language", "next"}
WINDOW = 24  # bytes: any run of a file's bytes this long in a request would be a leak


def file_windows(data: bytes) -> list[bytes]:
    """Runs of the file's bytes, taken across the whole file (header, EXIF, image data)."""
    step = max(1, len(data) // 2000)
    return [data[i : i + WINDOW] for i in range(0, len(data) - WINDOW, step)]


def picture_windows(thumbnail: dict) -> list[bytes]:
    """Runs of a receipt picture's bytes: its raw pixels and its PNG encoding, and the base64
    text of that PNG (how a data: URL would carry it)."""
    png_text = thumbnail["png"].split(",", 1)[1]
    runs = [png_text[i : i + WINDOW].encode() for i in range(0, len(png_text) - WINDOW, WINDOW // 2)]
    for data in (base64.b64decode(thumbnail["rgba"]), base64.b64decode(png_text)):
        runs += [w for w in file_windows(data) if len(set(w)) > 2]  # not a run of one flat colour
    return runs


def test_only_fingerprints_leave_the_browser(live_server, browser, tmp_path, transactional_db):
    files = make_photos(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests = []
    context.on("request", lambda request: requests.append(request))  # the page's, its workers' and downloads'
    try:
        run = run_journey(context.new_page(), live_server.url, files, receipt_files=True)
        # Every header the browser sent (cookies too), read while the requests are still known.
        headers = {id(r): r.all_headers() for r in requests if not r.url.startswith(("blob:", "data:"))}
    finally:
        context.close()

    assert run.reference and len(requests) > 20
    # The recording includes the fingerprinting worker's own requests.
    assert any("/fingerprint/worker" in r.url for r in requests)
    # The names and pictures were on the page: three on the receipt, one after adding.
    assert [line.split(" ", 2)[:2] for line in run.listed] == [["File", "1"], ["File", "2"], ["File", "3"],
                                                              ["File", "4"]]
    assert all(f.name in line for f, line in zip(files, run.listed, strict=True))
    assert len(run.thumbnails) == 4 and all(t["png"].startswith("data:image/png;base64,") for t in run.thumbnails)
    pictures = [w for t in run.thumbnails for w in picture_windows(t)]
    assert len(pictures) > 100
    bodies = []
    for request in requests:
        url = unquote(request.url)
        body = request.post_data_buffer or b""
        sent_headers = "\n".join(f"{k}: {v}" for k, v in headers.get(id(request), request.headers).items())
        for f in files:
            for needle in (f.name, f.path.stem, f.path.name.split("-IMG_")[1]):
                assert needle not in url and needle.encode() not in body, (needle, request.url)
                assert needle not in unquote(sent_headers), (needle, request.url)
        assert EXIF_MARKER not in url and EXIF_MARKER.encode() not in body
        assert b"MarkerCam" not in body and b"private description" not in body
        # No picture travels as a data: URL, nor its bytes in any form.
        assert not url.startswith("data:") and "data:image" not in url and "data:image" not in sent_headers
        assert b"data:image" not in body and b"data%3Aimage" not in body, request.url
        assert [w for w in pictures if w in body or w.decode("latin-1") in sent_headers] == [], request.url
        if body:
            bodies.append((request, body))

    windows = [w for f in files for w in file_windows(f.data)]
    for request, body in bodies:
        assert len(body) < 16_000, (request.url, len(body))  # nothing the size of a photo
        leaked = [w for w in windows if w in body]
        assert leaked == [], (request.url, leaked[:3])

    json_bodies = []
    for request, body in bodies:
        content_type = (request.headers.get("content-type") or "").split(";")[0]
        if content_type == "application/json":
            json_bodies.append(json.loads(body))
        else:
            assert content_type == "application/x-www-form-urlencoded", (request.url, content_type)
            assert set(parse_qs(body.decode())) <= FORM_FIELDS, (request.url, body[:200])

    # Two submissions: three files, then one more. Each holds fingerprints and a count only.
    assert [b["count"] for b in json_bodies] == [3, 1]
    for body in json_bodies:
        assert set(body) == {"count", "files"} and len(body["files"]) == body["count"]
        for item in body["files"]:
            assert set(item) == {"fingerprints"}
            for fp in item["fingerprints"]:
                assert set(fp) <= {"signal_type", "value", "quality"}
                assert fp["signal_type"] in {"pdq", "phash", "dhash", "ahash", "md5", "sha256", "video_md5"}
                assert all(c in "0123456789abcdef" for c in fp["value"])
