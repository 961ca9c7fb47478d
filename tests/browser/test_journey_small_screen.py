"""Usable at 320 px wide (WCAG 1.4.10 reflow): every page of the journey, in English and in
Arabic (right to left), fits without horizontal scrolling."""

from __future__ import annotations

import pytest

from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import make_photos, no_horizontal_scroll, run_journey

pytestmark = pytest.mark.browser


def test_every_page_of_the_journey_fits_320_px(live_server, browser, tmp_path, transactional_db):
    context = browser.new_context(viewport={"width": 320, "height": 640})
    seen = []

    def check(page, label):
        assert no_horizontal_scroll(page), f"{label} scrolls sideways at 320 px"
        seen.append(label)

    try:
        run_journey(context.new_page(), live_server.url, make_photos(tmp_path), check=check)
    finally:
        context.close()
    assert len(seen) >= 10


@pytest.mark.parametrize("language,direction", [("ar", "rtl"), ("es", "ltr")])
def test_switching_language_translates_and_mirrors_the_pages(live_server, browser, transactional_db,
                                                             language, direction):
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        page.locator("#language-select").select_option(language)
        page.locator(".language-switch button").click()
        page.wait_for_load_state("load")
        assert page.get_attribute("html", "lang") == language
        assert page.get_attribute("html", "dir") == direction
        for path in ["/", "/start/", "/case/"]:
            page.goto(live_server.url + path)
            assert page.get_attribute("html", "dir") == direction
            assert no_horizontal_scroll(page), f"{path} in {language} scrolls sideways at 320 px"
            assert_no_axe_violations(page, f"{path} in {language}")
        # Translated, not only mirrored: the start button is no longer in English.
        page.goto(live_server.url + "/")
        assert page.locator("main a.button").first.inner_text().strip() != "Start"
    finally:
        context.close()
