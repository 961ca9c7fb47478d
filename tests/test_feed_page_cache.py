"""Full feed pages near the head from the Redis page cache (hashbank.feed.pagecache), in real
Redis and PostgreSQL: the same signed bytes without the range scan, every fetch still recorded
for the partner, and never a page that the database no longer agrees with."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from hashbank.feed import pagecache
from hashbank.feed.pages import page_end
from hashbank.feedformat import FeedVerifier
from hashbank.models import DeliveryMark, FeedEntry, PartnerKey
from hashbank.services import case_create, partner_create, partner_key_issue
from tests.feed_helpers import auth, one_file, publish, sync, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_client(redis_url):
    import redis

    connection_ = redis.Redis.from_url(redis_url)
    for key in connection_.scan_iter(f"{pagecache.KEY_PREFIX}*"):
        connection_.delete(key)
    return connection_


@pytest.fixture
def feed(settings, tmp_path, redis_client):
    """25 published entries; then the production mode (Redis: the cache on)."""
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path
    for _ in range(5):
        case_create(files=[one_file(4)])  # 5 entries each
    publish()
    settings.JOBS_IN_PROCESS = False
    settings.PARTNER_RATE_PER_SECOND = 0
    settings.FEED_PAGE_CACHE_SECONDS = 600
    settings.FEED_PAGE_CACHE_ENTRIES = 1000
    assert FeedEntry.objects.count() == 25
    return settings


def secret(name: str) -> str:
    return partner_key_issue(partner=partner_create(name=name)).secret


def get_page(client: Client, key: str, cursor: int, limit: int = 10):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/feed", {"cursor": cursor, "limit": limit}, **auth(key))
    scans = [q["sql"] for q in queries.captured_queries
             if '"hashbank_feedentry"' in q["sql"] and q["sql"].lstrip().upper().startswith("SELECT")]
    return response, scans


def ranged(sql: str) -> bool:
    """The page's range scan (position >= a AND position <= b), as against one row by position."""
    return '"position" >=' in sql


def test_pages_end_on_multiples_of_their_limit_and_a_sync_still_sees_everything(client, feed):
    assert [page_end(c, 10) for c in (0, 5, 9, 10, 19)] == [10, 10, 10, 20, 20]
    key = secret("Aligned")
    first, _ = get_page(client, key, 5)
    assert first.status_code == 200 and first["Feed-Next-Cursor"] == "10"
    assert b'"more":true' in first.content and first.content.count(b'"position":') == 5
    verifier = FeedVerifier(trusted_keys(client))
    entries = sync(client, key, verifier, limit=10)
    assert [e["position"] for e in entries] == list(range(1, 26))


def test_a_full_page_is_built_once_then_served_from_the_cache_and_still_recorded(client, feed):
    one, two = secret("First platform"), secret("Second platform")
    built, scans = get_page(client, one, 10)
    assert built.status_code == 200 and len(scans) == 1 and ranged(scans[0])
    cached, scans = get_page(Client(), two, 10)
    assert cached.status_code == 200
    # Only the check of the last entry's chain digest, by primary key: no range scan.
    assert len(scans) == 1 and not ranged(scans[0]) and '"position" = 20' in scans[0]
    assert cached.content == built.content
    assert (cached["Feed-Key-Id"], cached["Feed-Signature"]) == (built["Feed-Key-Id"], built["Feed-Signature"])
    # The second partner's fetch was recorded like the first's (its evidence and delivery).
    for name in ("First platform", "Second platform"):
        key = PartnerKey.objects.get(partner__name=name)
        assert DeliveryMark.objects.filter(key=key, high=20).exists()


def test_the_page_at_the_head_and_old_pages_are_not_cached(client, feed, redis_client):
    key = secret("Tail")
    get_page(client, key, 20)  # 21..25 of a page ending at 30: not full
    feed.FEED_PAGE_CACHE_ENTRIES = 10  # only pages ending within 10 of the head (25)
    get_page(client, key, 0)  # ends at 10: 15 behind
    assert list(redis_client.scan_iter(f"{pagecache.KEY_PREFIX}*")) == []
    get_page(client, key, 10)  # ends at 20: 5 behind
    assert len(list(redis_client.scan_iter(f"{pagecache.KEY_PREFIX}*"))) == 1


def test_a_cached_page_the_database_no_longer_agrees_with_is_built_again(client, feed):
    """A feed restored from a backup and published differently since: the chain digest of the
    page's last entry differs, so the cached bytes are never served."""
    key = secret("Restored")
    built, _ = get_page(client, key, 10)
    entry = FeedEntry.objects.get(position=20)
    FeedEntry.objects.filter(position=20).update(chain="0" * 64, line=entry.line.replace('"add"', '"add" '))
    again, scans = get_page(client, key, 10)
    assert again.status_code == 200 and any(ranged(s) for s in scans)
    assert again.content != built.content and b'"digest":"' + b"0" * 64 + b'"' in again.content


def test_a_signing_key_rotation_never_serves_the_old_signature(client, feed):
    from django.core.management import call_command

    key = secret("Rotation")
    before, _ = get_page(client, key, 10)
    call_command("signing_key_rotate", verbosity=0)
    after, scans = get_page(client, key, 10)
    assert after["Feed-Key-Id"] != before["Feed-Key-Id"] and any(ranged(s) for s in scans)
    verifier = FeedVerifier(trusted_keys(client))
    response = client.get("/api/v1/checkpoint", **auth(key))
    verifier.accept_checkpoint(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
    verifier.position = 0
    first, _ = get_page(client, key, 0)
    verifier.accept_page(first.content, first["Feed-Key-Id"], first["Feed-Signature"])
    verifier.accept_page(after.content, after["Feed-Key-Id"], after["Feed-Signature"])


def test_pages_are_served_while_redis_is_unreachable(client, feed):
    feed.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:9/0", "DEFAULT_TIMEOUT": 900}}
    key = secret("No Redis")
    first, _ = get_page(client, key, 10)
    second, scans = get_page(client, key, 10)
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert any(ranged(s) for s in scans)


def test_a_cursor_below_the_floor_is_refused_even_with_its_page_cached(client, feed):
    from hashbank.feed.head import head_lock

    key = secret("Floor")
    assert get_page(client, key, 10)[0].status_code == 200
    head = head_lock()
    head.floor_position, head.floor_digest = 15, FeedEntry.objects.get(position=15).chain
    head.save()
    refused, _ = get_page(client, key, 10)
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "cursor_expired"
