"""The evidence document: what a partner files to show which list it used and how fresh it was
(GET /api/v1/evidence, docs/feed.md "Evidence for the regulator").

Signed like every feed document (canonical JSON, Ed25519 over its exact bytes, `kind` and
`format`), so a regulator checks it with the same verifier the platform uses for the feed
(`python -m hashbank.feedformat keys.json headers.txt evidence.json`).

It holds one partner's figures and nothing of any other partner's: the partner is always the
one whose key made the request (the view passes nothing else). Feedback and the list's review
figures are for the period asked for; what the partner fetched is since its first fetch, as
kept by hashbank.feed.progress from the pages actually served. Hosted lookups (POST
/api/v1/lookup) are counted per day for the period (hashbank.lookup.tally; only counts, never
the hashes), carried over from Redis just before the document is made.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from hashbank.feed.head import head_read
from hashbank.feed.signing import sign
from hashbank.feedformat.canonical import EVIDENCE_KIND, FORMAT_VERSION, entry_bytes, format_time
from hashbank.lookup.tally import lookup_tally_flush
from hashbank.models import (
    FeedEntry,
    Fingerprint,
    FingerprintReview,
    LookupTally,
    Partner,
    PartnerFeedback,
    PartnerProgress,
)

logger = logging.getLogger(__name__)

#: A year, a leap day included: enough for an annual report, small enough that a request
#: cannot ask the database to aggregate the whole history at once.
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: A review whose cause was not recorded (nor that of the hold it decided).
UNRECORDED = "unrecorded"


class BadPeriod(ValueError):
    """The period asked for cannot be answered: unreadable, reversed, too long, or in the future."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight UTC after the last day."""
        return datetime.combine(self.last, time.min, tzinfo=UTC) + timedelta(days=1)


@dataclass(frozen=True)
class SignedEvidence:
    document: dict[str, Any]
    body: bytes
    kid: str
    signature: str


def _parse_date(name: str, raw: str) -> date:
    if not DATE_RE.fullmatch(raw):
        raise BadPeriod(f"{name} must be a date written YYYY-MM-DD (UTC)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadPeriod(f"{name} ({raw}) is not a date in the calendar") from None


def evidence_period(raw_from: str | None, raw_to: str | None, *, today: date | None = None) -> Period:
    """The period [from, to] in whole UTC days, both included. Without `to`: up to today; without
    `from`: the DEFAULT_PERIOD_DAYS days ending on `to`."""
    today = today or timezone.now().astimezone(UTC).date()
    last = today if raw_to is None else _parse_date("to", raw_to)
    if raw_from is not None:
        first = _parse_date("from", raw_from)
    else:
        try:
            first = last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        except OverflowError:  # a `to` in the first days of year 1
            first = date.min
    if first > last:
        raise BadPeriod(f"from ({first.isoformat()}) is after to ({last.isoformat()})")
    if last > today:
        raise BadPeriod(f"to ({last.isoformat()}) is in the future: today is {today.isoformat()} (UTC)")
    period = Period(first, last)
    if period.days > MAX_PERIOD_DAYS:
        raise BadPeriod(f"a period is at most {MAX_PERIOD_DAYS} days; {first.isoformat()} to {last.isoformat()} "
                        f"is {period.days}: ask for it a year at a time")
    return period


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _by_cause(rows: dict[tuple[str, str], int], action: str) -> dict[str, int]:
    figures = {cause: rows.get((action, cause), 0) for cause in [*FingerprintReview.Cause.values, UNRECORDED]}
    figures["total"] = sum(n for (each, _), n in rows.items() if each == action)
    return figures


def _review_figures(period: Period) -> dict[tuple[str, str], int]:
    """{(action, cause): count} of the reviews in the period. A review records its own cause
    when it has one (a hold always should; marking harmless does); otherwise it is counted
    under the cause of the latest hold of the same fingerprint before it, which is what a
    clearing or a removal decided."""
    hold_before = (
        FingerprintReview.objects.filter(fingerprint=OuterRef("fingerprint"), action=FingerprintReview.Action.HELD,
                                         at__lte=OuterRef("at"))
        .order_by("-at", "-pk").values("cause")[:1]
    )
    rows = (
        FingerprintReview.objects.filter(at__gte=period.start, at__lt=period.end)
        .annotate(effective=Coalesce(NullIf("cause", Value("")), NullIf(Subquery(hold_before), Value("")),
                                     Value(UNRECORDED)))
        .values("action", "effective").annotate(n=Count("pk")).order_by()
    )
    return {(row["action"], row["effective"]): row["n"] for row in rows}


def evidence_document(*, partner: Partner, period: Period, now: datetime | None = None) -> dict[str, Any]:
    """The figures for `partner` (the key's own partner, never one named in the request)."""
    now = now or timezone.now()
    head = head_read()
    progress = PartnerProgress.objects.filter(partner=partner).first() or PartnerProgress(partner=partner)
    oldest_unfetched = None
    if progress.position < head.position:
        # When the oldest entry it has not received was published: how stale its copy may be.
        oldest_unfetched = (FeedEntry.objects.filter(position__gt=progress.position).order_by("position")
                            .values_list("published_at", flat=True).first())
    feedback = dict(
        PartnerFeedback.objects.filter(partner=partner, received_at__gte=period.start, received_at__lt=period.end)
        .values_list("outcome").annotate(n=Count("pk")).order_by()
    )
    reviews = _review_figures(period)
    lookups = _lookup_figures(partner, period)
    seconds = int((now - progress.position_at).total_seconds()) if progress.position_at else None
    # Insertion order is the order people read (the CSV); the signed JSON sorts its keys.
    return {
        "format": FORMAT_VERSION,
        "kind": EVIDENCE_KIND,
        "partner": partner.name,
        "issued_at": format_time(now),
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "days": period.days},
        "checkpoint": {"version": progress.checkpoint_version, "head_position": progress.checkpoint_head,
                       "fetched_at": _time(progress.checkpoint_at)},
        "head": {"position": head.position, "checkpoint_version": head.checkpoint_version},
        "behind": {"entries": max(0, head.position - progress.position), "seconds_since_last_page": seconds,
                   "oldest_unfetched_published_at": _time(oldest_unfetched)},
        "fetched": {"position": progress.position, "last_page_at": _time(progress.position_at),
                    "first_fetch_at": _time(progress.first_fetch_at), "additions": progress.additions_fetched,
                    "withdrawals": progress.withdrawals_fetched},
        "feedback": {**{outcome: feedback.get(outcome, 0) for outcome in PartnerFeedback.Outcome.values},
                     "total": sum(feedback.values())},
        "lookups": lookups,
        "list": {
            "held": _by_cause(reviews, FingerprintReview.Action.HELD),
            "cleared": _by_cause(reviews, FingerprintReview.Action.CLEARED),
            "removed": _by_cause(reviews, FingerprintReview.Action.REMOVED),
            "active_fingerprints": Fingerprint.objects.filter(status=Fingerprint.Status.ACTIVE).count(),
        },
    }


