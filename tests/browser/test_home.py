"""The first page in a real Chromium: no console errors, nothing fetched from another origin,
and the quick exit leaves without leaving this page in the history."""

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser


def test_home_loads_cleanly_and_stays_on_this_origin(live_server, recorded_page):
    page = recorded_page.page
    page.route("https://www.bbc.co.uk/**", lambda route: route.fulfill(status=200, body="neutral"))
    response = page.goto(live_server.url + "/")
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).is_visible()
    assert "Only fingerprints leave your device" in page.content()
    origin = urlsplit(live_server.url).netloc
    foreign = [r.url for r in recorded_page.requests if urlsplit(r.url).netloc != origin]
    assert foreign == []
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
    # Every script actually ran under the strict CSP (a blocked one logs a console error).
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0


def test_quick_exit_replaces_the_history_entry(live_server, recorded_page):
    page = recorded_page.page
    page.route("https://www.bbc.co.uk/**", lambda route: route.fulfill(status=200, body="neutral"))
    page.goto(live_server.url + "/")
    before = page.evaluate("history.length")
    page.get_by_role("link", name="Leave this site quickly").click()
    page.wait_for_url("https://www.bbc.co.uk/**")
    assert page.evaluate("history.length") == before  # replaced, not pushed
    page.go_back()
    assert not page.url.startswith(live_server.url)


def test_quick_exit_by_pressing_shift_three_times(live_server, recorded_page):
    page = recorded_page.page
    page.route("https://www.bbc.co.uk/**", lambda route: route.fulfill(status=200, body="neutral"))
    page.goto(live_server.url + "/")
    page.wait_for_load_state("networkidle")
    for _ in range(3):
        page.keyboard.press("Shift")
    page.wait_for_url("https://www.bbc.co.uk/**")
