"""The public transparency figures (hashbank.transparency), their charts (portal.charts) and
the two endpoints (/transparency/, /transparency.json).

The figures are checked on a data set with known times (rows made directly, times set
explicitly, "now" pinned), and once more on data made by the real services. No count under 10
may be published: neither as a number, nor as a bar's length, nor through a total or a
breakdown it could be subtracted from; the pages are compared byte for byte between data sets
that differ only in such a count.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import secrets
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hashbank import services
from hashbank import transparency as tr
from hashbank.models import (
    Case,
    CaseEvent,
    CaseFile,
    FeedEntry,
    Fingerprint,
    FingerprintReview,
    Partner,
    PartnerFeedback,
)
from portal import charts
from tests.feed_helpers import one_file

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025 if month == 12 else 2026, month, day, hour, minute, tzinfo=UTC)


# --- A data set with known times ---------------------------------------------------------------


class World:
    """Rows made directly with chosen times (the services stamp "now", which a test cannot
    move without a clock library)."""

    def __init__(self) -> None:
        self.position = 0

    def case(self, created: datetime, **fields) -> Case:
        return Case.objects.create(feed_token=secrets.token_hex(12), created_at=created,
                                   last_activity_at=fields.pop("last_activity_at", created), **fields)

    def fingerprints(self, case: Case, n: int, created: datetime, *, status: str = Fingerprint.Status.ACTIVE,
                     withdrawn_at: datetime | None = None) -> list[Fingerprint]:
        case_file = CaseFile.objects.create(
            case=case, public_id=secrets.token_hex(8), added_at=created, withdrawn_at=withdrawn_at,
            status=CaseFile.Status.WITHDRAWN if withdrawn_at else CaseFile.Status.ACTIVE)
        return [Fingerprint.objects.create(case=case, case_file=case_file, public_id=secrets.token_hex(10),
                                           signal_type="md5", value=secrets.token_hex(16), status=status,
                                           created_at=created)
                for _ in range(n)]

    def review(self, fingerprint: Fingerprint, action: str, when: datetime, cause: str = "") -> None:
        FingerprintReview.objects.create(fingerprint=fingerprint, action=action, cause=cause, reason="test", at=when)

    def feed(self, fingerprint: Fingerprint, fetched_after: timedelta | None, *, op: str = "add") -> None:
        self.position += 1
        FeedEntry.objects.create(
            position=self.position, fingerprint_key=fingerprint.public_id, op=op, line="{}", chain="0" * 64,
            published_at=fingerprint.created_at,
            first_fetched_at=None if fetched_after is None else fingerprint.created_at + fetched_after)


def build(*, cases_in_february: int = 3, deletions_in_march: int = 1, matches_in_march: int = 2,
          benign_holds: int = 1, extra_fingerprints_in_february: int = 0) -> None:
    """Three months to look at (January to March 2026, now 15 March) and one before them.

    Expected, January / February / March:
      cases opened 12 / cases_in_february / 0; fingerprints received 15 / 4 + extra / 0;
      withdrawals 0 / 2 / deletions_in_march; shared at the end 34 / 29 / 29; partners 10 / 11 / 11;
      median minutes 6.5 (12 measured) / none / none; matches 0 / 12 / matches_in_march;
      holds 1 / 5 + benign_holds / 0 (causes: volume 4, false match 1, match spike 1, benign
      benign_holds; outcomes: cleared 1, removed 1, withdrawn benign_holds, waiting 4)."""
    w = World()
    # December: one case of 20 fingerprints, shared throughout (one held in January then
    # cleared; one held in February then removed). Its fetch times are outside the months.
    k0 = w.case(at(12, 5))
    f0 = w.fingerprints(k0, 20, at(12, 5))
    for fingerprint in f0[:10]:
        w.feed(fingerprint, timedelta(minutes=1000))
    h1, h2 = f0[0], f0[1]
    w.review(h1, "held", at(1, 20), "false_match")
    w.review(h1, "cleared", at(2, 1), "false_match")
    w.review(h2, "held", at(2, 20), "match_spike")
    w.review(h2, "removed", at(3, 3))
    Fingerprint.objects.filter(pk=h2.pk).update(status=Fingerprint.Status.WITHDRAWN)

    # January: 12 cases; the first has two files (10 and 5 fingerprints).
    january = [w.case(at(1, 10)) for _ in range(12)]
    k1 = january[0]
    f1a = w.fingerprints(k1, 10, at(1, 10))
    f1b = w.fingerprints(k1, 5, at(1, 10), status=Fingerprint.Status.WITHDRAWN, withdrawn_at=at(2, 11))
    # First fetches 1..10 minutes, 11 and 30; the rest never fetched. The 5-minute one was
    # added again later (fetched at 100 minutes) and the 11-minute one has a tombstone fetched
    # at 1 minute: neither may count.
    for minutes, fingerprint in zip(range(1, 11), f1a, strict=True):
        w.feed(fingerprint, timedelta(minutes=minutes))
    w.feed(f1a[4], timedelta(minutes=100))
    w.feed(f1b[0], timedelta(minutes=1), op="withdraw")
    w.feed(f1b[0], timedelta(minutes=11))
    w.feed(f1b[1], timedelta(minutes=30))
    w.feed(f1b[2], None)
    for fingerprint in f1b[:benign_holds]:
        w.review(fingerprint, "held", at(2, 8), "benign_match")
    CaseEvent.objects.create(case=k1, kind=CaseEvent.Kind.FILE_WITHDRAWN, at=at(2, 11))
    k2 = january[1]
    Case.objects.filter(pk=k2.pk).update(status=Case.Status.WITHDRAWN)
    CaseEvent.objects.create(case=k2, kind=CaseEvent.Kind.WITHDRAWN, at=at(2, 12))
    for deleted in january[2:2 + deletions_in_march]:
        Case.objects.filter(pk=deleted.pk).update(status=Case.Status.DELETED, reference_digest=None,
                                                  last_activity_at=at(3, 2))

    # February: cases, one held in a flood (4 fingerprints still waiting).
    february = [w.case(at(2, 5)) for _ in range(cases_in_february)]
    for fingerprint in w.fingerprints(february[0], 4, at(2, 5), status=Fingerprint.Status.HELD):
        w.review(fingerprint, "held", at(2, 5), "volume")
    if extra_fingerprints_in_february:
        # Received and withdrawn within February: they change nothing else.
        w.fingerprints(february[0], extra_fingerprints_in_february, at(2, 6), status=Fingerprint.Status.WITHDRAWN,
                       withdrawn_at=at(2, 7))

    # Partners: ten from January, one from February, one that left.
    for number in range(10):
        Partner.objects.create(name=f"January {number}", created_at=at(1, 5))
    Partner.objects.create(name="February", created_at=at(2, 10))
    Partner.objects.create(name="Left", created_at=at(1, 6), is_active=False)
    reporter = Partner.objects.get(name="February")
    for number, when in enumerate([at(2, 14)] * 12 + [at(3, 4)] * matches_in_march):
        PartnerFeedback.objects.create(partner=reporter, fingerprint=f1a[number % 10], outcome="blocked",
                                       idempotency_key=f"k{number}", received_at=when)


@pytest.fixture
def world(db):
    build()


@pytest.fixture
def pinned(monkeypatch):
    """Requests read the figures at NOW."""
    monkeypatch.setattr(tr, "clock", lambda: NOW)


def test_the_figures_of_a_known_data_set(world):
    figures = tr.monthly_figures(months=3, now=NOW)
    months = figures.months
    assert [m.month.isoformat() for m in months] == ["2026-01-01", "2026-02-01", "2026-03-01"]

    def column(name):
        return [getattr(m, name) for m in months]

    assert column("cases_opened") == [12, 3, 0]
    assert column("fingerprints_added") == [15, 4, 0]
    assert column("withdrawals") == [0, 2, 1]
    assert column("active_fingerprints") == [34, 29, 29]
    assert column("partners_active") == [10, 11, 11]
    assert column("median_minutes_to_first_fetch") == [6.5, None, None]
    assert column("first_fetches_measured") == [12, 0, 0]
    assert column("matches_reported") == [0, 12, 2]
    assert column("holds") == [1, 6, 0]
    assert figures.median_minutes_to_first_fetch == 6.5 and figures.first_fetches_measured == 12
    assert dict(figures.holds_by_cause) == {"volume": 4, "false_match": 1, "match_spike": 1, "benign_match": 1,
                                            "other": 0}
    assert dict(figures.hold_outcomes) == {"cleared": 1, "removed": 1, "withdrawn": 1, "waiting": 4}
    # The current month's level is the bank as it is now.
    assert months[-1].active_fingerprints == Fingerprint.objects.filter(status=Fingerprint.Status.ACTIVE).count()


def test_months_before_the_window_and_the_current_month_boundaries(world):
    # One month only: just March, where December's and January's flows do not count.
    (march,) = tr.monthly_figures(months=1, now=NOW).months
    assert (march.cases_opened, march.fingerprints_added, march.withdrawals, march.holds) == (0, 0, 1, 0)
    # Seen from the end of January, February has not happened: the same rows, another now.
    january = tr.monthly_figures(months=2, now=at(1, 31, 23, 59)).months[-1]
    assert january.active_fingerprints == 34 and january.partners_active == 10
    assert january.matches_reported == 0 and january.holds == 1


def test_the_published_figures_of_the_known_data_set(world):
    published = tr.publish(tr.monthly_figures(months=3, now=NOW)).as_json()
    few = {"value": None, "display": "fewer than 10", "fewer_than": 10}

    def series(name):
        return [month[name] for month in published["monthly"]]

    assert series("cases_opened") == [{"value": 12, "display": "12"}, few, few]
    assert series("active_fingerprints") == [{"value": 34, "display": "34"}, {"value": 29, "display": "29"},
                                             {"value": 29, "display": "29"}]
    assert series("median_minutes_to_first_fetch")[0] == {"value": 6.5, "display": "6.5"}
    assert series("median_minutes_to_first_fetch")[1]["value"] is None
    assert series("withdrawals") == [few, few, few]
    # Totals: 15 cases, of which only 12 are shown exactly, so "at least 12" (15 would give the
    # 3 of February away); 3 withdrawals and 7 holds in all are under 10 themselves.
    totals = published["totals"]
    assert totals["cases_opened"] == {"value": None, "display": "at least 12", "at_least": 12}
    assert totals["matches_reported"] == {"value": None, "display": "at least 12", "at_least": 12}
    assert totals["withdrawals"] == few and totals["holds"] == few
    assert totals["active_fingerprints"]["value"] == 29 and totals["partners_active"]["value"] == 11
    assert totals["median_minutes_to_first_fetch"]["value"] == 6.5
    assert published["holds_by_cause"]["shown"] and published["hold_outcomes"]["shown"]
    assert published["monthly"][-1]["partial"] is True and published["monthly"][0]["partial"] is False


def test_a_handful_of_queries_whatever_the_number_of_months(world):
    counts = []
    for months in (3, 24):
        with CaptureQueriesContext(connection) as queries:
            tr.monthly_figures(months=months, now=NOW)
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] <= 10


def test_months_outside_the_allowed_range_are_refused(db):
    for months in (0, tr.MAX_MONTHS + 1):
        with pytest.raises(ValueError):
            tr.monthly_figures(months=months, now=NOW)


def test_figures_from_the_real_services(db):
    """Rows made the way the site makes them: the rebuilt level at now equals the bank's own
    count of active fingerprints, and every flow is counted once."""
    r1 = services.case_create(files=[one_file(2), one_file(1)])
    r2 = services.case_create(files=[one_file(1)])
    services.case_create(files=[one_file(1)], hold_for_review=True)
    r4 = services.case_create(files=[one_file(1)])
    services.case_delete(case=r4.case)
    first_file, second_file = r1.case.files.order_by("pk")
    cleared, removed, _ = first_file.fingerprints.order_by("pk")
    services.fingerprint_hold(fingerprint=cleared, reason="reported twice", cause="false_match")
    services.fingerprint_review_clear(fingerprint=cleared, reviewer_name="staff", reason="a different picture")
    services.fingerprint_hold(fingerprint=removed, reason="matched often", cause="match_spike")
    services.fingerprint_review_remove(fingerprint=removed, reviewer_name="staff", reason="not ours")
    services.case_file_withdraw(case=r1.case, file_id=second_file.public_id)
    services.fingerprint_hold(fingerprint=r2.case.fingerprints.first(), reason="a staff hold")
    services.case_withdraw(case=r2.case)

    # Two months, summed: the data and the reading may fall either side of a month's end.
    figures = tr.monthly_figures(months=2, now=timezone.now())
    assert figures.total("cases_opened") == 4  # the deleted case still counts
    assert figures.total("fingerprints_added") == 5 + 2 + 2  # the deleted case's are erased
    assert figures.total("withdrawals") == 3  # a file, a case, a deletion
    assert figures.total("holds") == 5
    assert figures.months[-1].active_fingerprints == 2
    assert figures.months[-1].active_fingerprints == Fingerprint.objects.filter(status="active").count()
    assert dict(figures.holds_by_cause) == {"volume": 2, "false_match": 1, "match_spike": 1, "benign_match": 0,
                                            "other": 1}
    assert dict(figures.hold_outcomes) == {"cleared": 1, "removed": 1, "withdrawn": 1, "waiting": 2}


# --- The protection rules ------------------------------------------------------------------------


def test_counts_under_10_and_zero_are_never_exact():
    assert tr.count_cell(10) == tr.Cell(tr.EXACT, value=10)
    for n in range(10):
        assert tr.count_cell(n).value is None and tr.count_cell(n).kind == tr.FEWER


def test_a_total_never_gives_a_suppressed_month_away():
    def total(parts):
        return tr._protect(sum(parts), {"months": parts})[0]

    assert total([50, 60, 30]) == tr.Cell(tr.EXACT, value=140)
    assert total([50, 60, 3]) == tr.Cell(tr.AT_LEAST, bound=110)  # 113 would give the 3 away
    assert total([3, 4]) == tr.Cell(tr.FEWER, bound=10)
    assert total([9, 9]) == tr.Cell(tr.AT_LEAST, bound=10)  # 18 would give both nines away
    assert total([0, 0, 0]).kind == tr.FEWER


def test_a_breakdown_that_would_give_a_count_away_is_not_shown():
    # Months all exact: the total (50) is known, so causes of 47 and 3 give the 3 away.
    total, shown = tr._protect(50, {"months": [20, 30], "cause": [47, 3], "outcome": [25, 25]},
                               optional=("cause", "outcome"))
    assert total == tr.Cell(tr.EXACT, value=50)
    assert "cause" not in shown and shown["outcome"] == [tr.count_cell(25), tr.count_cell(25)]
    # Exact causes would make the total known, and give away the month under 10.
    total, shown = tr._protect(25, {"months": [20, 5], "cause": [15, 10]}, optional=("cause",))
    assert "cause" not in shown and total == tr.Cell(tr.AT_LEAST, bound=20)
    # Two hidden parts whose sum is not at an extreme pin nothing.
    total, shown = tr._protect(40, {"months": [20, 20], "cause": [30, 6, 4]}, optional=("cause",))
    assert "cause" in shown


def _reader_can_pin(total_cell, shown):
    """By brute force: every total a reader could believe, every value of every suppressed part;
    True if some suppressed part has only one possible value."""
    candidates = range(0, 400)
    if total_cell.kind == tr.EXACT:
        candidates = [total_cell.value]
    elif total_cell.kind == tr.FEWER:
        candidates = range(0, 10)
    elif total_cell.kind == tr.AT_LEAST:
        candidates = range(max(total_cell.bound, 10), 400)
    for cells in shown.values():
        exact = sum(c.value for c in cells if c.exact)
        hidden = sum(1 for c in cells if not c.exact)
        if not hidden:
            continue
        possible = set()
        for g in candidates:
            if not all(0 <= g - sum(c.value for c in other if c.exact)
                       <= 9 * sum(1 for c in other if not c.exact) for other in shown.values()):
                continue
            possible |= {v for v in range(10) if 0 <= g - exact - v <= 9 * (hidden - 1)}
        if len(possible) < 2:
            return True
    return False


def test_no_published_family_of_figures_lets_a_reader_work_out_a_small_count():
    rng = random.Random(12)
    checked = 0
    for _ in range(1500):
        total = rng.choice([rng.randint(0, 12), rng.randint(10, 60)])
        partitions = {}
        for name, size in (("months", rng.randint(1, 4)), ("cause", rng.randint(1, 3)), ("outcome", rng.randint(1, 3))):
            cuts = sorted(rng.randint(0, total) for _ in range(size - 1))
            partitions[name] = [b - a for a, b in itertools.pairwise([0, *cuts, total])]
        cell, shown = tr._protect(total, partitions, optional=("cause", "outcome"))
        assert "months" in shown
        assert not _reader_can_pin(cell, shown), (total, partitions, cell, list(shown))
        checked += len(shown) > 1
    assert checked > 300  # breakdowns are shown often enough for this to mean something


# --- Nothing under 10 leaks through the pages ----------------------------------------------------


def _page(client, path="/transparency/", **headers):
    response = client.get(path, **headers)
    assert response.status_code == 200
    # The language switch's CSRF token is masked afresh on every response.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


@pytest.mark.parametrize("change", [
    {"cases_in_february": 7},
    {"deletions_in_march": 6},
    {"matches_in_march": 8},
    {"benign_holds": 3},
    {"extra_fingerprints_in_february": 4},
])
def test_pages_are_identical_whatever_a_count_under_10_is(db, client, pinned, change):
    build()
    views = [(path, language) for path in ("/transparency/", "/transparency.json") for language in ("en", "ar")]
    before = {view: _page(client, view[0], HTTP_ACCEPT_LANGUAGE=view[1]) for view in views}
    baseline = tr.monthly_figures(now=NOW)
    for model in (PartnerFeedback, FeedEntry, FingerprintReview, CaseEvent, Fingerprint, CaseFile, Case, Partner):
        model.objects.all().delete()
    build(**change)
    assert tr.monthly_figures(now=NOW) != baseline  # the data really differ
    for view in views:
        assert _page(client, view[0], HTTP_ACCEPT_LANGUAGE=view[1]) == before[view], view


def _count_cells(document):
    """Every count cell of the JSON (medians are minutes, not counts)."""
    for month in document["monthly"]:
        for name, cell in month.items():
            if isinstance(cell, dict) and name != "median_minutes_to_first_fetch":
                yield cell
    for name, cell in document["totals"].items():
        if name != "median_minutes_to_first_fetch":
            yield cell
    for breakdown in ("holds_by_cause", "hold_outcomes"):
        yield from (document[breakdown]["counts"] or {}).values()


def test_the_json_never_holds_a_count_under_10(world, client, pinned):
    response = client.get("/transparency.json")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=300"
    document = response.json()
    cells = list(_count_cells(document))
    assert len(cells) > 12 * 7
    for cell in cells:
        assert cell["value"] is None or cell["value"] >= 10, cell
        assert all(int(n) >= 10 for n in re.findall(r"\d+", cell["display"])), cell
    assert any(cell["value"] is None for cell in cells) and any(cell["value"] for cell in cells)


class _Texts(HTMLParser):
    """The text of every table cell, keyed by (figure, row), and of every SVG <title>."""

    def __init__(self):
        super().__init__()
        self.figure = self.row = self.where = None
        self.cells: dict[tuple[str, str], str] = {}
        self.titles: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.figure = attrs.get("data-figure")
        elif tag == "tr":
            self.row = attrs.get("data-month") or attrs.get("data-key")
        elif tag == "td":
            self.where = "td"
            self.cells[(self.figure, self.row)] = ""
        elif tag == "title":
            self.where = "title"
            self.titles.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "title"):
            self.where = None

    def handle_data(self, data):
        if self.where == "td":
            self.cells[(self.figure, self.row)] += data
        elif self.where == "title":
            self.titles[-1] += data


def test_the_page_and_the_json_show_the_same_figures(world, client, pinned):
    document = client.get("/transparency.json").json()
    texts = _Texts()
    texts.feed(_page(client, HTTP_ACCEPT_LANGUAGE="en"))
    expected = {}
    for month in document["monthly"]:
        for name in tr.MONTHLY:
            expected[(name, month["month"])] = month[name]["display"]
    for name, cell in document["totals"].items():
        if name not in ("active_fingerprints", "partners_active"):  # these are the last month's row
            expected[(name, "total")] = cell["display"]
    for breakdown in ("holds_by_cause", "hold_outcomes"):
        for key, cell in document[breakdown]["counts"].items():
            expected[(breakdown, key)] = cell["display"]
    assert {key: text.strip().replace(",", "") for key, text in texts.cells.items()} == expected
    # What the charts' marks say matches too, and no title carries a small number.
    assert "January 2026: 12" in texts.titles and "February 2026: fewer than 10" in texts.titles
    for title in texts.titles:
        # Whole numbers only: a median of 6.5 minutes is not a count.
        assert all(int(n) >= 10 for n in re.findall(r"(?<![\d.,])\d+(?![\d.,])", title.split(":")[-1])), title


def test_a_breakdown_withheld_is_said_so_on_the_page_and_in_the_json(db, client, pinned):
    w = World()
    case = w.case(at(2, 1))
    # 53 holds, all in February. Every cause is 10 or more: the causes would tell that the
    # total is exactly 53, and with it that each of the other eleven months had none. They are
    # not shown. The outcomes (one of them under 10) leave the total open: shown.
    causes = ["volume"] * 10 + ["false_match"] * 10 + ["match_spike"] * 10 + ["benign_match"] * 10 + [""] * 13
    outcomes = ["cleared"] * 10 + ["removed"] * 10 + ["withdrawn"] * 3 + ["waiting"] * 30
    for fingerprint, cause, outcome in zip(w.fingerprints(case, 53, at(2, 1)), causes, outcomes, strict=True):
        w.review(fingerprint, "held", at(2, 2), cause)
        if outcome in ("cleared", "removed"):
            w.review(fingerprint, outcome, at(2, 3))
        status = {"cleared": "active", "waiting": "held"}.get(outcome, "withdrawn")
        Fingerprint.objects.filter(pk=fingerprint.pk).update(status=status)
    assert dict(tr.monthly_figures(now=NOW).hold_outcomes) == {"cleared": 10, "removed": 10, "withdrawn": 3,
                                                               "waiting": 30}
    document = client.get("/transparency.json").json()
    assert document["holds_by_cause"] == {"shown": False, "counts": None}
    assert document["hold_outcomes"]["shown"] is True
    assert document["hold_outcomes"]["counts"]["waiting"]["value"] == 30
    assert document["totals"]["holds"] == {"value": None, "display": "at least 53", "at_least": 53}
    page = _page(client)
    assert 'data-withheld="holds_by_cause"' in page and 'data-figure="holds_by_cause"' not in page
    assert 'data-figure="hold_outcomes"' in page


def test_the_page_renders_in_spanish_and_in_arabic(world, client, pinned):
    spanish = _page(client, HTTP_ACCEPT_LANGUAGE="es")
    assert 'lang="es"' in spanish and 'dir="ltr"' in spanish
    assert "<h1>Transparencia</h1>" in spanish and "menos de 10" in spanish and "al menos 12" in spanish
    assert "Una barra por mes" in spanish and "enero de 2026" in spanish
    arabic = _page(client, HTTP_ACCEPT_LANGUAGE="ar")
    assert 'lang="ar"' in arabic and 'dir="rtl"' in arabic
    assert "<h1>الشفافية</h1>" in arabic and "أقل من 10" in arabic and "chart-rtl" in arabic
    for page in (spanish, arabic):
        for english in ("fewer than 10", "How small numbers are shown", "A bar for each month", "Cases opened",
                        "at least", "(so far)"):
            assert english not in page


def test_a_service_with_no_figures_yet_shows_the_page(db, client, pinned):
    document = client.get("/transparency.json").json()
    assert all(cell["value"] is None for cell in _count_cells(document))
    assert document["totals"]["median_minutes_to_first_fetch"]["value"] is None
    page = _page(client)
    assert page.count("chart-bar-suppressed") == 12 * 6 and "<polyline" not in page
    # A median of 0 minutes is drawn too (an axis to 10, not a division by zero).
    markup = charts.line_chart(chart_id="c", title="t", description="d", rtl=False, number=str,
                               points=[charts.Point(label="M0", tooltip="0 minutes", value=0.0)])
    assert 'class="chart-point"' in markup and ">10<" in markup


def test_the_footer_links_to_the_page_in_every_language(db, client):
    for language, text in (("en", "Transparency: how the service is used"),
                           ("es", "Transparencia: cómo se usa el servicio"),
                           ("ar", "الشفافية: كيف تُستخدم الخدمة")):
        page = client.get("/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert f'<a href="/transparency/">{text}</a>' in page


def test_only_reading_is_allowed(db, client):
    assert client.post("/transparency/").status_code == 405
    assert client.post("/transparency.json").status_code == 405


def test_the_page_has_no_inline_style_and_every_chart_names_itself(world, client, pinned):
    page = _page(client)
    assert "style=" not in page and "<style" not in page and "<script>" not in page
    charts_found = re.findall(r'<svg class="chart [^"]*"[^>]*aria-labelledby="([^"]+)"', page)
    assert len(charts_found) == 8
    for title_id in charts_found:
        assert f'<title id="{title_id}">' in page
    assert len(re.findall(r"</svg>\s*<table", page)) == 8  # each chart is followed by its table


# --- The charts ---------------------------------------------------------------------------------


def _points(values):
    return [charts.Point(label=f"M{i}", tooltip=f"month {i}", value=v, below=None if v is not None else 10)
            for i, v in enumerate(values)]


def test_charts_escape_their_text_and_carry_no_style():
    markup = charts.bar_chart(chart_id="c", title="<b>Cases</b> & more", description='say "hi"',
                              points=[charts.Point(label="<script>", tooltip="x<y", value=12)], rtl=False, number=str)
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "&lt;b&gt;Cases&lt;/b&gt; &amp; more" in markup
    assert "style" not in markup
    assert 'role="img"' in markup and 'aria-labelledby="c-title"' in markup and 'aria-describedby="c-desc"' in markup
    with pytest.raises(ValueError):
        charts.bar_chart(chart_id='x" onload="', title="t", description="d", points=[], rtl=False, number=str)


def test_a_suppressed_bar_looks_the_same_whatever_it_hides():
    # The chart cannot know the hidden count: it gets only the threshold, and draws up to it.
    markup = charts.bar_chart(chart_id="c", title="t", description="d", points=_points([40, None]), rtl=False,
                              number=str)
    (suppressed,) = re.findall(r'<rect class="chart-bar-suppressed" x="88" y="[\d.]+" width="([\d.]+)"', markup)
    (full,) = re.findall(r'<rect class="chart-bar" x="88" y="[\d.]+" width="([\d.]+)"', markup)
    assert float(suppressed) == pytest.approx(float(full) / 4)


def test_right_to_left_charts_are_mirrored():
    ltr = charts.bar_chart(chart_id="c", title="t", description="d", points=_points([40]), rtl=False, number=str)
    rtl = charts.bar_chart(chart_id="c", title="t", description="d", points=_points([40]), rtl=True, number=str)
    width = float(re.search(r'class="chart-bar" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', ltr).group(1))
    assert re.search(r'class="chart-bar" x="88"', ltr)
    assert re.search(rf'class="chart-bar" x="{charts._n(charts.WIDTH - 88 - width)}"', rtl)
    assert "chart-rtl" in rtl and "chart-ltr" in ltr


def test_a_line_chart_breaks_where_a_figure_is_not_shown():
    points = _points([20, 30, None, 40, 50])
    points[2] = charts.Point(label="M2", tooltip="not shown")  # neither a value nor a threshold: a gap
    markup = charts.line_chart(chart_id="c", title="t", description="d", points=points, rtl=False, number=str)
    assert markup.count("<polyline") == 2 and markup.count('class="chart-point"') == 4
    assert "chart-whisker" not in markup
    whisker = charts.line_chart(chart_id="c", title="t", description="d", points=_points([None, 20]), rtl=False,
                                number=str)
    assert whisker.count("chart-whisker") == 1 and "<polyline" not in whisker


def test_json_is_stable_for_machines(world, client, pinned):
    document = json.loads(client.get("/transparency.json").content)
    assert document["format"] == 1 and document["as_of"] == "2026-03-15T12:00:00Z"
    assert document["months"][0] == "2025-04" and document["months"][-1] == "2026-03"
    assert document["suppression"]["threshold"] == 10
    assert set(document["monthly"][0]) == {"month", "partial", *tr.MONTHLY}
