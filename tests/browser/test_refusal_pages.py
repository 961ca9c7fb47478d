"""The pages that turn a survivor away, or ask them to wait, at 320 x 640 in English and in
Arabic (right to left): the flood limit's "please wait" page, a case held for review because
too many cases arrived at once, the site's 404 and the 503 shown while the database is
unreachable. Each must be the page meant (its heading and title), fit without sideways
scrolling (WCAG 1.4.10), pass axe, keep the quick exit, and say its key words in the chosen
language.

Every page is reached the way a survivor reaches it: the language is changed with the page's
own form, the limits are set low in this process (the live server runs in it too), and the
held case is opened through /case/ with its number and PIN. The 503 alone cannot be caused in
the live server without breaking the database under the test itself: it is rendered by the
test client during a real outage (the connection pointed at a closed port) with the browser's
own language cookie, then served to the browser, with its status and headers, as the answer to
"/" so that its stylesheet and script load from the live server as they would in production.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import translation

from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import no_horizontal_scroll
from tests.conftest import database_is_postgres, require
from tests.survivor_helpers import consented_client, photo_fingerprints, post_json, submission
from tests.test_error_pages import unreachable_database

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 320, 640
LANGUAGES = [pytest.param("en", "ltr", id="en"), pytest.param("ar", "rtl", id="ar")]

#: The busy page's explanation (templates/survivor/busy.html, a counted blocktranslate).
BUSY_ONE = ("Many people have started using this service from your connection recently. This can happen on a "
            "shared connection, such as a refuge, a university or a phone network. Please wait %(minutes)s minute "
            "and try again.")
BUSY_MANY = BUSY_ONE.replace("%(minutes)s minute ", "%(minutes)s minutes ")


def says(language: str, *messages: str) -> list[str]:
    """The messages as the catalogue translates them; outside English each must really be
    translated, or an untranslated page would pass the Arabic checks."""
    with translation.override(language):
        translated = [translation.gettext(m) for m in messages]
    if language != "en":
        untranslated = [m for m, t in zip(messages, translated, strict=True) if m == t]
        assert untranslated == [], f"not translated into {language}: {untranslated}"
    return translated


@pytest.fixture
def small(browser, live_server):
    """A 320 x 640 page, with the quick exit's destination kept off the network and every
    page error recorded."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.route("https://www.bbc.co.uk/**", lambda route: route.fulfill(status=200, body="neutral"))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def choose_language(page, base_url: str, language: str, direction: str) -> None:
    """As test_journey_small_screen does: the language form at the top of every page."""
    page.goto(base_url + "/")
    page.locator("#language-select").select_option(language)
    page.locator(".language-switch button").click()
    page.wait_for_load_state("load")
    assert page.get_attribute("html", "lang") == language
    assert page.get_attribute("html", "dir") == direction


def check_page(page, label: str, *, language: str, direction: str, heading: str, key_words: list[str]) -> None:
    assert page.get_attribute("html", "lang") == language, label
    assert page.get_attribute("html", "dir") == direction, label
    # The page meant, not another page of the site: its one heading and its title.
    headings = page.locator("h1")
    assert headings.count() == 1, f"{label}: {headings.all_inner_texts()}"
    assert headings.inner_text().strip() == heading, label
    assert page.title().startswith(heading + " \u2013 "), (label, page.title())  # an en dash
    # The quick exit, in the language of the page and on screen at 320 px.
    (leave,) = says(language, "Leave this site quickly")
    quick_exit = page.locator("[data-quick-exit]")
    assert quick_exit.count() == 1, label
    assert quick_exit.is_visible(), label
    assert quick_exit.inner_text().strip() == leave, label
    assert quick_exit.get_attribute("href") == django_settings.QUICK_EXIT_URL, label
    box = quick_exit.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (label, box)
    # The key words, visible in the main content.
    main = page.locator("main").inner_text()
    missing = [words for words in key_words if words not in main]
    assert missing == [], f"{label} does not say {missing!r}; it says:\n{main}"
    assert no_horizontal_scroll(page), f"{label} scrolls sideways at {WIDTH} px"
    assert_no_axe_violations(page, label)


