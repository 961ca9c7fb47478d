"""Nothing but fingerprints leaves the browser. Every request of the whole journey (page,
workers, downloads) is recorded; none carries a file's bytes, its name or its EXIF, and every
body sent is either a small form or the fingerprint JSON with nothing else in it."""

from __future__ import annotations

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


def test_only_fingerprints_leave_the_browser(live_server, browser, tmp_path, transactional_db):
    files = make_photos(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests = []
    context.on("request", lambda request: requests.append(request))  # the page's, its workers' and downloads'
    try:
        run = run_journey(context.new_page(), live_server.url, files)
    finally:
        context.close()

    assert run.reference and len(requests) > 20
    # The recording includes the fingerprinting worker's own requests.
    assert any("/fingerprint/worker" in r.url for r in requests)
    bodies = []
    for request in requests:
        url = unquote(request.url)
        body = request.post_data_buffer or b""
        for f in files:
            for needle in (f.name, f.path.stem, f.path.name.split("-IMG_")[1]):
                assert needle not in url and needle.encode() not in body, (needle, request.url)
        assert EXIF_MARKER not in url and EXIF_MARKER.encode() not in body
        assert b"MarkerCam" not in body and b"private description" not in body
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
