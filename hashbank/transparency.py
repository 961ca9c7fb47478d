"""The public transparency figures, month by month (/transparency/ and /transparency.json;
docs/transparency.md says what each figure means).

Two layers, so that an exact small count cannot reach a page by accident:

- `monthly_figures` reads the bank and returns exact counts (`Figures`). Nothing outside this
  module and its tests should show them.
- `publish` turns them into `Published` figures, in which every count is a `Cell`: exact when
  it is 10 or more, "fewer than 10" below that (0 included: telling "none" from "one" can be
  enough to recognise someone in a small service). Totals and breakdowns are protected as well,
  so that no count under 10 can be worked out by subtracting published figures from each other
  (`_protect`). The views use `transparency_public`, which is both steps.

Reads only; a handful of aggregate queries whatever the number of months (the test suite counts
them), on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMonth
from django.utils import timezone

from hashbank.models import Case, CaseEvent, FeedEntry, Fingerprint, FingerprintReview, Partner, PartnerFeedback
from hashbank.models.feed import FeedOp

#: Counts below this are never published exactly.
THRESHOLD = 10
#: How far back the public page looks, and the most anyone may ask for.
DEFAULT_MONTHS = 12
MAX_MONTHS = 36

#: Why fingerprints were held, as published. "other" is a hold recorded without a cause (a
#: staff hold, or one made before causes were recorded) or with a cause that is not a hold's.
HOLD_CAUSES = ("volume", "false_match", "match_spike", "benign_match", "other")
#: What became of a hold: staff cleared it or removed the fingerprint; the person withdrew the
#: file or the case while it was held; or staff have not decided yet.
HOLD_OUTCOMES = ("cleared", "removed", "withdrawn", "waiting")

#: The flows published per month with a total, in the order the page shows them.
FLOWS = ("cases_opened", "fingerprints_added", "withdrawals", "matches_reported", "holds")

#: The clock, one name so tests can pin "now" for figures read through HTTP.
clock: Callable[[], datetime] = timezone.now


# --- Exact figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    """One calendar month (UTC). Levels (active fingerprints, partners) are at the month's end,
    or now for the current month; the rest happened during the month."""

    month: date
    cases_opened: int
    fingerprints_added: int
    #: Cases withdrawn, cases deleted and single files withdrawn: each time someone took back
    #: fingerprints (not the number of fingerprints they took back).
    withdrawals: int
    active_fingerprints: int
    partners_active: int
    #: Median minutes from a fingerprint's submission to the first time a partner fetched it,
    #: over the fingerprints submitted this month that a partner has fetched; and how many that is.
    median_minutes_to_first_fetch: float | None
    first_fetches_measured: int
    matches_reported: int
    holds: int


@dataclass(frozen=True)
class Figures:
    now: datetime
    months: tuple[MonthFigures, ...]
    #: Over the whole period (not the median of the monthly medians).
    median_minutes_to_first_fetch: float | None
    first_fetches_measured: int
    #: Holds started in the period, by cause and by what became of them (each sums to the
    #: period's holds).
    holds_by_cause: Mapping[str, int]
    hold_outcomes: Mapping[str, int]

    def total(self, flow: str) -> int:
        return sum(getattr(month, flow) for month in self.months)


def monthly_figures(months: int = DEFAULT_MONTHS, now: datetime | None = None) -> Figures:
    """The exact figures for the last `months` calendar months (UTC), oldest first, the
    current month (so far) last."""
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be from 1 to {MAX_MONTHS}")
    now = (now or clock()).astimezone(UTC)
    starts = _month_starts(now, months)
    start = starts[0]
    # "Before the end of the month": the next month's start, and just after now for this month
    # (so something recorded at this very moment counts).
    ends = [*starts[1:], now + timedelta(microseconds=1)]
    window = {"gte": start, "lte": now}

    cases = _per_month(Case.objects.all(), "created_at", window)
    added = _per_month(Fingerprint.objects.all(), "created_at", window)
    withdrawals = _per_month(
        CaseEvent.objects.filter(kind__in=[CaseEvent.Kind.WITHDRAWN, CaseEvent.Kind.FILE_WITHDRAWN]), "at", window
    )
    # A deleted case keeps only its bare row (its timeline, and with it any earlier withdrawal,
    # is erased), and nothing changes it after deletion: its last activity is the deletion.
    withdrawals.update(_per_month(Case.objects.filter(status=Case.Status.DELETED), "last_activity_at", window))
    matches = _per_month(PartnerFeedback.objects.all(), "received_at", window)
    active = _active_fingerprints(ends)
    partners = _partners_active(ends)
    fetch_minutes = _minutes_to_first_fetch(window)
    holds, by_cause, outcomes = _holds(window)

    rows = []
    for month_start, active_count, partner_count in zip(starts, active, partners, strict=True):
        key = (month_start.year, month_start.month)
        minutes = fetch_minutes.get(key, [])
        rows.append(MonthFigures(
            month=month_start.date(),
            cases_opened=cases[key],
            fingerprints_added=added[key],
            withdrawals=withdrawals[key],
            active_fingerprints=active_count,
            partners_active=partner_count,
            median_minutes_to_first_fetch=statistics.median(minutes) if minutes else None,
            first_fetches_measured=len(minutes),
            matches_reported=matches[key],
            holds=holds[key],
        ))
    every_minute = [m for minutes in fetch_minutes.values() for m in minutes]
    return Figures(
        now=now,
        months=tuple(rows),
        median_minutes_to_first_fetch=statistics.median(every_minute) if every_minute else None,
        first_fetches_measured=len(every_minute),
        holds_by_cause={cause: by_cause[cause] for cause in HOLD_CAUSES},
        hold_outcomes={outcome: outcomes[outcome] for outcome in HOLD_OUTCOMES},
    )


def _month_starts(now: datetime, months: int) -> list[datetime]:
    year, month = now.year, now.month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _month_key(value: datetime) -> tuple[int, int]:
    value = value.astimezone(UTC)
    return value.year, value.month


def _per_month(queryset: QuerySet, field: str, window: Mapping[str, datetime]) -> Counter[tuple[int, int]]:
    """One GROUP BY month query. order_by() drops the models' default ordering, which would
    otherwise split the groups."""
    rows = (
        queryset.filter(**{f"{field}__{lookup}": value for lookup, value in window.items()})
        .annotate(month=TruncMonth(field, tzinfo=UTC))
        .order_by()
        .values("month")
        .annotate(n=Count("pk"))
        .values_list("month", "n")
    )
    return Counter({_month_key(month): n for month, n in rows})


def _active_fingerprints(ends: Sequence[datetime]) -> list[int]:
    """Fingerprints being shared with partners just before each end: made by then, their file
    not withdrawn by then (withdrawing a case withdraws its files at the same moment), and not
    out on review then (the latest review before the end, if any, is not a hold or a removal).
    Rebuilt from the times kept for other reasons, so past months stay right as statuses move
    on; at now it equals the count of active fingerprints. Two queries, one aggregate per end."""

    def file_kept(end: datetime, prefix: str = "") -> Q:
        withdrawn_at = f"{prefix}case_file__withdrawn_at"
        return Q(**{f"{withdrawn_at}__isnull": True}) | Q(**{f"{withdrawn_at}__gte": end})

    made = Fingerprint.objects.aggregate(**{
        f"e{i}": Count("pk", filter=Q(created_at__lt=end) & file_kept(end)) for i, end in enumerate(ends)
    })

    def later_review(end: datetime) -> Exists:
        return Exists(
            FingerprintReview.objects.filter(fingerprint_id=OuterRef("fingerprint_id"), at__lt=end)
            .filter(Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk")))
        )

    # Each fingerprint has at most one latest review before a given end, so this counts
    # fingerprints, not reviews.
    out = FingerprintReview.objects.filter(
        action__in=[FingerprintReview.Action.HELD, FingerprintReview.Action.REMOVED]
    ).aggregate(**{
        f"e{i}": Count("pk", filter=Q(at__lt=end) & ~later_review(end) & file_kept(end, "fingerprint__"))
        for i, end in enumerate(ends)
    })
    return [made[f"e{i}"] - out[f"e{i}"] for i in range(len(ends))]


def _partners_active(ends: Sequence[datetime]) -> list[int]:
    """Partners set up before each end that are active now: when a partner stops is not
    recorded, so one that has left counts in no month."""
    counts = Partner.objects.filter(is_active=True, is_internal=False).aggregate(**{
        f"e{i}": Count("pk", filter=Q(created_at__lt=end)) for i, end in enumerate(ends)
    })
    return [counts[f"e{i}"] for i in range(len(ends))]


def _minutes_to_first_fetch(window: Mapping[str, datetime]) -> dict[tuple[int, int], list[float]]:
    """Per month of submission, the minutes from each fingerprint's submission to the first
    time a partner fetched any addition of it (a cleared hold adds it again under the same id).
    A median needs the values themselves and SQLite has no median, so one row per fetched
    fingerprint comes back; only two timestamps each."""
    first_fetch = (
        FeedEntry.objects.filter(fingerprint_key=OuterRef("public_id"), op=FeedOp.ADD, first_fetched_at__isnull=False)
        .order_by("first_fetched_at")
        .values("first_fetched_at")[:1]
    )
    rows = (
        Fingerprint.objects.filter(created_at__gte=window["gte"], created_at__lte=window["lte"])
        .annotate(fetched=Subquery(first_fetch))
        .filter(fetched__isnull=False)
        .order_by()
        .values_list("created_at", "fetched")
    )
    minutes: dict[tuple[int, int], list[float]] = {}
    for created, fetched in rows.iterator(chunk_size=5000):
        # Never negative: clocks of different machines may disagree by a moment.
        minutes.setdefault(_month_key(created), []).append(max(0.0, (fetched - created).total_seconds() / 60))
    return minutes


def _holds(window: Mapping[str, datetime]) -> tuple[Counter[tuple[int, int]], Counter[str], Counter[str]]:
    """Holds started in the window: per month, by cause, and by outcome. The outcome is the
    next review of the same fingerprint (a hold is always followed by a decision, if any,
    because only an active fingerprint can be held); with none, the fingerprint's status says
    whether the person withdrew it meanwhile or it still waits. One query, grouped."""
    next_action = (
        FingerprintReview.objects.filter(fingerprint_id=OuterRef("fingerprint_id"))
        .filter(Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk")))
        .order_by("at", "pk")
        .values("action")[:1]
    )
    rows = (
        FingerprintReview.objects.filter(action=FingerprintReview.Action.HELD, at__gte=window["gte"],
                                         at__lte=window["lte"])
        .annotate(month=TruncMonth("at", tzinfo=UTC), next_action=Subquery(next_action))
        .order_by()
        .values("month", "cause", "next_action", "fingerprint__status")
        .annotate(n=Count("pk"))
        .values_list("month", "cause", "next_action", "fingerprint__status", "n")
    )
    per_month: Counter[tuple[int, int]] = Counter()
    by_cause: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for month, cause, next_action_value, status, n in rows:
        per_month[_month_key(month)] += n
        by_cause[cause if cause in HOLD_CAUSES else "other"] += n
        outcomes[_hold_outcome(next_action_value, status)] += n
    return per_month, by_cause, outcomes


def _hold_outcome(next_action: str | None, status: str) -> str:
    if next_action == FingerprintReview.Action.CLEARED:
        return "cleared"
    if next_action == FingerprintReview.Action.REMOVED:
        return "removed"
    if status == Fingerprint.Status.WITHDRAWN:
        return "withdrawn"
    return "waiting"


# --- Published figures -----------------------------------------------------------------------

EXACT = "exact"
FEWER = "fewer_than"  # a count from 0 to 9
AT_LEAST = "at_least"  # a total that would give a small count away; `bound` is what is known
TOO_FEW = "too_few"  # a median over fewer than 10 fingerprints


@dataclass(frozen=True)
class Cell:
    """One published figure. `value` is set only when the figure is published exactly, so
    nothing drawn or printed from a cell can carry a suppressed count."""

    kind: str
    value: int | float | None = None
    bound: int | None = None

    @property
    def exact(self) -> bool:
        return self.kind == EXACT

    def as_json(self) -> dict[str, object]:
        if self.kind == EXACT:
            return {"value": self.value, "display": str(self.value)}
        if self.kind == FEWER:
            return {"value": None, "display": f"fewer than {THRESHOLD}", "fewer_than": THRESHOLD}
        if self.kind == AT_LEAST:
            return {"value": None, "display": f"at least {self.bound}", "at_least": self.bound}
        return {"value": None, "display": f"not shown: fewer than {THRESHOLD} fingerprints", "fewer_than": THRESHOLD}


def count_cell(n: int) -> Cell:
    return Cell(EXACT, value=n) if n >= THRESHOLD else Cell(FEWER, bound=THRESHOLD)


def median_cell(minutes: float | None, measured: int) -> Cell:
    """A median over fewer than 10 fingerprints is close to one person's own timing: not shown."""
    if minutes is None or measured < THRESHOLD:
        return Cell(TOO_FEW, bound=THRESHOLD)
    return Cell(EXACT, value=round(minutes, 1))


