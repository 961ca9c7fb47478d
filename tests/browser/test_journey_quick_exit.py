"""The quick exit's "press Shift three times" hint is for people with a keyboard: a phone has no
Shift key, so there the hint is not shown (the exit link always is). Where there is a mouse
or trackpad the hint is shown, and the shortcut works."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

HINT = ".quick-exit-hint"
EXIT = "https://www.bbc.co.uk/**"


def open_home(browser, live_server, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.route(EXIT, lambda route: route.fulfill(status=200, body="neutral"))
    page.goto(live_server.url + "/")
    return context, page


def test_a_phone_is_not_told_to_press_shift(live_server, browser):
    # What Playwright's phone emulation gives this Chromium: a touch screen as the only pointer.
    context, page = open_home(browser, live_server, viewport={"width": 390, "height": 844},
                              device_scale_factor=3, is_mobile=True, has_touch=True)
    try:
        assert page.evaluate("matchMedia('(pointer: coarse)').matches")
        assert not page.evaluate("matchMedia('(hover: hover) and (pointer: fine)').matches")
        assert page.locator(HINT).count() == 1 and not page.locator(HINT).is_visible()
        assert page.get_by_role("link", name="Leave this site quickly").is_visible()
    finally:
        context.close()


def test_a_computer_is_told_about_shift_and_the_shortcut_works(live_server, browser):
    context, page = open_home(browser, live_server, viewport={"width": 1280, "height": 900})
    try:
        assert page.evaluate("matchMedia('(hover: hover) and (pointer: fine)').matches")
        assert page.locator(HINT).is_visible()
        assert page.locator(HINT).inner_text().strip() == "Or press Shift three times."
        page.wait_for_load_state("networkidle")
        for _ in range(3):
            page.keyboard.press("Shift")
        page.wait_for_url(EXIT)
    finally:
        context.close()
