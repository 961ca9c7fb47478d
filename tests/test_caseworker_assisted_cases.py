"""Assisted cases: started by a caseworker from fingerprints only, the reference and PIN
returned once for the client, the helpline recorded; the list shows status, match counts and
last activity in a fixed number of queries."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hashbank import selectors as bank_selectors
from hashbank import services as bank
from hashbank.models import Case, Fingerprint
from portal.caseworkers.models import AssistedCase, AuditAction, AuditEvent
from tests.test_caseworker_support import assisted_case, files, member, organisation, verified

pytestmark = pytest.mark.django_db

SUBMIT = reverse("caseworkers:case_new_submit")


def submission(count: int = 2) -> str:
    return json.dumps({"count": count, "files": [{"fingerprints": f} for f in files(count)]})


def test_submitting_fingerprints_starts_an_assisted_case(client):
    alice = member(organisation("North"), "alice")
    verified(client, alice.user)
    response = client.post(SUBMIT, submission(2), content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"reference", "pin", "case_url"}
    assisted = AssistedCase.objects.get()
    assert (assisted.organisation, assisted.created_by, assisted.assigned_to) == (
        alice.organisation,
        alice.user,
        alice.user,
    )
    assert assisted.case.files.count() == 2 and Fingerprint.objects.filter(case=assisted.case).count() == 4
    assert body["case_url"] == reverse("caseworkers:case", args=[assisted.public_id])
    # The client can open it like any survivor's case; nothing of the reference is kept here.
    assert bank_selectors.case_open(reference=body["reference"], pin=body["pin"]) == assisted.case
    assert AuditEvent.objects.get(action=AuditAction.CASE_CREATED).case_public_id == assisted.public_id


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"count": 1, "files": [{"fingerprints": [{"signal_type": "sha256", "value": "nothex"}]}]}),
        json.dumps({"count": 1, "files": [{"fingerprints": files(1)[0], "name": "IMG_0001.jpg"}]}),
        json.dumps({"count": 2, "files": [{"fingerprints": files(1)[0]}]}),
    ],
)
def test_malformed_submissions_store_nothing(client, body):
    verified(client, member(organisation(), "alice").user)
    response = client.post(SUBMIT, body, content_type="application/json")
    assert response.status_code == 400 and "error" in response.json()
    assert not Case.objects.exists() and not AssistedCase.objects.exists()


def test_only_json_is_accepted(client):
    verified(client, member(organisation(), "alice").user)
    assert client.post(SUBMIT, {"file": b"\xff\xd8\xff"}).status_code == 415
    assert not Case.objects.exists()


def test_submitting_needs_a_verified_caseworker_and_csrf(client):
    member(organisation(), "alice")
    response = client.post(SUBMIT, submission(), content_type="application/json")
    assert response.status_code == 302 and not Case.objects.exists()
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    verified(strict, member(organisation("Other"), "carl").user)
    assert strict.post(SUBMIT, submission(), content_type="application/json").status_code == 403


def test_the_new_case_page_reuses_the_on_device_flow(client):
    verified(client, member(organisation(), "alice").user)
    html = client.get(reverse("caseworkers:case_new")).content.decode()
    assert "data-fingerprint-flow" in html and f'data-submit-url="{SUBMIT}"' in html
    assert 'data-mode="create"' in html and "<script>" not in html


def test_list_shows_status_matches_and_last_activity(client):
    alice = member(organisation(), "alice")
    receipt = assisted_case(alice)
    quiet = assisted_case(alice).assisted_case
    partner = bank.partner_create(name="PhotoSite")
    fingerprint = Fingerprint.objects.filter(case=receipt.assisted_case.case).first()
    bank.partner_feedback_record(
        partner=partner,
        items=[bank.FeedbackItem(fingerprint_id=fingerprint.public_id, outcome="blocked", idempotency_key="k1")],
    )
    verified(client, alice.user)
    html = client.get(reverse("caseworkers:cases")).content.decode()
    matched_row = html.split(f'data-case-row="{receipt.assisted_case.public_id}"')[1].split("</tr>")[0]
    quiet_row = html.split(f'data-case-row="{quiet.public_id}"')[1].split("</tr>")[0]
    assert "Matches reported" in matched_row and "<td>1</td>" in matched_row
    assert "Matches reported" not in quiet_row and "<td>0</td>" in quiet_row
    # Most recently active first: the case with the match is on top.
    assert html.index(str(receipt.assisted_case.public_id)) < html.index(str(quiet.public_id))


def test_withdrawn_and_deleted_cases_are_listed_but_cannot_be_opened(client):
    alice = member(organisation(), "alice")
    withdrawn = assisted_case(alice).assisted_case
    deleted = assisted_case(alice).assisted_case
    bank.case_withdraw(case=withdrawn.case)
    bank.case_delete(case=deleted.case)
    verified(client, alice.user)
    html = client.get(reverse("caseworkers:cases")).content.decode()
    assert "Withdrawn by the client" in html and "Deleted by the client" in html
    assert reverse("caseworkers:case", args=[withdrawn.public_id]) not in html
    assert reverse("caseworkers:case", args=[deleted.public_id]) not in html


def test_the_list_costs_the_same_queries_for_3_or_12_cases(client):
    alice = member(organisation(), "alice")
    verified(client, alice.user)
    for _ in range(3):
        assisted_case(alice, count=1)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("caseworkers:cases"))
    for _ in range(9):
        assisted_case(alice, count=1)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("caseworkers:cases")).content.decode().count("data-case-row=") == 12
    assert len(many) == len(few)


def test_the_list_is_paged_newest_activity_first(client):
    from portal.caseworkers.selectors import assisted_cases_page

    alice = member(organisation(), "alice")
    made = [assisted_case(alice, count=1).assisted_case for _ in range(3)]
    first, page = assisted_cases_page(organisation=alice.organisation, user=alice.user, per_page=2)
    second, _ = assisted_cases_page(organisation=alice.organisation, user=alice.user, page_number=2, per_page=2)
    assert [r.public_id for r in first + second] == [c.public_id for c in reversed(made)]
    assert page.paginator.num_pages == 2


def test_case_page_shows_the_timeline(client):
    alice = member(organisation(), "alice")
    assisted = assisted_case(alice).assisted_case
    verified(client, alice.user)
    html = client.get(reverse("caseworkers:case", args=[assisted.public_id])).content.decode()
    assert "Received" in html and "Looked after by" in html


def test_case_page_says_which_partner_platforms_fetched_the_fingerprints(client, settings):
    """The same facts as the client's status page (issue 14): how many active partner
    platforms fetched the case, each file and each publication, never naming an unlisted one."""
    from django.test import Client

    from hashbank.feed.publish import publish_pending
    from tests.feed_helpers import auth

    settings.JOBS_IN_PROCESS = True
    alice = member(organisation(), "alice")
    assisted = assisted_case(alice).assisted_case
    publish_pending()
    verified(client, alice.user)
    page = reverse("caseworkers:case", args=[assisted.public_id])
    html = client.get(page).content.decode()
    assert 'data-case-reach="0/0"' in html and "none has joined yet" in html

    quiet = bank.partner_create(name="Quiet Forum")
    bank.partner_key_issue(partner=bank.partner_create(name="Second Forum"))
    secret = bank.partner_key_issue(partner=quiet).secret
    assert Client().get("/api/v1/feed", {"cursor": 0}, **auth(secret)).status_code == 200
    html = client.get(page).content.decode()
    assert 'data-case-reach="1/2"' in html
    assert html.count('data-file-reach="1/2"') == assisted.case.files.count()
    assert 'data-reach="1/2"' in html  # the publication on the timeline
    assert "Fetched by a first partner platform" in html
    assert "Quiet Forum" not in html
