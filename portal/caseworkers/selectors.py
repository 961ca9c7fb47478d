"""Reads for helpline pages. Every query here is scoped to one organisation by its caller,
which got that organisation from the accessor or the signed-in membership."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from hashbank import selectors as bank
from hashbank.feed.delivery import exact_time
from hashbank.models import Case, CaseEvent, Fingerprint, PartnerFeedback
from portal.caseworkers.models import AssistedCase, AuditEvent, CaseNote, Membership, Organisation
from portal.survivor import presenters


@dataclass(frozen=True)
class CaseRow:
    public_id: uuid.UUID
    status: str
    status_label: str
    can_open: bool
    matches: int
    fingerprints: int
    last_activity_at: datetime
    created_at: datetime
    assigned_to: str
    assigned_to_me: bool


def _status_label(case_status: str, matches: int, shared: bool) -> str:
    if case_status == Case.Status.DELETED:
        return _("Deleted by the client")
    if case_status == Case.Status.WITHDRAWN:
        return _("Withdrawn by the client")
    if matches:
        return _("Matches reported")
    if shared:
        return _("Shared with partners")
    return _("Received, not yet shared")


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """A correlated COUNT subquery: one query for the whole list, and no row multiplication
    from joining events, fingerprints and feedback together."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


CASES_PER_PAGE = 50


def assisted_cases_page(
    *, organisation: Organisation, user: AbstractBaseUser, page_number: object = 1, per_page: int = CASES_PER_PAGE
) -> tuple[list[CaseRow], Page]:
    """One page of the organisation's assisted cases, most recently active first, with what a
    caseworker needs at a glance. Counts come from correlated subqueries in the one query for
    the page, so a page costs the same number of queries however many cases there are."""
    cases = (
        AssistedCase.objects.filter(organisation=organisation)
        .select_related("case", "assigned_to")
        .annotate(
            matches=_count(PartnerFeedback.objects.filter(fingerprint__case=OuterRef("case_id")), "fingerprint__case"),
            shared=_count(
                CaseEvent.objects.filter(case=OuterRef("case_id"), kind=CaseEvent.Kind.SHARED_WITH_PARTNERS), "case"
            ),
            fingerprint_count=_count(
                Fingerprint.objects.filter(case=OuterRef("case_id"), status=Fingerprint.Status.ACTIVE), "case"
            ),
        )
        .order_by("-case__last_activity_at", "-pk")
    )
    page = Paginator(cases, per_page).get_page(page_number)
    rows = [
        CaseRow(
            public_id=row.public_id,
            status=row.case.status,
            status_label=_status_label(row.case.status, row.matches, bool(row.shared)),
            can_open=row.case.status == Case.Status.ACTIVE,
            matches=row.matches,
            fingerprints=row.fingerprint_count,
            last_activity_at=row.case.last_activity_at,
            created_at=row.created_at,
            assigned_to=row.assigned_to.get_username(),
            assigned_to_me=row.assigned_to_id == user.pk,
        )
        for row in page.object_list
    ]
    return rows, page


def case_summary(*, assisted_case: AssistedCase) -> CaseRow:
    case = assisted_case.case
    matches = sum(bank.case_match_counts(case=case).values())
    shared = CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.SHARED_WITH_PARTNERS).exists()
    return CaseRow(
        public_id=assisted_case.public_id,
        status=case.status,
        status_label=_status_label(case.status, matches, shared),
        can_open=case.status == Case.Status.ACTIVE,
        matches=matches,
        fingerprints=bank.case_fingerprint_counts(case=case)["active"],
        last_activity_at=case.last_activity_at,
        created_at=assisted_case.created_at,
        assigned_to=assisted_case.assigned_to.get_username(),
        assigned_to_me=False,
    )


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    label: str
    outcome: str
    # For a publication: which partner platforms have fetched it so far (the client's words).
    reach: str = ""
    reach_code: str = ""
    # A partner's fetch older than the delivery marks keep to the minute: its date only.
    date_only: bool = False