@dataclass(frozen=True)
class PublishedMonth:
    month: date
    #: True for the current month: its figures cover the month so far.
    partial: bool
    cells: Mapping[str, Cell]


@dataclass(frozen=True)
class Published:
    now: datetime
    months: tuple[PublishedMonth, ...]
    #: The flows' totals over the period; levels (active fingerprints, partners) as now; and
    #: the median over the whole period.
    totals: Mapping[str, Cell]
    #: None when showing the breakdown would let someone work out a count under 10.
    holds_by_cause: Mapping[str, Cell] | None
    hold_outcomes: Mapping[str, Cell] | None

    def series(self, name: str) -> list[Cell]:
        return [month.cells[name] for month in self.months]

    def as_json(self) -> dict[str, object]:
        def breakdown(cells: Mapping[str, Cell] | None) -> dict[str, object]:
            if cells is None:
                return {"shown": False, "counts": None}
            return {"shown": True, "counts": {key: cell.as_json() for key, cell in cells.items()}}

        return {
            "format": 1,
            "as_of": self.now.replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z"),
            "months": [m.month.strftime("%Y-%m") for m in self.months],
            "suppression": {
                "threshold": THRESHOLD,
                "rule": (f"Counts from 0 to {THRESHOLD - 1} are published as 'fewer than {THRESHOLD}' with a null "
                         f"value. A total is published exactly only when it gives no such count away; otherwise as "
                         f"'at least' what is known. A breakdown that would give one away is not shown. A median "
                         f"over fewer than {THRESHOLD} fingerprints is not shown."),
            },
            "monthly": [
                {"month": m.month.strftime("%Y-%m"), "partial": m.partial,
                 **{name: cell.as_json() for name, cell in m.cells.items()}}
                for m in self.months
            ],
            "totals": {name: cell.as_json() for name, cell in self.totals.items()},
            "holds_by_cause": breakdown(self.holds_by_cause),
            "hold_outcomes": breakdown(self.hold_outcomes),
        }


