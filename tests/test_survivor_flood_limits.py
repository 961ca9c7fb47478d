"""Flood limits on the public pages (issue 11, item 4): consent and case creation per client
address, IPv6 by /64, with a 429 that says what to do; past the total per hour, cases are
still accepted but held for review and never reach the feed."""

from __future__ import annotations

import pytest
from django.test import Client

from hashbank.models import CaseEvent, FeedEntry, FeedOutbox, Fingerprint, FingerprintReview
from hashbank.services import HOLD_REASON_VOLUME
from tests.survivor_helpers import photo_fingerprints, post_json, submission

CASES = "/api/survivor/cases"


def consent(address: str, client: Client | None = None):
    client = client or Client()
    response = client.post("/start/", {"age": "adult", "pictured": "on", "consent": "on"}, REMOTE_ADDR=address)
    return client, response


def create(address: str, n: int = 0):
    client, response = consent(address)
    assert response.status_code == 302, response.status_code
    return post_json(client, CASES, submission([photo_fingerprints(n)]), REMOTE_ADDR=address)


@pytest.mark.django_db
def test_case_creation_per_address_is_limited_with_a_json_429(settings):
    settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR = 3
    for i in range(3):
        assert create("203.0.113.10", i).status_code == 201
    refused = create("203.0.113.10", 9)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert "helpline" in body["error"]
    retry = int(refused["Retry-After"])
    assert 1 <= retry <= 3600 and body["retry_after"] == retry
    assert "no-store" in refused["Cache-Control"]
    # Someone else is not affected.
    assert create("203.0.113.11", 10).status_code == 201


@pytest.mark.django_db
def test_ipv6_clients_are_limited_by_their_64(settings):
    settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR = 2
    assert create("2001:db8:5:6::1", 0).status_code == 201
    assert create("2001:db8:5:6::2", 1).status_code == 201
    assert create("2001:db8:5:6:ffff::3", 2).status_code == 429
    assert create("2001:db8:5:7::1", 3).status_code == 201


@pytest.mark.django_db
def test_a_refused_submission_costs_no_place(settings):
    settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR = 1
    client, _ = consent("198.51.100.30")
    bad = post_json(client, CASES, submission([[{"signal_type": "pdq", "value": "zz"}]]), REMOTE_ADDR="198.51.100.30")
    assert bad.status_code == 400
    assert post_json(client, CASES, submission([photo_fingerprints(1)]), REMOTE_ADDR="198.51.100.30").status_code == 201


@pytest.mark.django_db
def test_the_limit_lifts_after_the_window(settings, monkeypatch):
    from portal import throttling

    settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR = 1
    now = [2_000_000_000.0]
    monkeypatch.setattr(throttling, "_now", lambda: now[0])
    assert create("198.51.100.40", 0).status_code == 201
    refused = create("198.51.100.40", 1)
    assert refused.status_code == 429
    now[0] += int(refused["Retry-After"])
    assert create("198.51.100.40", 2).status_code == 201


@pytest.mark.django_db
def test_consent_per_address_is_limited_with_a_kind_page(settings):
    settings.SURVIVOR_CONSENTS_PER_ADDRESS_PER_HOUR = 2
    for _ in range(2):
        assert consent("192.0.2.70")[1].status_code == 302
    client, page = consent("192.0.2.70")
    assert page.status_code == 429
    assert int(page["Retry-After"]) >= 1
    text = page.content.decode()
    assert "Please wait" in text and "helpline" in text and "shared connection" in text
    assert 'class="quick-exit"' in text
    # No consent was recorded for this session.
    assert client.get("/start/files/").status_code == 302


@pytest.mark.django_db
def test_past_the_total_cases_are_accepted_but_held_and_never_published(settings):
    settings.SURVIVOR_CASES_TOTAL_PER_HOUR = 2
    for i in range(2):
        assert create(f"198.51.100.{50 + i}", i).status_code == 201
    published_before = FeedOutbox.objects.count() + FeedEntry.objects.count()
    held = create("198.51.100.60", 5)
    assert held.status_code == 201
    receipt = held.json()
    assert receipt["reference"] and receipt["pin"]
    # Nothing of the held case reaches the outbox or the feed...
    assert FeedOutbox.objects.count() + FeedEntry.objects.count() == published_before
    fingerprints = Fingerprint.objects.filter(case__events__kind=CaseEvent.Kind.FINGERPRINT_HELD).distinct()
    assert fingerprints.count() == len(photo_fingerprints(5))
    assert all(f.status == Fingerprint.Status.HELD for f in fingerprints)
    assert FingerprintReview.objects.filter(fingerprint__in=fingerprints, reason=HOLD_REASON_VOLUME).count() \
        == fingerprints.count()
    # ...and the survivor is told gently, never "rejected".
    client = Client()
    assert client.post("/case/", {"reference": receipt["reference"], "pin": receipt["pin"]}).status_code == 302
    status = client.get("/case/status/").content.decode()
    assert "Being checked" in status and "You do not need to do anything" in status
    assert "reject" not in status.lower()
    # Adding files to a held case does not go round the hold.
    added = post_json(client, "/api/survivor/case/files", submission([photo_fingerprints(6)]))
    assert added.status_code == 200, added.content
    assert FeedOutbox.objects.count() + FeedEntry.objects.count() == published_before


@pytest.mark.django_db
def test_a_held_case_reaches_partners_once_staff_clear_it(settings):
    from hashbank.services import fingerprint_review_clear

    settings.SURVIVOR_CASES_TOTAL_PER_HOUR = 0
    assert create("198.51.100.80", 3).status_code == 201
    held = list(Fingerprint.objects.filter(status=Fingerprint.Status.HELD))
    assert held
    for fingerprint in held:
        fingerprint_review_clear(fingerprint=fingerprint, reviewer_name="staff", reason="a real case")
    ids = set(FeedEntry.objects.filter(op="add").values_list("fingerprint_key", flat=True)) | set(
        FeedOutbox.objects.filter(op="add").values_list("fingerprint_key", flat=True))
    assert {f.public_id for f in held} <= ids
    # Held fingerprints never went out, so none needs a tombstone.
    assert not FeedEntry.objects.filter(op="withdraw").exists()
    assert not FeedOutbox.objects.filter(op="withdraw").exists()


@pytest.mark.django_db
def test_the_helpline_is_not_limited(settings):
    # Caseworkers create cases through the service directly, never through these limits.
    from hashbank import services

    settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR = 0
    settings.SURVIVOR_CASES_TOTAL_PER_HOUR = 0
    receipt = services.case_create(files=[photo_fingerprints(0)])
    assert receipt.case.fingerprints.filter(status=Fingerprint.Status.ACTIVE).exists()


@pytest.mark.django_db
def test_staff_see_why_a_held_case_is_held(settings, client):
    from tests.test_caseworker_support import staff_user, verified

    settings.SURVIVOR_CASES_TOTAL_PER_HOUR = 0
    assert create("198.51.100.90", 4).status_code == 201
    verified(client, staff_user())
    page = client.get("/staff/review/").content.decode()
    assert "<dt>Why it is held</dt><dd>" + HOLD_REASON_VOLUME + "</dd>" in page
