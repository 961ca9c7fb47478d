"""The review queue for service staff: fingerprints held after partners reported false
matches. Staff clear one (back into the feed) or remove it, and the reason is recorded by
the bank's review services together with who decided."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from hashbank import selectors as bank_selectors
from hashbank import services as bank
from portal.caseworkers.access import methods, staff_required
from portal.caseworkers.forms import ReviewDecisionForm

logger = logging.getLogger(__name__)


@staff_required
@methods("GET", "HEAD")
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(request, "caseworkers/review_queue.html", _queue())


def _queue(**extra) -> dict:
    return {"held": list(bank_selectors.fingerprints_held()[:200]),
            "reported": list(bank_selectors.fingerprints_reported()[:200]), "form": ReviewDecisionForm(), **extra}


@staff_required
@methods("POST")
def review_decide(request: HttpRequest, fingerprint_id: str) -> HttpResponse:
    fingerprint = bank_selectors.fingerprints_held().filter(public_id=fingerprint_id).first()
    held = fingerprint is not None
    if fingerprint is None:
        # Still shared but reported by a partner: the only decision is "harmless".
        fingerprint = bank_selectors.fingerprints_reported().filter(public_id=fingerprint_id).first()
    if fingerprint is None:
        raise Http404
    form = ReviewDecisionForm(request.POST)
    if not form.is_valid() or (not held and form.cleaned_data["decision"] != "harmless"):
        return render(request, "caseworkers/review_queue.html",
                      _queue(failed=fingerprint.public_id, failed_form=form), status=400)
    decision = form.cleaned_data["decision"]
    decide = {"clear": bank.fingerprint_review_clear, "remove": bank.fingerprint_review_remove,
              "harmless": bank.fingerprint_mark_harmless}[decision]
    decide(fingerprint=fingerprint, reviewer_name=request.user.get_username(), reason=form.cleaned_data["reason"])
    logger.info("review decision %s by staff user id %s", decision, request.user.pk)
    messages.success(request, {
        "clear": _("Cleared: the fingerprint is back in the feed."),
        "remove": _("Removed: the fingerprint stays out of the feed."),
        "harmless": _("Marked as not intimate image abuse: its file left the feed, and the same picture will be held "
                      "for review if it is submitted again."),
    }[decision])
    return redirect("caseworkers:review_queue")
