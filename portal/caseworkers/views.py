"""Helpline pages. Each view: parse, authorise through access.py, call one service, render."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from hashbank import selectors as bank
from hashbank.fingerprints import FingerprintError
from portal.caseworkers import selectors, services
from portal.caseworkers.access import caseworker_case_get, caseworker_required, lead_required, methods
from portal.caseworkers.exports import audit_csv
from portal.caseworkers.forms import HandoverForm, NoteForm
from portal.caseworkers.models import CaseNote
from portal.caseworkers.signin import recovery_codes_issue, recovery_codes_left
from portal.survivor import presenters
from portal.survivor.wire import SubmissionError, parse_submission

logger = logging.getLogger(__name__)


@caseworker_required
@methods("GET", "HEAD")
def cases(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    rows, page = selectors.assisted_cases_page(
        organisation=membership.organisation, user=request.user, page_number=request.GET.get("page", 1)
    )
    services.cases_listed(membership=membership)
    return render(request, "caseworkers/cases.html", {"rows": rows, "page": page})


@caseworker_required
@methods("GET", "HEAD")
def case_new(request: HttpRequest) -> HttpResponse:
    return render(request, "caseworkers/case_new.html")


@caseworker_required
@methods("POST")
def case_new_submit(request: HttpRequest) -> HttpResponse:
    """Fingerprints from the page (JSON, the survivor journey's exact shape); the answer holds
    the reference and PIN for the client, once."""
    try:
        files = parse_submission(request)
        receipt = services.assisted_case_create(membership=request.membership, files=files)
    except SubmissionError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    except FingerprintError as error:
        return JsonResponse(
            {"error": _("Some fingerprints were not accepted, so nothing was saved. (%(detail)s)") % {"detail": error}},
            status=400,
        )
    return JsonResponse(
        {
            "reference": receipt.reference,
            "pin": receipt.pin,
            "case_url": reverse("caseworkers:case", kwargs={"case_id": receipt.assisted_case.public_id}),
        },
        status=201,
    )


@caseworker_required
@methods("GET", "HEAD")
def case_detail(request: HttpRequest, case_id: str) -> HttpResponse:
    assisted = caseworker_case_get(user=request.user, case_id=case_id)
    return _render_case(request, assisted)


def _render_case(
    request: HttpRequest, assisted, *, note_form: NoteForm | None = None, handover_form: HandoverForm | None = None
) -> HttpResponse:
    """Every page that shows a case's content comes through here, so every look is audited."""
    membership = request.membership
    services.case_viewed(membership=membership, assisted_case=assisted)
    notes = list(selectors.case_notes(assisted_case=assisted))
    now = timezone.now()
    for note in notes:
        note.editable = services.note_editable(note=note, user=request.user, now=now)
    colleague_choices = selectors.colleagues(
        organisation=membership.organisation, exclude_user_id=assisted.assigned_to_id
    )
    can_hand_over = bool(colleague_choices) and (membership.is_lead or assisted.assigned_to_id == request.user.pk)
    # The same facts about partner platforms as the client's status page (issue 14).
    events = list(bank.case_timeline(case=assisted.case))
    delivery = bank.case_delivery(case=assisted.case, events=events)
    return render(
        request,
        "caseworkers/case_detail.html",
        {
            "assisted": assisted,
            "summary": selectors.case_summary(assisted_case=assisted),
            "events": selectors.case_events(assisted_case=assisted, events=events, delivery=delivery),
            "files": presenters.file_entries(list(bank.case_files(case=assisted.case)), delivery),
            "reach": presenters.reach_text(delivery.case if delivery else None,
                                           withdrawal=not assisted.case.is_active),
            "reach_code": presenters.reach_code(delivery.case if delivery else None),
            "notes": notes,
            "note_form": note_form or NoteForm(),
            "handover_form": handover_form or HandoverForm(colleagues=colleague_choices),
            "can_hand_over": can_hand_over,
        },
    )


@caseworker_required
@methods("POST")
def note_add(request: HttpRequest, case_id: str) -> HttpResponse:
    assisted = caseworker_case_get(user=request.user, case_id=case_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_add(membership=request.membership, assisted_case=assisted, text=form.cleaned_data["text"])
        except services.CaseworkerError as error:
            form.add_error("text", str(error))
        else:
            messages.success(request, _("Note added."))
            return redirect("caseworkers:case", case_id=assisted.public_id)
    return _render_case(request, assisted, note_form=form)


@caseworker_required
@methods("GET", "POST")
def note_edit(request: HttpRequest, case_id: str, note_id: int) -> HttpResponse:
    assisted = caseworker_case_get(user=request.user, case_id=case_id)
    note = CaseNote.objects.filter(pk=note_id, assisted_case=assisted).select_related("assisted_case").first()
    if note is None or note.author_id != request.user.pk:
        raise Http404
    if not services.note_editable(note=note, user=request.user):
        messages.error(request, _("This note can no longer be changed. Add a new note instead."))
        return redirect("caseworkers:case", case_id=assisted.public_id)
    form = NoteForm(request.POST or None, initial={"text": note.text})
    if request.method == "GET":
        services.case_viewed(membership=request.membership, assisted_case=assisted)
    if request.method == "POST" and form.is_valid():
        try:
            services.note_edit(membership=request.membership, note=note, text=form.cleaned_data["text"])
        except services.CaseworkerError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Note changed."))
        return redirect("caseworkers:case", case_id=assisted.public_id)
    return render(request, "caseworkers/note_edit.html", {"assisted": assisted, "note": note, "form": form})


@caseworker_required
@methods("POST")
def handover(request: HttpRequest, case_id: str) -> HttpResponse:
    assisted = caseworker_case_get(user=request.user, case_id=case_id)
    choices = selectors.colleagues(
        organisation=request.membership.organisation, exclude_user_id=assisted.assigned_to_id
    )
    form = HandoverForm(request.POST, colleagues=choices)
    if form.is_valid():
        try:
            services.case_handover(
                membership=request.membership, assisted_case=assisted, to_user_id=int(form.cleaned_data["to"])
            )
        except services.CaseworkerError as error:
            form.add_error("to", str(error))
        else:
            messages.success(request, _("The case has been handed over."))
            return redirect("caseworkers:case", case_id=assisted.public_id)
    return _render_case(request, assisted, handover_form=form)


@lead_required
@methods("GET", "HEAD")
def audit(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    case_id = request.GET.get("case")
    case_public_id = None
    if case_id:
        # A lead may filter by any case of theirs; the accessor says "not found" otherwise.
        case_public_id = caseworker_case_get(user=request.user, case_id=case_id, lead_only=True).public_id
    services.audit_viewed(membership=membership)
    events = selectors.audit_events(organisation=membership.organisation, case_public_id=case_public_id)[:500]
    return render(request, "caseworkers/audit.html", {"events": events, "case_public_id": case_public_id})


@lead_required
@methods("GET", "HEAD")
def audit_export(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    services.audit_viewed(membership=membership, exported=True)
    body = audit_csv(selectors.audit_events(organisation=membership.organisation).iterator())
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


@caseworker_required
@methods("GET", "HEAD")
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "caseworkers/account.html", {"recovery_left": recovery_codes_left(request.user)})


@caseworker_required
@methods("POST")
def recovery_codes_new(request: HttpRequest) -> HttpResponse:
    codes = recovery_codes_issue(request.user)
    return render(request, "caseworkers/recovery_codes.html", {"codes": codes, "next": "caseworkers:account"})
