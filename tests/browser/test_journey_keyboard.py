"""The whole journey by keyboard alone: Tab to move, Enter and Space to act, typing to fill in.
No mouse click anywhere; the file picker is opened from the keyboard too."""

from __future__ import annotations

import pytest

from tests.browser.journey import make_photos

pytestmark = pytest.mark.browser

MAX_TABS = 80


def tab_to(page, selector: str) -> None:
    """Press Tab until `selector` has focus; fail if it is not reachable."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
            # A visible focus indicator (WCAG 2.4.7): the element is on screen and outlined.
            assert page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return s.outlineStyle !== 'none' || s.boxShadow !== 'none'; }"
            ), f"{selector} has no visible focus indicator"
            return
    raise AssertionError(f"could not reach {selector} with Tab")


def choose_files_by_keyboard(page, paths) -> None:
    # Turn Playwright's file-chooser interception on before the key press, and make a round
    # trip so it is in force: enabled lazily inside expect_file_chooser it raced with Chromium
    # opening its own (headless, at once cancelled) picker, and about one run in five hung.
    page.on("filechooser", _ignore)
    page.evaluate("0")
    tab_to(page, "[data-flow-input]")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(paths)


def _ignore(_chooser) -> None:
    pass


def fingerprint_and_send_by_keyboard(page) -> None:
    tab_to(page, "[data-flow-start]")
    page.keyboard.press("Enter")
    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=60_000)
    tab_to(page, "[data-flow-submit]")
    page.keyboard.press("Enter")


def test_the_journey_can_be_completed_by_keyboard_alone(live_server, recorded_page, tmp_path, transactional_db):
    page = recorded_page.page
    files = make_photos(tmp_path)
    page.goto(live_server.url + "/")

    tab_to(page, 'main a[href="/start/"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/start/")
    tab_to(page, "#id_age_0")
    page.keyboard.press("Space")
    tab_to(page, "#id_pictured")
    page.keyboard.press("Space")
    tab_to(page, "#id_consent")
    page.keyboard.press("Space")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")

    page.wait_for_url("**/start/files/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    choose_files_by_keyboard(page, [f.path for f in files])
    page.locator("[data-flow-list] li").nth(3).wait_for()
    # Remove the fourth file and reveal the first, by keyboard.
    tab_to(page, '[data-item-remove][aria-label$="File 4 (Photo)"]')
    page.keyboard.press("Enter")
    assert page.locator("[data-flow-list] li").count() == 3
    # Moving back with Shift+Tab three times quickly must not count as the quick-exit shortcut.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.url.startswith(live_server.url)
    tab_to(page, '[data-item-reveal][aria-label$="File 1 (Photo)"]')
    page.keyboard.press("Enter")
    assert page.locator("[data-flow-list] li").first.locator(".fp-blurred").count() == 0
    fingerprint_and_send_by_keyboard(page)

    page.locator('[data-flow-step="receipt"]:not([hidden])').wait_for()
    reference = page.locator("[data-receipt-reference]").inner_text().strip()
    pin = page.locator("[data-receipt-pin]").inner_text().strip()
    tab_to(page, '[data-flow-step="receipt"] a[href="/case/"]')
    page.keyboard.press("Enter")

    page.wait_for_url("**/case/")
    tab_to(page, "#id_reference")
    page.keyboard.type(reference)
    page.keyboard.press("Tab")
    page.keyboard.type(pin)
    page.keyboard.press("Enter")

    page.wait_for_url("**/case/status/")
    tab_to(page, 'a[href="/case/add/"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/case/add/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    choose_files_by_keyboard(page, [files[3].path])
    fingerprint_and_send_by_keyboard(page)

    page.locator('[data-flow-step="added"]:not([hidden])').wait_for()
    # The optional list of what was added, ticked and read by keyboard, then back to the case.
    tab_to(page, "[data-receipt-files-toggle]")
    page.keyboard.press("Space")
    page.locator("[data-receipt-files] li").first.wait_for()
    assert "File 4" in page.locator("[data-receipt-files]").inner_text()
    tab_to(page, '[data-flow-step="added"] a[href="/case/status/"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/case/status/")
    assert "You added the fingerprints of 1 more file." in page.content()
    tab_to(page, 'a[href$="/withdraw/"][href*="/files/"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/files/*/withdraw/")
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/case/status/")
    assert "You withdrew one file." in page.content()
    assert recorded_page.page_errors == []
