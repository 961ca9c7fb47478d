"""Per-key rate limits on the partner API (issue 11, item 5): a token bucket per key in real
Redis; 429 rate_limited with Retry-After before any feed work; keys independent; a Redis
outage serves partners rather than cutting them off."""

from __future__ import annotations

import pytest
from django.test import Client

from hashbank.api import ratelimit
from hashbank.services import partner_create, partner_key_issue
from tests.feed_helpers import auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(settings, redis_url):
    import redis

    settings.JOBS_IN_PROCESS = False
    settings.PARTNER_RATE_PER_SECOND = 1
    settings.PARTNER_RATE_BURST = 3
    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter("imageshield:partner-rate:*"):
        connection.delete(key)
    return settings


def key(name: str) -> str:
    return partner_key_issue(partner=partner_create(name=name)).secret


def test_a_burst_then_429_with_retry_after_and_the_documented_error(limited):
    client, secret = Client(), key("Example Video")
    statuses = [client.get("/api/v1/checkpoint", **auth(secret)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = client.get("/api/v1/feed?cursor=0", **auth(secret))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert refused["Cache-Control"] == "no-store"


def test_another_key_is_not_affected(limited):
    client, busy, quiet = Client(), key("Busy"), key("Quiet")
    for _ in range(5):
        client.get("/api/v1/checkpoint", **auth(busy))
    assert client.get("/api/v1/checkpoint", **auth(busy)).status_code == 429
    assert client.get("/api/v1/checkpoint", **auth(quiet)).status_code == 200


def test_the_bucket_refills_at_the_rate(limited):
    # Redis' clock is replaced by explicit times: no sleeping, no flaky timing.
    assert [ratelimit.take("refill-test", now=1000.0).allowed for _ in range(4)] == [True, True, True, False]
    refused = ratelimit.take("refill-test", now=1000.0)
    assert not refused.allowed and refused.retry_after == 1
    assert ratelimit.take("refill-test", now=1001.01).allowed
    assert not ratelimit.take("refill-test", now=1001.02).allowed
    assert [ratelimit.take("refill-test", now=1100.0).allowed for _ in range(4)] == [True, True, True, False]


def test_a_refused_request_never_touches_the_database(limited, django_assert_num_queries):
    client, secret = Client(), key("Example Video")
    for _ in range(3):
        client.get("/api/v1/feed?cursor=0", **auth(secret))
    # Refused in the middleware by the bucket alone: no key lookup, no page read or signed,
    # so a flood of refusals costs the web workers one Redis round trip each.
    with django_assert_num_queries(0):
        assert client.get("/api/v1/feed?cursor=0", **auth(secret)).status_code == 429


def test_the_public_prefix_of_a_key_cannot_drain_its_bucket(limited):
    """The bucket is named by the hash of the whole key: someone who saw a key's prefix in a
    log (isk_ABCD1234_...) and floods with it spends only their own, made-up key's bucket."""
    client, secret = Client(), key("Example Video")
    prefix = secret.split("_")[1]
    forged = f"isk_{prefix}_" + "0" * 32
    assert forged != secret
    statuses = [client.get("/api/v1/checkpoint", **auth(forged)).status_code for _ in range(6)]
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429, 429]
    assert client.get("/api/v1/checkpoint", **auth(secret)).status_code == 200


def test_partners_are_served_while_redis_is_unreachable(limited):
    limited.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:9/0", "DEFAULT_TIMEOUT": 900}}
    client, secret = Client(), key("Example Video")
    assert all(client.get("/api/v1/checkpoint", **auth(secret)).status_code == 200 for _ in range(5))
