"""Service staff review fingerprints held after false-match reports: clear (back into the
feed) or remove, with a reason recorded against their name. Nobody else sees the queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hashbank import services as bank
from hashbank.models import Fingerprint, FingerprintReview
from tests.test_caseworker_support import assisted_case, member, organisation, staff_user, verified

pytestmark = pytest.mark.django_db

QUEUE = reverse("caseworkers:review_queue")


def held_fingerprint() -> Fingerprint:
    """Two partners report a false match, so the bank holds the fingerprint."""
    alice = member(organisation(), "alice")
    fingerprint = Fingerprint.objects.filter(case=assisted_case(alice).assisted_case.case).first()
    for n, name in enumerate(["PhotoSite", "VideoSite"]):
        bank.partner_feedback_record(
            partner=bank.partner_create(name=name),
            items=[
                bank.FeedbackItem(fingerprint_id=fingerprint.public_id, outcome="false_match", idempotency_key=f"k{n}")
            ],
        )
    fingerprint.refresh_from_db()
    assert fingerprint.status == Fingerprint.Status.HELD
    return fingerprint


def test_staff_see_held_fingerprints(client):
    fingerprint = held_fingerprint()
    verified(client, staff_user())
    html = client.get(QUEUE).content.decode()
    assert fingerprint.public_id in html and "2 partners reported a false match" in html


@pytest.mark.parametrize(("decision", "status"), [("clear", "active"), ("remove", "withdrawn")])
def test_a_decision_is_applied_and_its_reason_recorded(client, decision, status):
    fingerprint = held_fingerprint()
    verified(client, staff_user("ops"))
    url = reverse("caseworkers:review_decide", args=[fingerprint.public_id])
    response = client.post(url, {"decision": decision, "reason": "Checked the two reports"})
    assert response.status_code == 302
    fingerprint.refresh_from_db()
    assert fingerprint.status == status
    review = FingerprintReview.objects.filter(fingerprint=fingerprint).exclude(action="held").get()
    assert (review.reviewer_name, review.reason) == ("ops", "Checked the two reports")
    assert fingerprint.public_id not in client.get(QUEUE).content.decode()


def test_a_reason_is_required(client):
    fingerprint = held_fingerprint()
    verified(client, staff_user())
    response = client.post(reverse("caseworkers:review_decide", args=[fingerprint.public_id]), {"decision": "remove"})
    assert response.status_code == 400
    fingerprint.refresh_from_db()
    assert fingerprint.status == Fingerprint.Status.HELD


def test_a_fingerprint_that_is_not_held_is_not_found(client):
    fingerprint = held_fingerprint()
    verified(client, staff_user())
    url = reverse("caseworkers:review_decide", args=[fingerprint.public_id])
    client.post(url, {"decision": "remove", "reason": "done"})
    assert client.post(url, {"decision": "clear", "reason": "again"}).status_code == 404


def test_caseworkers_and_unverified_staff_cannot_reach_the_queue(client):
    fingerprint = held_fingerprint()
    lead = member(organisation("South"), "lena", "lead")
    verified(client, lead.user)
    assert client.get(QUEUE).status_code == 404
    url = reverse("caseworkers:review_decide", args=[fingerprint.public_id])
    assert client.post(url, {"decision": "remove", "reason": "x"}).status_code == 404
    client.force_login(staff_user())  # password only
    assert client.get(QUEUE).status_code == 302
    fingerprint.refresh_from_db()
    assert fingerprint.status == Fingerprint.Status.HELD
