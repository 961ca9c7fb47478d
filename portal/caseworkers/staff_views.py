"""The review queue for service staff: fingerprints held after partners reported false
matches. Staff clear one (back into the feed) or remove it, and the reason is recorded by
the bank's review services together with who decided."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from hashbank import selectors as bank_selectors
from hashbank import services as bank
from portal.caseworkers.access import methods, staff_required
from portal.caseworkers.forms import ReviewDecisionForm

logger = logging.getLogger(__name__)


@staff_required
@methods("GET", "HEAD")
def review_queue(request: HttpRequest) -> HttpResponse:
    held = list(bank_selectors.fingerprints_held()[:200])
    return render(request, "caseworkers/review_queue.html", {"held": held, "form": ReviewDecisionForm()})


@staff_required
@methods("POST")
def review_decide(request: HttpRequest, fingerprint_id: str) -> HttpResponse:
    fingerprint = bank_selectors.fingerprints_held().filter(public_id=fingerprint_id).first()
    if fingerprint is None:
        raise Http404
    form = ReviewDecisionForm(request.POST)
    if not form.is_valid():
        held = list(bank_selectors.fingerprints_held()[:200])
        return render(
            request,
            "caseworkers/review_queue.html",
            {"held": held, "form": ReviewDecisionForm(), "failed": fingerprint.public_id, "failed_form": form},
            status=400,
        )
    decide = (
        bank.fingerprint_review_clear if form.cleaned_data["decision"] == "clear" else bank.fingerprint_review_remove
    )
    decide(fingerprint=fingerprint, reviewer_name=request.user.get_username(), reason=form.cleaned_data["reason"])
    logger.info("review decision %s by staff user id %s", form.cleaned_data["decision"], request.user.pk)
    messages.success(
        request,
        "Cleared: the fingerprint is back in the feed."
        if form.cleaned_data["decision"] == "clear"
        else "Removed: the fingerprint stays out of the feed.",
    )
    return redirect("caseworkers:review_queue")
