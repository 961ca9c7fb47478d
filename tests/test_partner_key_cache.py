"""The partner key cache (hashbank.api.auth, hashbank.keygeneration): a checked key is served
from this process's memory while the keys' generation in Redis is unchanged, and never once
it is not: a revocation or a suspension is refused from the next request on, in real Redis."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from hashbank.api import auth as api_auth
from hashbank.keygeneration import GENERATION_KEY
from hashbank.models import Partner, PartnerKey
from hashbank.services import partner_create, partner_key_issue, partner_key_revoke
from tests.feed_helpers import auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(settings, redis_url):
    settings.JOBS_IN_PROCESS = False
    settings.PARTNER_RATE_PER_SECOND = 1000
    settings.PARTNER_RATE_BURST = 1000
    settings.PARTNER_KEY_CACHE_SECONDS = 30
    return settings


@pytest.fixture
def issued():
    return partner_key_issue(partner=partner_create(name="Cached platform"))


def key_reads(client: Client, secret: str) -> tuple[int, int]:
    """(status, how many queries read the key table) of one request."""
    with CaptureQueriesContext(connection) as queries:
        status = client.get("/api/v1/checkpoint", **auth(secret)).status_code
    return status, sum('"hashbank_partnerkey"' in q["sql"] and q["sql"].lstrip().upper().startswith("SELECT")
                       for q in queries.captured_queries)


def test_a_checked_key_is_served_from_memory(cached, issued):
    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    assert key_reads(client, issued.secret) == (200, 0)
    assert key_reads(client, issued.secret) == (200, 0)


def test_a_wrong_secret_is_refused_even_with_its_prefix_cached(cached, issued):
    client = Client()
    assert key_reads(client, issued.secret)[0] == 200
    forged = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    response = client.get("/api/v1/checkpoint", **auth(forged))
    assert response.status_code == 401 and response.json()["error"]["code"] == "unknown_key"


def test_unknown_prefixes_are_never_cached(cached):
    client = Client()
    for n in range(3):
        response = client.get("/api/v1/checkpoint", **auth(f"isk_{n:08d}_{'A' * 32}"))
        assert response.status_code == 401
    assert api_auth._cache == {}


def test_a_revoked_key_is_refused_from_the_next_request(cached, issued, django_capture_on_commit_callbacks):
    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    assert key_reads(client, issued.secret) == (200, 0)
    with django_capture_on_commit_callbacks(execute=True):
        partner_key_revoke(key=PartnerKey.objects.get())
    response = client.get("/api/v1/checkpoint", **auth(issued.secret))
    assert response.status_code == 401 and response.json()["error"]["code"] == "revoked_key"


def test_a_partner_suspended_in_the_admin_is_refused_from_the_next_request(
        cached, issued, django_capture_on_commit_callbacks):
    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    assert key_reads(client, issued.secret) == (200, 0)
    partner = Partner.objects.get()
    partner.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        admin.site._registry[Partner].save_model(None, partner, None, True)
    response = client.get("/api/v1/checkpoint", **auth(issued.secret))
    assert response.status_code == 403 and response.json()["error"]["code"] == "partner_inactive"


def test_a_change_redis_was_not_told_of_is_honoured_within_the_cache_seconds(cached, issued, monkeypatch):
    """The backstop: a change the generation missed (made behind the services' back here; in
    production, Redis unreachable at that moment) is re-read once the entry is old enough."""
    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    PartnerKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert key_reads(client, issued.secret) == (200, 0)  # trusted: no one said it changed
    now = api_auth.time.monotonic()
    monkeypatch.setattr(api_auth.time, "monotonic", lambda: now + 31)
    assert client.get("/api/v1/checkpoint", **auth(issued.secret)).status_code == 401


def test_redis_losing_the_generation_drops_every_cached_key(cached, issued, redis_url):
    """A Redis that restarted empty: the script stores a fresh random generation, which no
    process cached under."""
    import redis

    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    PartnerKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    redis.Redis.from_url(redis_url).delete(GENERATION_KEY)
    assert client.get("/api/v1/checkpoint", **auth(issued.secret)).status_code == 401


def test_without_redis_every_request_reads_the_database(cached, issued):
    cached.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:9/0", "DEFAULT_TIMEOUT": 900}}
    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    assert key_reads(client, issued.secret) == (200, 1)
    PartnerKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert client.get("/api/v1/checkpoint", **auth(issued.secret)).status_code == 401


def test_the_cache_can_be_turned_off(cached, issued):
    cached.PARTNER_KEY_CACHE_SECONDS = 0
    client = Client()
    assert key_reads(client, issued.secret) == (200, 1)
    assert key_reads(client, issued.secret) == (200, 1)