#: The words for the bank's timeline events and partners' outcomes on the case page. The bank
#: keeps its own labels as English data (the kind and outcome codes are what it stores); these
#: are the same words, translated for the caseworker's language.
EVENT_LABELS = {
    CaseEvent.Kind.RECEIVED: pgettext_lazy("case event", "received"),
    CaseEvent.Kind.SHARED_WITH_PARTNERS: pgettext_lazy("case event", "shared with partners"),
    CaseEvent.Kind.FILES_ADDED: pgettext_lazy("case event", "files added"),
    CaseEvent.Kind.FILE_WITHDRAWN: pgettext_lazy("case event", "file withdrawn"),
    CaseEvent.Kind.WITHDRAWN: pgettext_lazy("case event", "case withdrawn"),
    CaseEvent.Kind.WITHDRAWAL_SHARED: pgettext_lazy("case event", "withdrawal sent to partners"),
    CaseEvent.Kind.MATCH_REPORTED: pgettext_lazy("case event", "match reported by a partner"),
    CaseEvent.Kind.FINGERPRINT_HELD: pgettext_lazy("case event", "fingerprint paused for review"),
    CaseEvent.Kind.FINGERPRINT_RESTORED: pgettext_lazy("case event", "fingerprint back in the feed"),
    CaseEvent.Kind.FINGERPRINT_REMOVED: pgettext_lazy("case event", "fingerprint removed after review"),
}
OUTCOME_LABELS = {
    PartnerFeedback.Outcome.PENDING_REVIEW: pgettext_lazy("match outcome", "pending review"),
    PartnerFeedback.Outcome.BLOCKED: pgettext_lazy("match outcome", "blocked"),
    PartnerFeedback.Outcome.NOT_BLOCKED: pgettext_lazy("match outcome", "not blocked"),
    PartnerFeedback.Outcome.FALSE_MATCH: pgettext_lazy("match outcome", "false match"),
}


#: The moments partner platforms fetched a publication (portal.survivor.presenters.fetch_moments).
FETCH_LABELS = {
    presenters.FETCHED_FIRST: pgettext_lazy("case event", "fetched by a first partner platform"),
    presenters.FETCHED_ALL: pgettext_lazy("case event", "fetched by every partner platform"),
    presenters.WITHDRAWAL_FETCHED_FIRST: pgettext_lazy("case event", "withdrawal fetched by a first partner platform"),
    presenters.WITHDRAWAL_FETCHED_ALL: pgettext_lazy("case event", "withdrawal fetched by every partner platform"),
}


def case_events(*, assisted_case: AssistedCase, events: list[CaseEvent] | None = None,
                delivery: bank.CaseDelivery | None = None) -> list[TimelineRow]:
    """The same timeline the client sees with their reference and PIN, in the caseworker's
    words (a kind the bank adds later shows the bank's own label until it is translated), with
    the same facts about partner platforms: who has fetched each publication, and when the
    first and the last did."""
    events = list(bank.case_timeline(case=assisted_case.case)) if events is None else events
    rows: list[tuple[datetime, int, TimelineRow]] = []
    for order, event in enumerate(events):
        outcome = event.data.get("outcome") if isinstance(event.data, dict) else None
        outcome = outcome if isinstance(outcome, str) else ""
        reach = delivery.events.get(event.pk) if delivery else None
        rows.append((event.at, order, TimelineRow(
            at=event.at,
            label=str(EVENT_LABELS.get(event.kind, event.get_kind_display())),
            outcome=str(OUTCOME_LABELS.get(outcome, outcome)),
            reach=presenters.reach_text(reach, withdrawal=event.kind == CaseEvent.Kind.WITHDRAWAL_SHARED),
            reach_code=presenters.reach_code(reach),
        )))
        for at, kind in presenters.fetch_moments(event, reach):
            rows.append((at, order, TimelineRow(at=at, label=str(FETCH_LABELS[kind]), outcome="",
                                                date_only=not exact_time(at))))
    return [row for _, _, row in sorted(rows, key=lambda item: (item[0], item[1]))]


def case_notes(*, assisted_case: AssistedCase) -> QuerySet[CaseNote]:
    return CaseNote.objects.filter(assisted_case=assisted_case).select_related("author").order_by("created_at", "pk")


def colleagues(*, organisation: Organisation, exclude_user_id: int | None = None) -> list[tuple[int, str]]:
    """Active members of the organisation a case can be handed to."""
    members = (
        Membership.objects.filter(organisation=organisation, user__is_active=True)
        .exclude(user_id=exclude_user_id)
        .select_related("user")
        .order_by("user__username")
    )
    return [(m.user_id, m.user.get_username()) for m in members]


def audit_events(*, organisation: Organisation, case_public_id: uuid.UUID | None = None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(organisation=organisation).select_related("actor")
    if case_public_id is not None:
        events = events.filter(case_public_id=case_public_id)
    return events.order_by("-at", "-pk")
