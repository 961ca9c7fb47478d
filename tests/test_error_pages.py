"""The site's own error answers (issue 11): a page that does not exist keeps the layout and
the quick exit; JSON clients get JSON; and while the database is unreachable the answer is
503 with Retry-After, never a 500 that looks like a bug. The outage is real: the connection is
pointed at a closed port, then back (PostgreSQL only: SQLite's in-memory test database would
vanish with its connection)."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connection
from django.test import Client

from tests.survivor_helpers import consented_client, photo_fingerprints, post_json, submission


@pytest.mark.django_db
def test_a_missing_page_has_the_layout_and_the_quick_exit(settings):
    settings.DEBUG = False
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "data-quick-exit" in html and "Page not found" in html
    assert 'href="/case/"' in html


@pytest.mark.django_db
def test_a_missing_address_under_api_is_json(settings):
    settings.DEBUG = False
    survivor = Client().get("/api/survivor/nothing-here")
    assert survivor.status_code == 404 and survivor["Content-Type"] == "application/json"
    assert survivor.json()["code"] == "not_found" and survivor["Cache-Control"] == "no-store"
    partner = Client().get("/api/v1/nothing-here")
    assert partner.status_code == 404 and partner.json()["error"]["code"] == "not_found"


@contextlib.contextmanager
def unreachable_database():
    """The real connection fails (a closed port) until the block ends."""
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved


@pytest.fixture
def database_down(postgres):
    with unreachable_database():
        yield
    connection.ensure_connection()


@pytest.mark.django_db(transaction=True)
def test_pages_answer_503_with_retry_after_while_the_database_is_down(settings, database_down):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/")
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "30" and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "Please try again in a minute" in html and "data-quick-exit" in html


@pytest.mark.django_db(transaction=True)
def test_the_survivor_endpoint_answers_json_503_while_the_database_is_down(settings, postgres):
    settings.DEBUG = False
    client = consented_client(Client(raise_request_exception=False))
    with unreachable_database():
        response = post_json(client, "/api/survivor/cases", submission([photo_fingerprints(0)]))
    assert response.status_code == 503, response.content[:300]
    body = response.json()
    assert body["code"] == "unavailable" and body["retry_after"] == 30 and "try again" in body["error"]
    assert response["Retry-After"] == "30"
    # Back up: the same survivor's retry goes through.
    assert post_json(client, "/api/survivor/cases", submission([photo_fingerprints(0)])).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_the_partner_api_answers_json_503_while_the_database_is_down(settings, database_down):
    settings.DEBUG = False
    key = "isk_ABCDEFGH_" + "A" * 32  # well formed, so the lookup reaches the database
    response = Client(raise_request_exception=False).get("/api/v1/checkpoint", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 503, response.content[:300]
    assert response.json()["error"]["code"] == "unavailable" and response["Retry-After"] == "30"


@pytest.mark.django_db
def test_a_bug_is_still_a_500_not_a_503(settings):
    """Only an unreachable service is 'try again': a real error must not hide behind a 503."""
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.error_urls"
    response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 500 and "Retry-After" not in response
    assert "Something went wrong" in response.content.decode()