#: Every per-month figure, in the order of the page and the JSON.
MONTHLY = ("cases_opened", "fingerprints_added", "withdrawals", "active_fingerprints", "partners_active",
           "median_minutes_to_first_fetch", "matches_reported", "holds")


def publish(figures: Figures) -> Published:
    months = []
    for index, month in enumerate(figures.months):
        cells = {name: count_cell(getattr(month, name)) for name in MONTHLY if name != "median_minutes_to_first_fetch"}
        cells["median_minutes_to_first_fetch"] = median_cell(month.median_minutes_to_first_fetch,
                                                             month.first_fetches_measured)
        months.append(PublishedMonth(month=month.month, partial=index == len(figures.months) - 1,
                                     cells={name: cells[name] for name in MONTHLY}))

    totals: dict[str, Cell] = {}
    for flow in FLOWS:
        if flow == "holds":
            continue
        totals[flow], _ = _protect(figures.total(flow), {"months": [getattr(m, flow) for m in figures.months]})
    # The period's holds are split three ways (by month, by cause, by outcome), all adding up to
    # the same total: the months are always shown, a breakdown only when it gives nothing away.
    totals["holds"], shown = _protect(
        figures.total("holds"),
        {"months": [m.holds for m in figures.months],
         "cause": [figures.holds_by_cause[c] for c in HOLD_CAUSES],
         "outcome": [figures.hold_outcomes[o] for o in HOLD_OUTCOMES]},
        optional=("cause", "outcome"),
    )
    now_cells = months[-1].cells
    totals["active_fingerprints"] = now_cells["active_fingerprints"]
    totals["partners_active"] = now_cells["partners_active"]
    totals["median_minutes_to_first_fetch"] = median_cell(figures.median_minutes_to_first_fetch,
                                                          figures.first_fetches_measured)
    return Published(
        now=figures.now,
        months=tuple(months),
        totals={name: totals[name] for name in MONTHLY},
        holds_by_cause=dict(zip(HOLD_CAUSES, shown["cause"], strict=True)) if "cause" in shown else None,
        hold_outcomes=dict(zip(HOLD_OUTCOMES, shown["outcome"], strict=True)) if "outcome" in shown else None,
    )


