"""The transparency page in a real Chromium, on a phone (320 x 640) and a desktop (1280 x 800),
in English, Spanish and Arabic (right to left): it fits without sideways scrolling, axe-core
finds no WCAG 2.2 AA violation, every chart is an image with a name and is followed by a table
of its figures, the charts read the right way round, and nothing is refused by the CSP."""

from __future__ import annotations

import pytest

from hashbank import transparency
from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import no_horizontal_scroll
from tests.conftest import RecordedPage
from tests.test_transparency import NOW, build

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (320, 640), "desktop": (1280, 800)}

#: Records every Content-Security-Policy refusal, before any of the page's own code runs.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""

CHARTS = """() => [...document.querySelectorAll('svg.chart')].map((svg) => {
  const byId = (id) => document.getElementById(id);
  const table = svg.nextElementSibling;
  const box = svg.getBoundingClientRect();
  const label = svg.querySelector('text.chart-label');
  const mark = svg.querySelector('rect, circle, line.chart-whisker');
  const text = svg.querySelector('text');
  return {
    role: svg.getAttribute('role'),
    name: (byId(svg.getAttribute('aria-labelledby')) || {}).textContent || '',
    description: (byId(svg.getAttribute('aria-describedby')) || {}).textContent || '',
    bars: svg.classList.contains('chart-bars'),
    width: box.width,
    textHeight: text.getBoundingClientRect().height,
    labelLeft: label.getBoundingClientRect().left,
    labelRight: label.getBoundingClientRect().right,
    markLeft: mark ? mark.getBoundingClientRect().left : null,
    markRight: mark ? mark.getBoundingClientRect().right : null,
    next: table ? table.tagName : null,
    caption: table && table.caption ? table.caption.textContent.trim() : '',
    columnHeads: table ? [...table.querySelectorAll('thead th')].map((th) => th.getAttribute('scope')) : [],
    rowHeads: table ? [...table.querySelectorAll('tbody th')].map((th) => th.getAttribute('scope')) : [],
    rows: table ? table.tBodies[0].rows.length : 0,
  };
})"""


@pytest.fixture
def figures(transactional_db, monkeypatch):
    monkeypatch.setattr(transparency, "clock", lambda: NOW)
    build()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("language,direction", [("en", "ltr"), ("es", "ltr"), ("ar", "rtl")])
def test_transparency_page(live_server, browser, figures, language, direction, viewport):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page = context.new_page()
    recorded = RecordedPage(page)
    page.add_init_script(CSP_RECORDER)
    label = f"/transparency/ in {language} at {width} px"
    try:
        response = page.goto(live_server.url + "/transparency/")
        assert response.status == 200
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "lang") == language
        assert page.get_attribute("html", "dir") == direction
        assert no_horizontal_scroll(page), f"{label} scrolls sideways"

        found = page.evaluate(CHARTS)
        assert len(found) == 8, label
        for chart in found:
            assert chart["role"] == "img" and chart["name"].strip() and chart["description"].strip(), chart
            assert chart["next"] == "TABLE" and chart["caption"], chart
            assert chart["rows"] == 12 and set(chart["rowHeads"]) == {"row"}, chart
            assert chart["columnHeads"] == ["col", "col"], chart
            # Scaled to the column, never wider than the screen, with text a person can read.
            assert chart["width"] <= width - 16
            if viewport == "phone":
                assert chart["width"] >= 280, chart
            assert chart["textHeight"] >= 10, chart
            # Month labels sit before the bars in reading order: left of them in English and
            # Spanish, right of them in Arabic (the chart is mirrored and its text anchors follow).
            if chart["bars"]:
                if direction == "ltr":
                    assert chart["labelRight"] <= chart["markLeft"] + 1, chart
                else:
                    assert chart["labelLeft"] >= chart["markRight"] - 1, chart

        assert_no_axe_violations(page, label)
        assert page.evaluate("window.__cspViolations") == []
        assert recorded.console_errors == [] and recorded.page_errors == []
        # Nothing inline for the CSP to refuse in the first place.
        assert page.evaluate("document.querySelectorAll('[style], style, script:not([src])').length") == 0
    finally:
        context.close()


def test_the_footer_leads_to_the_page_and_the_page_to_its_json(live_server, recorded_page, figures):
    page = recorded_page.page
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Transparency: how the service is used").click()
    page.wait_for_url("**/transparency/")
    assert page.get_by_role("heading", level=1).inner_text() == "Transparency"
    assert page.get_by_role("img", name="Cases opened").count() == 1
    assert page.get_by_role("table", name="Cases opened each month").count() == 1
    with page.expect_response("**/transparency.json") as answer:
        page.get_by_role("link", name="transparency.json").click()
    assert answer.value.json()["totals"]["active_fingerprints"]["value"] == 29
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
