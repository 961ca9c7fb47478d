"""The whole arc of delivery, as a survivor sees it (issue 14): submit on the device; no partner
yet ("not yet fetched"); a partner syncs over HTTP, verifying every page (1 of 1, with the
time); a second partner joins (1 of 2); withdraw a file; one partner syncs (the withdrawal 1
of 2); the other syncs (2 of 2); a match report shows in plain words. At every state the
status page is checked with axe at 360 and 1280 px in every language, and the Arabic page
runs right to left."""

from __future__ import annotations

import json
import re
import secrets
import urllib.request

import pytest
from django.conf import settings

from hashbank.feed.publish import publish_pending
from hashbank.feedformat import FeedVerifier
from hashbank.services import partner_create, partner_key_issue
from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import make_photos, no_horizontal_scroll

pytestmark = pytest.mark.browser

LANGUAGES = [code for code, _ in settings.LANGUAGES]
WIDTHS = (360, 1280)


class Platform:
    """A partner platform following the feed over HTTP with its own key, as the CLI does."""

    def __init__(self, base_url: str, name: str) -> None:
        self.base_url = base_url
        self.secret = partner_key_issue(partner=partner_create(name=name)).secret
        keys = json.loads(self._get("/api/v1/keys")[0])
        self.verifier = FeedVerifier({k["kid"]: k["public_key"] for k in keys["keys"]})
        self.entries: list[dict] = []

    def _get(self, path: str) -> tuple[bytes, dict[str, str]]:
        request = urllib.request.Request(self.base_url + path, headers={"Authorization": f"Bearer {self.secret}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read(), dict(response.headers)

    def sync(self) -> None:
        body, headers = self._get("/api/v1/checkpoint")
        self.verifier.accept_checkpoint(body, headers["Feed-Key-Id"], headers["Feed-Signature"])
        while True:
            body, headers = self._get(f"/api/v1/feed?cursor={self.verifier.position}&limit=1000")
            page = self.verifier.accept_page(body, headers["Feed-Key-Id"], headers["Feed-Signature"])
            self.entries.extend(page.entries)
            if not page.more:
                return

    def report_blocked(self, fingerprint_id: str) -> None:
        body = json.dumps({"feedback": [{"id": fingerprint_id, "outcome": "blocked",
                                         "idempotency_key": secrets.token_hex(8)}]}).encode()
        request = urllib.request.Request(self.base_url + "/api/v1/feedback", data=body, method="POST", headers={
            "Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200


def submit_two_files(page, base_url: str, tmp_path) -> tuple[str, str]:
    """The survivor's own steps: the questions, two photos fingerprinted on the device, sent."""
    page.goto(base_url + "/start/")
    page.get_by_label("18 or over").check()
    page.get_by_label("I am the person in the images").check()
    page.get_by_label("I agree that fingerprints").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/start/files/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    page.locator("[data-flow-input]").set_input_files([f.path for f in make_photos(tmp_path, count=2)])
    page.get_by_role("button", name="Make fingerprints").click()
    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=60_000)
    page.get_by_role("button", name="Send fingerprints").click()
    page.locator('[data-flow-step="receipt"]:not([hidden])').wait_for()
    reference = page.locator("[data-receipt-reference]").inner_text().strip()
    pin = page.locator("[data-receipt-pin]").inner_text().strip()
    page.goto(base_url + "/case/")
    page.get_by_label("Case number").fill(reference)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Open my case").click()
    page.wait_for_url("**/case/status/")
    return reference, pin


def test_the_status_page_follows_delivery_to_each_partner(live_server, browser, tmp_path, transactional_db):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    checked: list[str] = []
    base = live_server.url

    def state(label: str) -> dict[str, str]:
        """Every language, both widths, axe clean; returns the page's delivery codes (English)."""
        for language in LANGUAGES:
            context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}])
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + "/case/status/")
                assert page.get_attribute("html", "lang") == language
                assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
                assert no_horizontal_scroll(page), f"{label} in {language} scrolls sideways at {width} px"
                assert_no_axe_violations(page, f"status page, {label}, {language}, {width} px")
                checked.append(f"{label}/{language}/{width}")
        context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base}])
        page.goto(base + "/case/status/")
        return {
            "case": page.locator("[data-case-reach]").get_attribute("data-case-reach"),
            "files": ",".join(page.locator("[data-file-reach]").evaluate_all(
                "nodes => nodes.map(n => n.dataset.fileReach)")),
            "publications": ",".join(page.locator("[data-reach]").evaluate_all(
                "nodes => nodes.map(n => n.dataset.reach)")),
            "text": page.inner_text("main"),
        }

    try:
        submit_two_files(page, base, tmp_path)
        publish_pending()  # what the worker does on commit
        seen = state("published, no partner yet")
        assert seen["case"] == "0/0" and seen["files"] == "0/0,0/0"
        assert "Not yet fetched by any partner platform" in seen["text"]
        assert "Partners received" not in seen["text"]

        first = Platform(base, "First platform")
        first.sync()
        seen = state("one partner synced")
        assert seen["case"] == "1/1" and seen["files"] == "1/1,1/1" and seen["publications"] == "1/1"
        when = re.search(r"Partner platforms that have fetched them: 1 of 1 \(the last on ([^)]+)\)", seen["text"])
        assert when and re.search(r"\d{1,2}:\d{2}", when.group(1)), seen["text"]
        assert "A partner platform fetched these fingerprints." in seen["text"]

        second = Platform(base, "Second platform")
        seen = state("a second partner joined")
        assert seen["case"] == "1/2" and seen["files"] == "1/2,1/2"

        page.get_by_role("link", name="Withdraw file 1").click()
        page.get_by_role("button", name="Yes, withdraw this file").click()
        page.wait_for_url("**/case/status/")
        publish_pending()
        seen = state("withdrawn, not yet fetched")
        assert seen["files"] == "0/2,1/2"  # file 1: its withdrawal; file 2: its fingerprints
        assert seen["publications"].endswith(",0/2")

        first.sync()
        seen = state("one partner fetched the withdrawal")
        assert seen["files"] == "1/2,1/2" and seen["publications"].endswith(",1/2")
        assert "Partner platforms that have fetched the withdrawal: 1 of 2" in seen["text"]

        second.sync()
        seen = state("both partners fetched the withdrawal")
        assert seen["files"] == "2/2,2/2" and seen["publications"] == "2/2,2/2"
        assert "All 2 partner platforms have now fetched your withdrawal." in seen["text"]
        assert {e["op"] for e in second.entries} == {"add", "withdraw"}

        active_id = next(e["id"] for e in reversed(second.entries) if e["op"] == "add")
        second.report_blocked(active_id)
        seen = state("a match report")
        assert "A partner platform found a copy and blocked it." in seen["text"]
        assert "Second platform" not in seen["text"] and "First platform" not in seen["text"]
    finally:
        context.close()
    assert errors == []
    assert len(checked) == 7 * len(LANGUAGES) * len(WIDTHS)
