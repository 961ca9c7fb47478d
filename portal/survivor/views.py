"""Survivor pages. Each view parses, authorises through `access`, calls one hashbank service,
and renders. Every page here is `Cache-Control: no-store`: a shared computer's back button or
cache must not show a case, a receipt or even the fact that someone visited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from hashbank import selectors, services
from hashbank.fingerprints import FingerprintError
from portal.clientaddr import client_address
from portal.survivor import limits, presenters, throttle
from portal.survivor.access import access_session_case, session_case_forget, session_case_open
from portal.survivor.forms import EligibilityForm, OpenCaseForm
from portal.survivor.wire import SubmissionError, parse_submission

logger = logging.getLogger(__name__)

#: Set once eligibility and consent are given; a case can then be created from this session.
SESSION_CONSENT_KEY = "survivor_consent"


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return wraps(view)(never_cache(view))


def _json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def _rate_limited(refused: limits.Refused) -> JsonResponse:
    minutes = _minutes(refused.retry_after)
    response = JsonResponse(
        {
            "error": ngettext(
                "Many cases were started from your connection recently, so please wait %(minutes)d minute "
                "and try again. Nothing was saved yet. A helpline can also make a case with you now.",
                "Many cases were started from your connection recently, so please wait %(minutes)d minutes "
                "and try again. Nothing was saved yet. A helpline can also make a case with you now.",
                minutes,
            ) % {"minutes": minutes},
            "code": "rate_limited",
            "retry_after": refused.retry_after,
        },
        status=429,
    )
    response["Retry-After"] = str(refused.retry_after)
    return response


def _busy_page(request: HttpRequest, refused: limits.Refused) -> HttpResponse:
    response = render(request, "survivor/busy.html", {"minutes": _minutes(refused.retry_after)}, status=429)
    response["Retry-After"] = str(refused.retry_after)
    return response


# --- Before a case exists ----------------------------------------------------------------


@no_store
@require_http_methods(["GET", "POST"])
def eligibility(request: HttpRequest) -> HttpResponse:
    form = EligibilityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.is_under_18():
            return render(request, "survivor/under_18.html")
        refused = limits.consent_take(client_address(request))
        if refused is not None:
            return _busy_page(request, refused)
        request.session[SESSION_CONSENT_KEY] = True
        return redirect("survivor:new_case")
    return render(request, "survivor/eligibility.html", {"form": form})


@no_store
def new_case(request: HttpRequest) -> HttpResponse:
    if not request.session.get(SESSION_CONSENT_KEY):
        return redirect("survivor:eligibility")
    return render(
        request,
        "survivor/new_case.html",
        {"flow_mode": "create", "flow_submit_url": reverse("survivor:api_case_create")},
    )


@no_store
@require_POST
def api_case_create(request: HttpRequest) -> JsonResponse:
    if not request.session.get(SESSION_CONSENT_KEY):
        return _json_error(403, _("Please answer the questions on the first page before sending fingerprints."))
    slot = limits.case_take(client_address(request))
    if isinstance(slot, limits.Refused):
        return _rate_limited(slot)
    try:
        files = parse_submission(request)
        receipt = services.case_create(files=files, hold_for_review=slot.hold_for_review)
    except SubmissionError as error:
        limits.case_give_back(slot)
        return _json_error(error.status, error.message)
    except FingerprintError as error:
        limits.case_give_back(slot)
        return _json_error(400, _("Some fingerprints were not accepted, so nothing was saved. (%(detail)s)")
                           % {"detail": error})
    # Consent covers this one case; another case asks again.
    request.session.pop(SESSION_CONSENT_KEY, None)
    # The PIN is in this response and nowhere else: it is not kept in the session and the
    # receipt is drawn, copied, printed and saved on the device.
    return JsonResponse(
        {
            "reference": receipt.reference,
            "pin": receipt.pin,
            "files": len(files),
            "fingerprints": sum(len(f) for f in files),
            "open_url": reverse("survivor:open"),
        },
        status=201,
    )


# --- Opening a case ----------------------------------------------------------------------


@no_store
@require_http_methods(["GET", "POST"])
def case_open(request: HttpRequest) -> HttpResponse:
    form = OpenCaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reference, pin = form.cleaned_data["reference"], form.cleaned_data["pin"]
        attempt = throttle.attempt_begin(reference=reference, address=client_address(request))
        if attempt is None:
            return render(request, "survivor/try_later.html", status=429)
        case = selectors.case_open(reference=reference, pin=pin)
        if case is None:
            throttle.attempt_failed(attempt)
            # One answer whether the case exists or not, and the form comes back empty.
            form = OpenCaseForm()
            return render(request, "survivor/open.html", {"form": form, "not_found": True}, status=200)
        throttle.attempt_succeeded(attempt)
        session_case_open(request, case=case)
        return redirect("survivor:status")
    return render(request, "survivor/open.html", {"form": form})


@no_store
@require_POST
def case_close(request: HttpRequest) -> HttpResponse:
    session_case_forget(request)
    return redirect("home")


# --- An opened case ----------------------------------------------------------------------


def case_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages of an opened case; without one, the person is asked to open it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        case = access_session_case(request)
        if case is None:
            if request.path.startswith("/api/"):
                return _json_error(403, _("Your case is closed. Please open it again with your case number and PIN."))
            return redirect("survivor:open")
        return view(request, case, *args, **kwargs)

    return no_store(wrapper)


@case_required
def case_status(request: HttpRequest, case) -> HttpResponse:
    return render(request, "survivor/status.html", {"case": case, **presenters.status_context(case)})


@case_required
def case_add(request: HttpRequest, case) -> HttpResponse:
    if not case.is_active:
        return redirect("survivor:status")
    return render(
        request,
        "survivor/add.html",
        {
            "case": case,
            "flow_mode": "add",
            "flow_submit_url": reverse("survivor:api_case_add_files"),
            "flow_done_url": reverse("survivor:status"),
            # The new files are numbered after every file the case has, withdrawn ones too, as
            # the status page numbers them (the on-device list of names uses these numbers).
            "existing_files": selectors.case_files(case=case).count(),
        },
    )


@require_POST
@case_required
def api_case_add_files(request: HttpRequest, case) -> JsonResponse:
    if not case.is_active:
        return _json_error(409, _("This case was withdrawn, so no files can be added."))
    try:
        files = parse_submission(request)
        services.case_add_files(case=case, files=files)
    except services.CaseStateError:
        return _json_error(409, _("This case was withdrawn, so no files can be added."))
    except SubmissionError as error:
        return _json_error(error.status, error.message)
    except FingerprintError as error:
        return _json_error(400, _("Some fingerprints were not accepted, so nothing was saved. (%(detail)s)")
                           % {"detail": error})
    return JsonResponse({"files": len(files), "done_url": reverse("survivor:status")})


@require_http_methods(["GET", "POST"])
@case_required
def file_withdraw(request: HttpRequest, case, file_id: str) -> HttpResponse:
    files = presenters.file_entries(list(selectors.case_files(case=case)))
    case_file = next((f for f in files if f.public_id == file_id), None)
    if case_file is None or not case_file.active:
        raise Http404
    if request.method == "POST":
        services.case_file_withdraw(case=case, file_id=case_file.public_id)
        return redirect("survivor:status")
    return render(request, "survivor/confirm.html", {"case": case, "action": "file_withdraw", "case_file": case_file})


@require_http_methods(["GET", "POST"])
@case_required
def case_withdraw(request: HttpRequest, case) -> HttpResponse:
    if not case.is_active:
        return redirect("survivor:status")
    if request.method == "POST":
        services.case_withdraw(case=case)
        return redirect("survivor:status")
    return render(request, "survivor/confirm.html", {"case": case, "action": "case_withdraw"})


@require_http_methods(["GET", "POST"])
@case_required
def case_delete(request: HttpRequest, case) -> HttpResponse:
    if request.method == "POST":
        services.case_delete(case=case)
        session_case_forget(request)
        return render(request, "survivor/deleted.html")
    return render(request, "survivor/confirm.html", {"case": case, "action": "case_delete"})
