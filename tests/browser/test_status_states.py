"""The status page's other states (issue 14): accepted but not yet in the list, held for a
check before sharing, and the whole case withdrawn and fetched. Each is axe clean at 360 and
1280 px in every language, right to left in Arabic, and never scrolls sideways; the arc of
delivery itself is in test_status_delivery.py."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client

from hashbank.feed.publish import publish_pending
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import no_horizontal_scroll
from tests.feed_helpers import auth
from tests.survivor_helpers import photo_fingerprints

pytestmark = pytest.mark.browser


def open_in_browser(page, base: str, receipt) -> None:
    page.goto(base + "/case/")
    page.get_by_label("Case number").fill(receipt.reference)
    page.get_by_label("PIN").fill(receipt.pin)
    page.get_by_role("button", name="Open my case").click()
    page.wait_for_url("**/case/status/")


def test_every_other_state_of_the_status_page_reads_well_everywhere(live_server, browser, transactional_db,
                                                                   settings):
    base = live_server.url
    held = case_create(files=[photo_fingerprints(1)], hold_for_review=True)
    withdrawn = case_create(files=[photo_fingerprints(2), photo_fingerprints(3)])
    publish_pending()
    case_withdraw(case=withdrawn.case)
    publish_pending()
    secret = partner_key_issue(partner=partner_create(name="Only platform")).secret
    assert Client().get("/api/v1/feed", {"cursor": 0}, **auth(secret)).status_code == 200
    # The waiting case: accepted after the last publication, and no publisher runs it (a
    # worker would, moments later), so nothing of it is in the list yet.
    settings.JOBS_IN_PROCESS = False
    waiting = case_create(files=[photo_fingerprints(4)])

    expected = {
        "waiting": ("data-file-reach=\"\"", waiting),
        "held": ("data-held-count", held),
        "withdrawn": ('data-case-reach="1/1"', withdrawn),
    }
    checked = []
    for label, (marker, receipt) in expected.items():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            open_in_browser(page, base, receipt)
            assert marker in page.content(), label
            for language in [code for code, _ in django_settings.LANGUAGES]:
                context.add_cookies([{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}])
                for width in (360, 1280):
                    page.set_viewport_size({"width": width, "height": 900})
                    page.goto(base + "/case/status/")
                    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
                    assert no_horizontal_scroll(page), f"{label}, {language}, {width} px"
                    assert_no_axe_violations(page, f"status page: {label}, {language}, {width} px")
                    checked.append((label, language, width))
        finally:
            context.close()
    assert len(checked) == 3 * len(django_settings.LANGUAGES) * 2
