"""Registering a push endpoint: PUT/GET/DELETE /api/v1/push for the calling partner only (a
feed key; a lookup-only key is refused), the URL rules answered in words, the status a partner
sees, a first push queued on commit, and `manage.py partner_push_set` doing the same for staff."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.models import PushEndpoint
from hashbank.services import partner_create, partner_key_issue
from tests.feed_helpers import auth

URL = "https://push.example-video.example/imageshield?token=abc"


def put(client, secret: str, body, content_type: str = "application/json"):
    return client.put("/api/v1/push", data=json.dumps(body) if content_type == "application/json" else body,
                      content_type=content_type, **auth(secret))


@pytest.fixture
def partner():
    return partner_create(name="Example Video")


@pytest.fixture
def secret(partner):
    return partner_key_issue(partner=partner).secret


@pytest.mark.django_db
def test_register_read_change_and_forget(client, partner, secret):
    assert client.get("/api/v1/push", **auth(secret)).json()["error"]["code"] == "no_push_endpoint"
    response = put(client, secret, {"url": URL})
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    status = response.json()
    assert (status["url"], status["state"], status["failures"], status["pushed_version"]) == (URL, "active", 0, 0)
    assert status["last_success_at"] is None and status["pause_after_failures"] >= 1
    assert client.get("/api/v1/push", **auth(secret)).json() == status

    PushEndpoint.objects.filter(partner=partner).update(pushed_version=9, failures=2, last_error="answered 503")
    again = put(client, secret, {"url": URL}).json()  # the same URL again: failures cleared, progress kept
    assert (again["failures"], again["last_error"], again["pushed_version"]) == (0, "", 9)
    moved = put(client, secret, {"url": "https://hooks.example-video.example/shield"}).json()
    assert moved["pushed_version"] == 0  # a new address has been pushed nothing

    assert client.delete("/api/v1/push", **auth(secret)).status_code == 204
    assert not PushEndpoint.objects.exists()
    assert client.delete("/api/v1/push", **auth(secret)).status_code == 204
    assert client.get("/api/v1/push", **auth(secret)).status_code == 404


@pytest.mark.django_db
def test_only_the_callers_own_endpoint(client, partner, secret):
    other = partner_key_issue(partner=partner_create(name="Other Forum")).secret
    put(client, secret, {"url": URL})
    assert client.get("/api/v1/push", **auth(other)).status_code == 404
    assert client.delete("/api/v1/push", **auth(other)).status_code == 204
    assert PushEndpoint.objects.get().partner == partner


@pytest.mark.django_db
def test_a_lookup_only_key_and_no_key_are_refused(client, partner):
    lookup = partner_lookup_key_issue(partner=partner).secret
    for method in ("GET", "PUT", "DELETE"):
        response = client.generic(method, "/api/v1/push", json.dumps({"url": URL}), "application/json",
                                  **auth(lookup))
        assert (response.status_code, response.json()["error"]["code"]) == (403, "lookup_only_key"), method
        assert client.generic(method, "/api/v1/push").status_code == 401
    assert not PushEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "code", "words"), [
    ({"url": "http://push.example.org/"}, "bad_url", "must start with https://"),
    ({"url": "https://10.1.2.3/"}, "bad_url", "10.1.2.3 is a private address"),
    ({"url": "https://me:pw@push.example.org/"}, "bad_url", "no user name or password"),
    ({"url": "https://localhost:8443/"}, "bad_url", "public host name"),
    ({"url": 5}, "bad_push", '{"url": "https://..."}'),
    ({"url": URL, "secret": "x"}, "bad_push", '{"url": "https://..."}'),
    (["https://push.example.org/"], "bad_push", '{"url": "https://..."}'),
])
def test_urls_that_cannot_be_used_are_refused_in_words(client, secret, body, code, words):
    response = put(client, secret, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and words in response.json()["error"]["message"]
    assert not PushEndpoint.objects.exists()


@pytest.mark.django_db
def test_only_json_bodies(client, secret):
    assert put(client, secret, "url=https://push.example.org/", "application/x-www-form-urlencoded").status_code == 415
    assert client.post("/api/v1/push", **auth(secret)).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_registering_queues_a_first_push_after_commit(client, partner, secret, redis_url, settings):
    import django_rq

    from hashbank.queueing import coalesce_key, redis_connection

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("default")
    queue.empty()
    redis_connection().delete(coalesce_key("hashbank.jobs.feed_push"))
    with transaction.atomic():
        put(client, secret, {"url": URL})
        assert queue.count == 0, "nothing before the commit"
    assert [job.func_name for job in queue.jobs] == ["hashbank.jobs.feed_push"]
    queue.empty()
    redis_connection().delete(coalesce_key("hashbank.jobs.feed_push"))


@pytest.mark.django_db
def test_the_command_sets_switches_off_and_dry_runs(partner):
    out = io.StringIO()
    call_command("partner_push_set", "Example Video", URL, "--dry-run", stdout=out)
    assert "dry run: would push to" in out.getvalue() and not PushEndpoint.objects.exists()
    call_command("partner_push_set", "Example Video", URL, stdout=out)
    assert PushEndpoint.objects.get(partner=partner).is_active
    assert f"{URL}: active" in out.getvalue()
    call_command("partner_push_set", "Example Video", "--off", stdout=out)
    assert not PushEndpoint.objects.get(partner=partner).is_active
    assert "off. Pushes are switched off" in out.getvalue()
    with pytest.raises(CommandError, match="must start with https://"):
        call_command("partner_push_set", "Example Video", "http://push.example.org/")
    with pytest.raises(CommandError, match="no partner named"):
        call_command("partner_push_set", "Nobody", URL)
    with pytest.raises(CommandError, match="give the URL"):
        call_command("partner_push_set", "Example Video")
