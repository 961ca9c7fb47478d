"""Fuzz the whole partner API from its own OpenAPI description (schemathesis): whatever is
sent, with a valid key or without, the answer is never a server error."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from hashbank.api.openapi import openapi_document
from hashbank.feed.snapshots import snapshot_build
from hashbank.models import Fingerprint
from hashbank.services import FeedbackItem, case_create, partner_create, partner_feedback_record, partner_key_issue
from tests.feed_helpers import one_file, publish

schema = schemathesis.openapi.from_dict(openapi_document())
schema.base_url = "http://localhost/api/v1"

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def wsgi_app(_collected_static):
    # Built after the session fixture that turns the HTTPS redirect off (the security
    # middleware reads its settings once, when the application is built).
    return get_wsgi_application()


@pytest.fixture
def app(wsgi_app):
    # As Django's own test client does: the real handler closes the database connection at
    # the end of each request, which would end the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield wsgi_app
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def partner_secret(settings, tmp_path):
    settings.FEED_SNAPSHOT_DIR = tmp_path
    receipt = case_create(files=[one_file(2)])
    publish()
    snapshot_build()
    partner = partner_create(name="Fuzzer")
    fingerprint = Fingerprint.objects.filter(case=receipt.case).first()
    partner_feedback_record(partner=partner, items=[FeedbackItem(fingerprint.public_id, "blocked", "seed")])
    return partner_key_issue(partner=partner).secret


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_with_a_valid_key(case, partner_secret, app):
    response = case.call(app=app, headers={"Authorization": f"Bearer {partner_secret}"})
    assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body, response.text)
    assert not 300 <= response.status_code < 400, "the request must reach the API, not a redirect"
    if response.status_code >= 400 and response.headers.get("Content-Type", [""])[0] == "application/json":
        assert set(response.json()) == {"error"}


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_without_a_key(case, partner_secret, app):
    response = case.call(app=app)
    assert response.status_code < 500
    public = {"/keys", "/openapi.json"}
    if case.path not in public and response.status_code < 400:
        pytest.fail(f"{case.method} {case.formatted_path} answered {response.status_code} without a key")