def transparency_public(*, months: int = DEFAULT_MONTHS, now: datetime | None = None) -> Published:
    """What the public page and its JSON show."""
    return publish(monthly_figures(months=months, now=now))


# --- Protection against subtraction ------------------------------------------------------------


def _protect(total: int, partitions: Mapping[str, Sequence[int]],
             optional: Iterable[str] = ()) -> tuple[Cell, dict[str, list[Cell]]]:
    """The published total of counts that `partitions` each split a different way (every
    partition adds up to `total`), and the partitions that may be shown.

    Each part under 10 is shown as "fewer than 10". The total is exact when some shown
    partition has no such part (it could be added up anyway); otherwise "fewer than 10" when
    it is under 10, else "at least" the most that the exact parts of one partition add up to
    (never less than 10). What a reader can then work out (`_pins_a_count`) must leave every
    hidden part at least two possible values; an optional partition that would not is left out
    altogether. A mandatory partition alone never pins one, by construction of the total."""
    optional = tuple(optional)
    shown: dict[str, Sequence[int]] = {name: parts for name, parts in partitions.items() if name not in optional}
    for name in optional:
        trial = {**shown, name: partitions[name]}
        if not _pins_a_count(total, trial):
            shown = trial
    return _total_cell(total, shown.values()), {name: [count_cell(n) for n in parts] for name, parts in shown.items()}


