"""Reads from the bank. Views call these; nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from hashbank import references
from hashbank.feed import delivery
from hashbank.feed.delivery import Reach
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
from hashbank.models.feed import FeedOp


def case_open(*, reference: str, pin: str) -> Case | None:
    """The case this reference and PIN open, or None.

    The answer and the work are the same whether the case is missing, deleted or the PIN is
    wrong: a malformed or unknown reference still costs one Argon2 verification, so neither
    the reply nor its timing tells a guesser that a case exists. Rate limits are the caller's
    (the status page counts failures per case and per address)."""
    normalised = references.reference_normalise(reference)
    clean_pin = references.pin_normalise(pin) or ""
    case = None
    if normalised is not None:
        case = (
            Case.objects.filter(reference_digest=references.reference_digest(normalised))
            .exclude(status=Case.Status.DELETED)
            .first()
        )
    if case is None or not case.pin_hash:
        references.pin_dummy_verify(clean_pin)
        return None
    # Verify even a malformed PIN (it can never match: stored PINs are six digits), so an
    # existing case costs the same Argon2 work as a missing one; a short cut here let a
    # found reference be confirmed as live by timing alone (issue 11).
    matched = references.pin_verify(case.pin_hash, clean_pin)
    if not clean_pin or not matched:
        return None
    return case


def case_by_reference(*, reference: str) -> Case | None:
    """The case a reference names, without a PIN: only for counting failed attempts per case
    (issue 4's limits). Never use it to grant access."""
    normalised = references.reference_normalise(reference)
    if normalised is None:
        return None
    return Case.objects.filter(reference_digest=references.reference_digest(normalised)).first()


def case_timeline(*, case: Case) -> QuerySet[CaseEvent]:
    """Oldest first. Each event's `data` holds counts and outcomes only."""
    return CaseEvent.objects.filter(case=case).order_by("at", "pk")


def case_files(*, case: Case) -> QuerySet[CaseFile]:
    """The case's files, oldest first, each with `fingerprint_count` (all of the file's
    fingerprints) and `active_count` (those currently in the feed)."""
    return (
        CaseFile.objects.filter(case=case)
        .annotate(
            fingerprint_count=Count("fingerprints"),
            active_count=Count("fingerprints", filter=Q(fingerprints__status=Fingerprint.Status.ACTIVE)),
        )
        .order_by("added_at", "pk")
    )


def case_fingerprint_counts(*, case: Case) -> dict[str, int]:
    """{"total", "active", "withdrawn", "held"} for the status page."""
    rows = dict(
        Fingerprint.objects.filter(case=case).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    counts = {status: rows.get(status, 0) for status in Fingerprint.Status.values}
    counts["total"] = sum(rows.values())
    return counts


def case_match_counts(*, case: Case) -> dict[str, int]:
    """Partner outcomes for this case's fingerprints, by outcome (for caseworker lists)."""
    rows = (
        PartnerFeedback.objects.filter(fingerprint__case=case)
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .values_list("outcome", "n")
    )
    return {outcome: n for outcome, n in rows}


def partners_public_list() -> QuerySet[Partner]:
    """Active partners that agreed to be named, for the survivor start page."""
    return Partner.objects.filter(is_active=True, listed_publicly=True).order_by("public_name", "name")


def _with_evidence(fingerprints: QuerySet[Fingerprint]) -> QuerySet[Fingerprint]:
    """What a reviewer weighs: why it was held, its case's origin, and the partners' reports
    (false matches; all match reports, and from how many partners, in the last 24 hours)."""
    latest_hold = (
        FingerprintReview.objects.filter(fingerprint=OuterRef("pk"), action=FingerprintReview.Action.HELD)
        .order_by("-at", "-pk")
    )
    day = timezone.now() - timedelta(days=1)
    return fingerprints.annotate(
        hold_reason=Subquery(latest_hold.values("reason")[:1]),
        hold_cause=Subquery(latest_hold.values("cause")[:1]),
        origin=F("case__origin"),
        false_match_partners=Count(
            "feedback__partner", filter=Q(feedback__outcome=PartnerFeedback.Outcome.FALSE_MATCH), distinct=True
        ),
        reports_day=Count("feedback", filter=Q(feedback__received_at__gt=day), distinct=True),
        partners_day=Count("feedback__partner", filter=Q(feedback__received_at__gt=day), distinct=True),
    ).select_related("case_file")


def fingerprints_held() -> QuerySet[Fingerprint]:
    """The staff review queue, oldest first, with the evidence (see _with_evidence). Carries
    no reference, PIN or feed token: staff review a value, not a person."""
    return _with_evidence(Fingerprint.objects.filter(status=Fingerprint.Status.HELD)).order_by("created_at", "pk")


def fingerprints_reported() -> QuerySet[Fingerprint]:
    """Still shared, but a partner reported a false match since a reviewer last cleared it (or
    ever, if none did): staff may mark one harmless."""
    last_cleared = (
        FingerprintReview.objects.filter(fingerprint=OuterRef(OuterRef("pk")), action=FingerprintReview.Action.CLEARED)
        .order_by("-at").values("at")[:1]
    )
    reported = PartnerFeedback.objects.filter(fingerprint=OuterRef("pk"), outcome=PartnerFeedback.Outcome.FALSE_MATCH)
    never = Value(datetime(1970, 1, 1, tzinfo=UTC), output_field=DateTimeField())
    since_cleared = reported.filter(received_at__gt=Coalesce(Subquery(last_cleared), never))
    return _with_evidence(
        Fingerprint.objects.filter(status=Fingerprint.Status.ACTIVE).filter(Exists(since_cleared))
    ).order_by("created_at", "pk")


# --- Delivery to partner platforms (issue 14) ------------------------------------------------

#: Positions of one file closer than this are checked as one range: any partner following the
#: feed has fetched what lies between them (other cases' entries published at the same time).
RANGE_GAP = 1000


@dataclass(frozen=True)
class CaseDelivery:
    """What the status pages say about partners: per file (its fingerprints while it is
    active, its withdrawal once withdrawn), per publication on the timeline (by event id), and
    for the whole case. A value is None where nothing was published to fetch; the whole object
    is None when delivery is not being recorded (settings.FEED_DELIVERY_RECORDING)."""

    files: dict[str, Reach | None]
    events: dict[int, Reach | None]
    case: Reach | None


def case_delivery(*, case: Case, events: Sequence[CaseEvent] = ()) -> CaseDelivery | None:
    """Which partner platforms have fetched this case's fingerprints and withdrawals, read from
    what was served to their keys (hashbank.feed.delivery). `events`: the timeline's events,
    whose publications ("added to the list", "withdrawal added") are counted too."""
    from django.conf import settings

    if not settings.FEED_DELIVERY_RECORDING:
        return None
    fingerprints = list(Fingerprint.objects.filter(case=case).values_list("public_id", "status", "case_file__public_id",
                                                                          "case_file__status"))
    latest: dict[str, tuple[int, str]] = {}
    for key, position, op in FeedEntry.objects.filter(fingerprint_key__in=[f[0] for f in fingerprints]).values_list(
        "fingerprint_key", "position", "op"
    ):
        if key not in latest or position > latest[key][0]:
            latest[key] = (position, op)
    # A file's fingerprints while it is active (those in the feed now); its tombstones once it
    # is withdrawn (pruned after FEED_RETENTION_DAYS: the timeline's event still counts then).
    per_file: dict[str, list[int]] = {}
    for key, status, file_id, file_status in fingerprints:
        per_file.setdefault(file_id, [])
        entry = latest.get(key)
        if entry is None:
            continue
        wanted = (FeedOp.ADD, Fingerprint.Status.ACTIVE) if file_status == CaseFile.Status.ACTIVE else (
            FeedOp.WITHDRAW, Fingerprint.Status.WITHDRAWN)
        if (entry[1], status) == wanted:
            per_file[file_id].append(entry[0])
    published = [e for e in events if e.kind in (CaseEvent.Kind.SHARED_WITH_PARTNERS, CaseEvent.Kind.WITHDRAWAL_SHARED)
                 and isinstance(e.data, dict) and isinstance(e.data.get("first"), int)
                 and isinstance(e.data.get("last"), int)]
    # The whole case: its files in the list while it is active (not the withdrawals of files
    # withdrawn on the way), their withdrawals once the case is withdrawn.
    file_active = {file_id: file_status == CaseFile.Status.ACTIVE for _, _, file_id, file_status in fingerprints}
    all_positions = [p for file_id, positions in per_file.items() if file_active[file_id] == case.is_active
                     for p in positions]
    groups = ([_ranges(positions) for positions in per_file.values()]
              + [[(e.data["first"], e.data["last"])] for e in published]
              + [_ranges(all_positions)])
    reached = delivery.reach(groups)
    files = dict(zip(per_file, reached[:len(per_file)], strict=True))
    by_event = dict(zip((e.pk for e in published), reached[len(per_file):-1], strict=True))
    return CaseDelivery(files=files, events=by_event, case=reached[-1])


def _ranges(positions: Sequence[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for position in sorted(positions):
        if ranges and position - ranges[-1][1] <= RANGE_GAP:
            ranges[-1] = (ranges[-1][0], position)
        else:
            ranges.append((position, position))
    return ranges
