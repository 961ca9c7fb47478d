"""Who may see what. Every caseworker page and every case lookup goes through here.

Refusals answer "not found", exactly like a missing page or case, so that nobody can learn
from the answer whether a case, an organisation or an admin page exists. Each condition is
its own line so that each can be tested on its own.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache

from hashbank.models import Case
from portal.caseworkers.models import AssistedCase, AuditAction, Membership
from portal.caseworkers.services import audit_record

logger = logging.getLogger(__name__)


def is_verified(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Signed in with both factors in this session (django-otp's flag, read defensively
    because a user swapped in after a timeout has no such method)."""
    check = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and callable(check) and check())


def membership_for(user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    """The user's helpline membership, if the user may act for a helpline at all."""
    if not user.is_authenticated:
        return None
    if not user.is_active:
        return None
    if not is_verified(user):
        return None
    membership = Membership.objects.select_related("organisation").filter(user=user).first()
    if membership is None:
        return None
    if not membership.organisation.is_active:
        return None
    return membership


def _signed_in_request(request: HttpRequest) -> HttpResponse | None:
    """Send people without a verified session to the sign-in page (that page is public, so
    this reveals nothing); None when the session is verified."""
    if not is_verified(request.user):
        return redirect_to_login(request.get_full_path())
    return None


def caseworker_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page for helpline staff: verified session, active account, active membership.
    The membership is handed to the view as `request.membership`."""

    @functools.wraps(view)
    @never_cache
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        redirect = _signed_in_request(request)
        if redirect is not None:
            return redirect
        membership = membership_for(request.user)
        if membership is None:
            logger.warning("caseworker page refused: no active membership (user id %s)", request.user.pk)
            raise Http404
        request.membership = membership  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped


def lead_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page for an organisation's leads only (the audit trail)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.is_lead:  # type: ignore[attr-defined]
            logger.warning("lead page refused to a caseworker (user id %s)", request.user.pk)
            raise Http404
        return view(request, *args, **kwargs)

    return caseworker_required(wrapped)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page for service staff (the review queue): verified session and is_staff."""

    @functools.wraps(view)
    @never_cache
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        redirect = _signed_in_request(request)
        if redirect is not None:
            return redirect
        if not (request.user.is_active and request.user.is_staff):
            logger.warning("staff page refused (user id %s)", request.user.pk)
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def methods(*allowed: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Refuse other HTTP methods with 405, but only after the access check: put it inside
    `caseworker_required`/`staff_required`. Django's `require_POST` outside them answered a
    stranger's GET with 405, telling them the URL was real where the docs promise "not
    found" (issue 11). On a case's URLs the case itself is looked up first, so a wrong method
    on another organisation's case is a 404 like every other refusal."""
    allowed_set = frozenset(m.upper() for m in allowed)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed_set:
                if "case_id" in kwargs:
                    caseworker_case_get(user=request.user, case_id=kwargs["case_id"])
                return HttpResponseNotAllowed(sorted(allowed_set))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def caseworker_case_get(
    *, user: AbstractBaseUser | AnonymousUser, case_id: object, lead_only: bool = False
) -> AssistedCase:
    """The one way to reach an assisted case. Raises Http404 for every refusal, whatever
    the reason, exactly as for a case that does not exist; refusals that reach a real case
    of another organisation are logged and kept in the asker's own audit trail."""
    membership = membership_for(user)
    if membership is None:
        raise Http404
    if lead_only and not membership.is_lead:
        raise Http404
    try:
        public_id = uuid.UUID(str(case_id))
    except ValueError:
        raise Http404 from None
    assisted = (
        AssistedCase.objects.select_related("case", "organisation", "assigned_to", "created_by")
        .filter(public_id=public_id)
        .first()
    )
    if assisted is None:
        raise Http404
    if assisted.organisation_id != membership.organisation_id:
        _refused(membership, public_id)
        raise Http404
    if assisted.case.status != Case.Status.ACTIVE:
        # Withdrawn or deleted by the survivor: the helpline no longer needs to see it.
        raise Http404
    return assisted


def _refused(membership: Membership, public_id: uuid.UUID) -> None:
    logger.warning("case refused to a member of another organisation (user id %s)", membership.user_id)
    audit_record(membership=membership, action=AuditAction.ACCESS_REFUSED, detail="a case of another organisation")
