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

from hashbank import selectors as bank
from hashbank.models import Case, CaseEvent, Fingerprint, PartnerFeedback
from portal.caseworkers.models import AssistedCase, AuditEvent, CaseNote, Membership, Organisation


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
        return "Deleted by the client"
    if case_status == Case.Status.WITHDRAWN:
        return "Withdrawn by the client"
    if matches:
        return "Matches reported"
    if shared:
        return "Shared with partners"
    return "Received, not yet shared"


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


def case_events(*, assisted_case: AssistedCase) -> QuerySet[CaseEvent]:
    """The same timeline the client sees with their reference and PIN."""
    return bank.case_timeline(case=assisted_case.case)


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
