"""The survivor journey end to end, as a new person would take it, on real photographs:
eligibility, choosing three files, fingerprinting, submitting, the receipt, opening the case,
adding a file, withdrawing one, and the withdrawal reaching the partner feed as tombstones.
Every page passes axe-core (WCAG 2.2 AA) and runs under the strict CSP without errors."""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import pytest

from hashbank import jobs
from hashbank.feed.pages import page_signed
from hashbank.models import CaseFile, Fingerprint
from hashbank.selectors import case_open
from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import make_photos, run_journey

pytestmark = pytest.mark.browser


def test_the_whole_journey_on_real_photographs(live_server, recorded_page, tmp_path, transactional_db):
    page = recorded_page.page
    files = make_photos(tmp_path)
    checked = []

    def check(page, label):
        assert_no_axe_violations(page, label)
        # The strict CSP holds because there is nothing inline to allow.
        assert page.evaluate("document.querySelectorAll('script:not([src]), [style]').length") == 0, label
        text = page.inner_text("body")
        assert "{#" not in text and "{%" not in text and "%(" not in text, label  # no template or format leaks
        checked.append(label)

    documents = []
    page.on("response", lambda r: documents.append(r) if r.request.resource_type == "document" else None)

    run = run_journey(page, live_server.url, files, check=check)

    # The receipt: a reference in groups that can be read aloud, a PIN, saved as text on the device.
    assert len(run.reference.replace("-", "")) == 16 and run.reference.count("-") == 3
    assert run.pin.isdigit() and len(run.pin) == 6
    assert run.reference in run.saved_text and run.pin in run.saved_text
    assert "cannot be recovered" in run.saved_text

    # The status page shows what happened, in order.
    html = page.content()
    assert "We received the fingerprints of 3 files." in html
    assert "You added the fingerprints of 1 more file." in html
    assert "You withdrew one file." in html

    case = case_open(reference=run.reference, pin=run.pin)
    assert case is not None
    case_files = list(CaseFile.objects.filter(case=case).order_by("added_at", "pk"))
    assert [f.status for f in case_files] == ["withdrawn", "active", "active", "active"]
    # Photos give PDQ (with its rotations), phash, dhash, ahash, md5 and sha256.
    types = set(Fingerprint.objects.filter(case_file=case_files[1]).values_list("signal_type", flat=True))
    assert {"pdq", "phash", "dhash", "ahash", "md5", "sha256"} <= types

    # What a partner reads: tombstones for exactly the withdrawn file's fingerprints.
    jobs.feed_publish()
    entries = json.loads(page_signed(cursor=0, limit=1000).body)["entries"]
    tombstones = {e["id"] for e in entries if e["op"] == "withdraw"}
    withdrawn = set(Fingerprint.objects.filter(case_file=case_files[0]).values_list("public_id", flat=True))
    assert withdrawn and tombstones == withdrawn
    assert all(e.get("case") != run.reference for e in entries)
    assert all(set(e) == {"position", "op", "id", "time"} for e in entries if e["op"] == "withdraw")

    # Under the strict CSP: no errors, nothing from another origin, every page checked by axe.
    failed = [(r.url, r.response().status) for r in recorded_page.requests
              if r.response() is not None and r.response().status >= 400]
    assert failed == []
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
    origin = urlsplit(live_server.url).netloc
    assert [r.url for r in recorded_page.requests if urlsplit(r.url).netloc not in {origin, ""}
            and not r.url.startswith(("blob:", "data:"))] == []
    assert len(checked) >= 10

    # Every page carries the strict CSP; every page about a case (and the receipt) is no-store.
    assert documents
    for response in documents:
        headers = response.headers
        if response.status != 200:
            continue
        assert "script-src 'self'" in headers.get("content-security-policy", ""), response.url
        path = urlsplit(response.url).path
        if path.startswith(("/case", "/start")):
            assert "no-store" in headers.get("cache-control", ""), response.url
    api = [r for r in recorded_page.requests if r.url.endswith(("/api/survivor/cases", "/api/survivor/case/files"))]
    assert len(api) == 2 and all("no-store" in r.response().headers.get("cache-control", "") for r in api)


@pytest.mark.parametrize("width,height,prefix", [(375, 812, "phone-"), (1280, 900, "desktop-")])
def test_screenshots_of_each_step(live_server, browser, tmp_path, transactional_db, width, height, prefix):
    """Screenshots of every step at phone and desktop widths. They go to a temporary folder;
    with JOURNEY_SCREENSHOTS=1 they refresh docs/journey/ (commit the result)."""
    from tests.browser.axe import ROOT

    shots = ROOT / "docs" / "journey" if os.environ.get("JOURNEY_SCREENSHOTS") else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        run_journey(context.new_page(), live_server.url, make_photos(tmp_path), shots=shots, prefix=prefix)
    finally:
        context.close()
    images = sorted(shots.glob(f"{prefix}*.png"))
    assert len(images) == 10
    # Small enough to keep in the repository: a reduced palette, no photograph-sized files.
    assert all(image.stat().st_size < 150_000 for image in images), [(i.name, i.stat().st_size) for i in images]