def _lookup_figures(partner: Partner, period: Period) -> dict[str, int]:
    """The partner's hosted lookups on the days of the period: requests answered, hashes asked
    about and hashes that matched."""
    try:
        lookup_tally_flush(partner_id=partner.pk)
    except Exception as error:  # Redis down: the figures saved by the last sweep (a minute old)
        logger.warning("evidence: lookup counts not carried over from Redis: %s: %s", type(error).__name__, error)
    totals = LookupTally.objects.filter(partner=partner, day__gte=period.first, day__lte=period.last).aggregate(
        requests=Coalesce(Sum("requests"), 0), hashes=Coalesce(Sum("hashes"), 0), matched=Coalesce(Sum("matched"), 0))
    return {name: int(totals[name]) for name in ("requests", "hashes", "matched")}


def evidence_signed(*, partner: Partner, period: Period, now: datetime | None = None) -> SignedEvidence:
    document = evidence_document(partner=partner, period=period, now=now)
    body = entry_bytes(document)
    kid, signature = sign(body)
    return SignedEvidence(document=document, body=body, kid=kid, signature=signature)


def evidence_rows(document: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(section, name, value), one figure a row: top-level values under "document", nested
    ones under their section with a dotted name ("list", "held.volume")."""
    for key, value in document.items():
        if isinstance(value, dict):
            yield from ((key, name, leaf) for name, leaf in _leaves(value, ""))
        else:
            yield "document", key, value


def _leaves(mapping: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # A spreadsheet would run a cell starting with one of these as a formula (CSV injection);
    # only free text (the partner's name) can, and it is quoted as text.
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def evidence_csv(document: dict[str, Any]) -> str:
    """The same figures for people: a header row, then section,name,value. Not signed: the
    signed JSON is the evidence; this is its reading copy."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "name", "value"])
    for section, name, value in evidence_rows(document):
        writer.writerow([section, name, _cell(value)])
    return out.getvalue()