def _total_cell(total: int, partitions: Iterable[Sequence[int]]) -> Cell:
    partitions = list(partitions)
    if any(all(n >= THRESHOLD for n in parts) for parts in partitions):
        return count_cell(total)
    if total < THRESHOLD:
        return Cell(FEWER, bound=THRESHOLD)
    known = max(sum(n for n in parts if n >= THRESHOLD) for parts in partitions)
    return Cell(AT_LEAST, bound=max(known, THRESHOLD))


def _pins_a_count(total: int, partitions: Mapping[str, Sequence[int]]) -> bool:
    """Whether someone holding these published partitions and their published total could work
    out one suppressed part exactly. They know, per partition, the sum S of the exact parts and
    the number k of suppressed ones, each from 0 to 9, and that every partition adds up to the
    same total; the total's own cell bounds it further. The total therefore lies in the
    intersection of [S, S + 9k] over the partitions, and a suppressed part of a partition in
    [max(0, lo - S - 9(k-1)), min(9, hi - S)]: one value there is a count given away."""
    cell = _total_cell(total, partitions.values())
    low, high = 0, math.inf
    if cell.kind == EXACT:
        low = high = total
    elif cell.kind == FEWER:
        high = THRESHOLD - 1
    else:
        low = cell.bound or THRESHOLD
    summaries = []
    for parts in partitions.values():
        exact_sum = sum(n for n in parts if n >= THRESHOLD)
        hidden = sum(1 for n in parts if n < THRESHOLD)
        summaries.append((exact_sum, hidden))
        low, high = max(low, exact_sum), min(high, exact_sum + (THRESHOLD - 1) * hidden)
    for exact_sum, hidden in summaries:
        if hidden == 0:
            continue
        smallest = max(0, low - exact_sum - (THRESHOLD - 1) * (hidden - 1))
        largest = min(THRESHOLD - 1, high - exact_sum)
        if smallest >= largest:
            return True
    return False