@pytest.mark.parametrize("language,direction", LANGUAGES)
def test_the_flood_limit_page_asks_kindly_to_wait(live_server, small, transactional_db, settings,
                                                  language, direction):
    settings.SURVIVOR_CONSENTS_PER_ADDRESS_PER_HOUR = 0  # the very first consent is over the limit
    page = small
    choose_language(page, live_server.url, language, direction)
    page.goto(live_server.url + "/start/")
    # By the fields, not their labels: the labels are translated.
    page.locator('input[name="age"][value="adult"]').check()
    page.locator('input[name="pictured"]').check()
    page.locator('input[name="consent"]').check()
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/start/")) as answer:
        page.locator('main form[method="post"] button[type="submit"]').click()
    response = answer.value
    page.wait_for_load_state("load")
    assert response.status == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 3600
    minutes = -(-retry_after // 60)
    with translation.override(language):
        explanation = translation.ngettext(BUSY_ONE, BUSY_MANY, minutes) % {"minutes": minutes}
    heading, nothing_saved, helpline, back = says(
        language, "Please wait a few minutes", "Nothing has been saved yet, and nothing has left your device.",
        "If you would rather not wait, a helpline can make a case with you now.", "Back to the start")
    if language == "en":
        assert "shared connection" in explanation and f"wait {minutes} minute" in explanation
    else:
        assert explanation != BUSY_ONE % {"minutes": minutes}
    check_page(page, f"busy page ({language})", language=language, direction=direction, heading=heading,
               key_words=[explanation, nothing_saved, helpline, back])
    # Refused means refused: no consent was kept, so the files step sends them back to the start.
    page.goto(live_server.url + "/start/files/")
    assert page.url == live_server.url + "/start/"


@pytest.mark.parametrize("language,direction", LANGUAGES)
def test_a_case_held_in_a_flood_says_it_is_being_checked(live_server, small, transactional_db, settings,
                                                         language, direction):
    settings.SURVIVOR_CASES_TOTAL_PER_HOUR = 0  # every new case is past the hourly total
    # The case is made through the real endpoint and its limits, as the page script would.
    made = post_json(consented_client(), "/api/survivor/cases", submission([photo_fingerprints(0)]))
    assert made.status_code == 201, made.content
    receipt = made.json()
    page = small
    choose_language(page, live_server.url, language, direction)
    page.goto(live_server.url + "/case/")
    page.locator('input[name="reference"]').fill(receipt["reference"])
    page.locator('input[name="pin"]').fill(receipt["pin"])
    page.locator('main form[method="post"] button[type="submit"]').click()
    page.wait_for_url("**/case/status/")
    heading, being_checked, why = says(
        language, "Your case", "Being checked: our team checks your fingerprints before partners get them",
        "Many new cases arrived at once, so our team is checking new cases before sharing them. "
        "Your fingerprints are saved and will be shared with partner platforms once checked. "
        "You do not need to do anything.")
    assert page.locator("[data-case-status]").inner_text().strip() == being_checked
    assert page.locator("[data-fingerprint-count]").inner_text().strip() == "0"
    assert page.locator("[data-held-count]").inner_text().strip() == str(len(photo_fingerprints(0)))
    check_page(page, f"held case status ({language})", language=language, direction=direction, heading=heading,
               key_words=[being_checked, why])
    if language == "en":
        assert "reject" not in page.locator("main").inner_text().lower()


@pytest.mark.parametrize("language,direction", LANGUAGES)
def test_the_404_page(live_server, small, transactional_db, settings, language, direction):
    settings.DEBUG = False
    page = small
    choose_language(page, live_server.url, language, direction)
    response = page.goto(live_server.url + "/no-such-page/")
    assert response.status == 404
    heading, explanation, open_case = says(
        language, "Page not found",
        "This address does not lead to a page. It may have been typed or copied incompletely, or the page may no "
        "longer exist.",
        "Open your case")
    check_page(page, f"404 page ({language})", language=language, direction=direction, heading=heading,
               key_words=[explanation, open_case])
    assert page.locator("main a", has_text=open_case).get_attribute("href") == "/case/"


@pytest.mark.parametrize("language,direction", LANGUAGES)
def test_the_503_page_while_the_database_is_unreachable(live_server, small, transactional_db, settings,
                                                        language, direction):
    require(database_is_postgres(), "PostgreSQL (DATABASE_URL=postgres://...)")
    settings.DEBUG = False
    page = small
    choose_language(page, live_server.url, language, direction)
    # The survivor's own language choice, as their browser would send it.
    cookie = next(c for c in page.context.cookies() if c["name"] == django_settings.LANGUAGE_COOKIE_NAME)
    assert cookie["value"] == language
    client = Client(raise_request_exception=False)
    client.cookies[cookie["name"]] = cookie["value"]
    # Nothing asks the live server for anything during the outage: the connection settings
    # are shared by every thread.
    with unreachable_database():
        answer = client.get("/")
    assert answer.status_code == 503, answer.content[:300]
    assert answer["Retry-After"] == "30"
    headers = {name: value for name, value in answer.items() if name.lower() != "content-length"}

    home = live_server.url + "/"
    page.route(lambda url: url == home,
               lambda route: route.fulfill(status=answer.status_code, headers=headers, body=answer.content))
    response = page.goto(home)
    assert response.status == 503
    # Its own stylesheet loaded from the live server and applies, under the answer's own CSP.
    assert page.evaluate("""() => [...document.styleSheets].some(
        (sheet) => sheet.href && sheet.href.includes('/static/css/site') && sheet.cssRules.length > 0)""")
    heading, explanation, not_left = says(
        language, "Please try again in a minute", "The service is busy for a moment and could not finish this step.",
        "Your images have not left your device. Please go back and try again in a minute.")
    check_page(page, f"503 page ({language})", language=language, direction=direction, heading=heading,
               key_words=[explanation, not_left])
