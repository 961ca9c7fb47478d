"""The first questions, and what the pages say fingerprints are.

Every missing answer is named at once, in a summary at the top that links to each question
(not one more error each time the form is sent), and each message is tied to its question for
screen readers. And no page claims that a fingerprint reveals nothing: they all say the same
honest thing, that it is not the picture but could at most reveal a very blurred outline."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import ROOT
from tests.survivor_helpers import consented_client, make_case, open_case

AGE_MISSING = "Please tell us if you are 18 or over."
NOT_PICTURED = "This service is only for the person in the images."
NO_CONSENT = "We can only help if you agree to share the fingerprints with partners."
#: The one honest sentence, word for word the same wherever it is said.
HONEST = ("A fingerprint is not the picture, but at most it could reveal a very blurred outline, so it is shared "
          "only with partner platforms that agreed to use it for blocking copies.")


@pytest.fixture(autouse=True)
def _clear_counters():
    cache.clear()


def _summary_links(html: str) -> list[tuple[str, str]]:
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    return [(target, unescape(text)) for target, text in re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', summary)]


@pytest.mark.django_db
def test_sending_nothing_names_every_missing_answer_at_once():
    # What a browser sends when nothing is answered: the form's CSRF token and nothing else.
    client = Client(enforce_csrf_checks=True)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/start/").content.decode())[1]
    response = client.post("/start/", {"csrfmiddlewaretoken": token})
    html = response.content.decode()
    assert response.status_code == 200
    # One summary at the top, one link per question, each to an input that is on the page.
    assert html.count('class="error-summary"') == 1
    assert _summary_links(html) == [("id_age_0", AGE_MISSING), ("id_pictured", NOT_PICTURED),
                                    ("id_consent", NO_CONSENT)]
    for target, _ in _summary_links(html):
        assert f'id="{target}"' in html, target
    # Each message is also beside its question, and tied to it for screen readers.
    for field, message in [("age", AGE_MISSING), ("pictured", NOT_PICTURED), ("consent", NO_CONSENT)]:
        assert f'<p class="field-error" id="id_{field}_error">{unescape(message)}</p>' in unescape(html), field
    assert 'fieldset aria-describedby="id_age_error"' in html
    for field in ("pictured", "consent"):
        tag = re.search(rf'<input[^>]*id="id_{field}"[^>]*>', html)[0]
        assert 'aria-describedby="id_' + field + '_error"' in tag and 'aria-invalid="true"' in tag, tag


@pytest.mark.django_db
def test_an_adult_who_ticks_nothing_is_asked_about_both_boxes():
    html = Client().post("/start/", {"age": "adult"}).content.decode()
    assert [text for _, text in _summary_links(html)] == [NOT_PICTURED, NO_CONSENT]


@pytest.mark.django_db
def test_an_under_18_answer_goes_to_the_service_for_them_without_the_other_questions():
    response = Client().post("/start/", {"age": "under_18"})
    assert response.status_code == 200
    assert "https://takeitdown.ncmec.org/" in response.content.decode()
    assert 'class="error-summary"' not in response.content.decode()


# --- What fingerprints reveal -----------------------------------------------------------------

NEGATION = r"(?:nobody|no one|no-one|cannot|can't|can not|impossible|never|nothing|no way)"
REVEAL = r"(?:see|seen|recreat|rebuil|reconstruct|revers|turn(?:ed)? back|reveal|recover|get back)\w*"
ABOUT_FINGERPRINTS = r"(?:fingerprint|from them|from it|hash|short code)"


BLOCK_TAG = r"</?(?:p|li|ul|ol|div|section|td|th|tr|caption|h[1-6]|dt|dd|dl|br|legend|label|title|text|svg)\b[^>]*>"


def claims_fingerprints_reveal_nothing(text: str) -> list[str]:
    """Sentences that say a fingerprint shows nothing of the image ("Nobody can see your
    images from them", "Fingerprints reveal nothing", "cannot be turned back into ...")."""
    flat = re.sub(r"\s+", " ", text)
    flat = re.sub(BLOCK_TAG, "\n", flat)  # a paragraph, list item or cell ends a sentence
    flat = re.sub(r"\{%.*?%\}|<[^>]+>", " ", flat)
    sentences = re.split(r"(?<=[.!?])\s+|\n", flat)
    return [s.strip() for s in sentences
            if re.search(NEGATION, s, re.I) and re.search(rf"\b{REVEAL}", s, re.I)
            and re.search(ABOUT_FINGERPRINTS, s, re.I)]


def test_the_check_finds_the_claims_it_is_for():
    assert claims_fingerprints_reveal_nothing("Fingerprints are short codes. Nobody can see your images from them.")
    assert claims_fingerprints_reveal_nothing("Your photo cannot be recreated from its fingerprint.")
    assert claims_fingerprints_reveal_nothing("A fingerprint reveals nothing about the picture.")
    # True sentences pass: we never receive the images; the honest sentence itself.
    assert claims_fingerprints_reveal_nothing("We never see your images. Only fingerprints leave your device.") == []
    assert claims_fingerprints_reveal_nothing(HONEST) == []


def test_no_template_or_script_claims_fingerprints_reveal_nothing():
    sources = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("static/js/**/*.js"),
               *ROOT.glob("static/fingerprint/*.js")]
    assert len(sources) > 20
    found = {str(p.relative_to(ROOT)): claims for p in sources
             if (claims := claims_fingerprints_reveal_nothing(p.read_text(encoding="utf-8")))}
    assert found == {}


@pytest.mark.django_db
def test_every_survivor_page_says_the_same_honest_thing():
    anonymous = Client()
    pages = {path: anonymous.get(path) for path in ["/", "/start/", "/case/", "/transparency/"]}
    pages["/start/files/"] = consented_client().get("/start/files/")
    with_case = Client()
    open_case(with_case, make_case(files=1))
    pages["/case/status/"] = with_case.get("/case/status/")
    pages["/case/add/"] = with_case.get("/case/add/")
    texts = {}
    for path, response in pages.items():
        assert response.status_code == 200, path
        texts[path] = unescape(re.sub(r"\s+", " ", response.content.decode()))
        assert claims_fingerprints_reveal_nothing(texts[path]) == [], path
        # The footer's claim is true (we never receive the images) and stays.
        assert "We never see your images. Only fingerprints leave your device." in texts[path], path
    # Where a page says what a fingerprint is, it says this, in the same words.
    for path in ["/", "/start/"]:
        assert HONEST in texts[path], path
    assert [p for p, text in texts.items() if "outline" in text and HONEST not in text] == []
