"""Small defects found from outside (issue 11, item 10): deep JSON, concurrent identical
feedback, trailing newlines, the 415's shape, unknown API paths, cursor_ahead documented."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections
from django.test import Client

from hashbank.api.openapi import openapi_document
from hashbank.models import Fingerprint, PartnerFeedback
from hashbank.services import case_create, partner_create, partner_key_issue
from tests.feed_helpers import auth, one_file
from tests.survivor_helpers import consented_client

DEEP = ("[" * 100_000) + ("]" * 100_000)


@pytest.fixture
def secret(db, settings):
    settings.PARTNER_RATE_PER_SECOND = 0  # not under test here
    return partner_key_issue(partner=partner_create(name="Example Video")).secret


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400_on_feedback(secret, settings):
    settings.FEED_MAX_BODY_BYTES = 1_000_000
    response = Client().post("/api/v1/feedback", data=DEEP, content_type="application/json", **auth(secret))
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_json"


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400_on_the_survivor_endpoint(settings):
    from portal.survivor import wire

    deep = ("[" * 50_000) + ("]" * 50_000)
    assert len(deep) < wire.MAX_BODY_BYTES
    client = consented_client(Client(REMOTE_ADDR="198.51.100.200"))
    response = client.post("/api/survivor/cases", data=deep, content_type="application/json")
    assert response.status_code == 400 and "could not be read" in response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["id", "idempotency_key"])
def test_a_trailing_newline_is_not_accepted(secret, field):
    receipt = case_create(files=[one_file()])
    report = {"id": Fingerprint.objects.filter(case=receipt.case).first().public_id, "outcome": "blocked",
              "idempotency_key": "k-1"}
    report[field] += "\n"
    response = Client().post("/api/v1/feedback", data=json.dumps({"feedback": [report]}),
                             content_type="application/json", **auth(secret))
    assert response.status_code == 400
    assert not PartnerFeedback.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["cursor=0%0A", "limit=5%0A"])
def test_a_trailing_newline_in_a_parameter_is_refused(secret, param):
    assert Client().get(f"/api/v1/feed?{param}", **auth(secret)).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "image/jpeg"])
def test_a_non_json_body_to_the_api_gets_the_documented_json_415(secret, content_type):
    response = Client().post("/api/v1/feedback", data=b"\xff\xd8 not json", content_type=content_type,
                             **auth(secret))
    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/snapshots/-1/file", "/api/v1/nothing", "/api/v1/feed/extra"])
def test_unknown_api_paths_answer_json_404(secret, path):
    response = Client().get(path, **auth(secret))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response["Cache-Control"] == "no-store"


def test_cursor_ahead_is_documented():
    feed = openapi_document()["paths"]["/feed"]["get"]["responses"]
    assert "cursor_ahead" in feed["400"]["description"]
    assert "429" in feed


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_reports_at_once_record_once_and_never_500(postgres, settings):
    settings.PARTNER_RATE_PER_SECOND = 0
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    receipt = case_create(files=[one_file()])
    fingerprint_id = Fingerprint.objects.filter(case=receipt.case).first().public_id
    body = json.dumps({"feedback": [{"id": fingerprint_id, "outcome": "blocked", "idempotency_key": "same"}]})
    barrier, results = threading.Barrier(20), []

    def send():
        try:
            barrier.wait()
            response = Client().post("/api/v1/feedback", data=body, content_type="application/json", **auth(secret))
            results.append((response.status_code, response.json()["results"][0]["status"]
                            if response.status_code == 200 else response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in results) == [200] * 20, results
    assert sorted(r for _, r in results) == ["duplicate"] * 19 + ["recorded"]
    assert PartnerFeedback.objects.count() == 1
