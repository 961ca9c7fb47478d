"""Counting the hosted lookup for the partner's evidence (issue 16): one atomic Redis script a
lookup, carried into LookupTally by the sweep as totals, so that a flush run twice, at once, or
killed halfway counts nothing twice; Redis losing its copy (a restart) or going back to an
older one loses at most what it held and never lowers what was saved; counts made while Redis
was down wait in the process. The evidence document carries the period's figures, still signed
and verified, and only the calling partner's."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from hashbank import feedformat
from hashbank.lookup import tally
from hashbank.lookup.tally import KEY_PREFIX, lookup_counted, lookup_tally_flush
from hashbank.models import LookupTally
from hashbank.services import partner_create, partner_key_issue
from tests.feed_helpers import auth, trusted_keys

pytestmark = pytest.mark.django_db

DAY = date(2026, 12, 3)


@pytest.fixture
def redis_tally(settings, redis_url):
    import redis

    settings.JOBS_IN_PROCESS = False
    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter(f"{KEY_PREFIX}*"):
        connection.delete(key)
    tally._waiting.clear()
    yield connection
    for key in connection.scan_iter(f"{KEY_PREFIX}*"):
        connection.delete(key)


def saved(partner) -> tuple[int, int, int]:
    return LookupTally.objects.filter(partner=partner, day=DAY).values_list("requests", "hashes", "matched").get()


def test_counts_reach_the_row_once_however_often_the_flush_runs(redis_tally):
    partner = partner_create(name="Small Forum")
    lookup_counted(partner_id=partner.pk, hashes=9, matched=1, day=DAY)
    lookup_counted(partner_id=partner.pk, hashes=9, matched=0, day=DAY)
    assert not LookupTally.objects.exists()
    for _ in range(3):
        lookup_tally_flush()
    assert saved(partner) == (2, 18, 1)
    lookup_counted(partner_id=partner.pk, hashes=1, matched=1, day=DAY)
    lookup_tally_flush()
    assert saved(partner) == (3, 19, 2)


def test_a_flush_killed_before_it_committed_is_simply_run_again(redis_tally, monkeypatch):
    partner = partner_create(name="Small Forum")
    lookup_counted(partner_id=partner.pk, hashes=4, matched=2, day=DAY)
    lookup_tally_flush()
    lookup_counted(partner_id=partner.pk, hashes=4, matched=0, day=DAY)

    def killed(*args):
        raise SystemExit("killed between reading Redis and writing the row")

    monkeypatch.setattr(tally, "_set_row_at_least", killed)
    with pytest.raises(SystemExit):
        lookup_tally_flush()
    monkeypatch.undo()
    lookup_tally_flush()
    lookup_tally_flush()
    assert saved(partner) == (2, 8, 2)


def test_redis_losing_the_day_goes_on_from_what_was_saved(redis_tally):
    partner = partner_create(name="Small Forum")
    for _ in range(5):
        lookup_counted(partner_id=partner.pk, hashes=2, matched=1, day=DAY)
    lookup_tally_flush()
    redis_tally.delete(f"{KEY_PREFIX}{DAY.isoformat()}")  # a restart without persistence
    lookup_counted(partner_id=partner.pk, hashes=2, matched=0, day=DAY)
    lookup_tally_flush()
    lookup_tally_flush()
    assert saved(partner) == (6, 12, 5)


def test_redis_going_back_to_an_older_copy_never_lowers_the_figures(redis_tally):
    partner = partner_create(name="Small Forum")
    for _ in range(4):
        lookup_counted(partner_id=partner.pk, hashes=1, matched=0, day=DAY)
    lookup_tally_flush()
    redis_tally.hset(f"{KEY_PREFIX}{DAY.isoformat()}", f"{partner.pk}:requests", 1)  # restored from before
    lookup_tally_flush()
    assert saved(partner)[0] == 4
    lookup_counted(partner_id=partner.pk, hashes=1, matched=0, day=DAY)
    lookup_tally_flush()
    assert saved(partner) == (5, 5, 0)


def test_counts_made_while_redis_was_down_are_added_when_it_answers(redis_tally, monkeypatch, caplog):
    import hashbank.queueing

    partner = partner_create(name="Small Forum")
    real = hashbank.queueing.redis_connection

    def down():
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(hashbank.queueing, "redis_connection", down)
    lookup_counted(partner_id=partner.pk, hashes=3, matched=1, day=DAY)
    assert "kept in this process" in caplog.text
    monkeypatch.setattr(hashbank.queueing, "redis_connection", real)
    lookup_counted(partner_id=partner.pk, hashes=3, matched=0, day=DAY)
    lookup_tally_flush()
    assert saved(partner) == (2, 6, 1)


def test_the_sweep_carries_the_counts(redis_tally):
    from hashbank.maintenance import sweep

    partner = partner_create(name="Small Forum")
    lookup_counted(partner_id=partner.pk, hashes=2, matched=2, day=DAY)
    assert sweep()["lookup_tallies"] == {"days": 1, "rows": 1}
    assert saved(partner) == (1, 2, 2)
    sweep(dry_run=True)
    assert "lookup_tallies" not in sweep(dry_run=True)


def test_the_embedded_mode_adds_to_the_row(settings):
    settings.JOBS_IN_PROCESS = True
    partner = partner_create(name="Small Forum")
    lookup_counted(partner_id=partner.pk, hashes=2, matched=1, day=DAY)
    lookup_counted(partner_id=partner.pk, hashes=3, matched=0, day=DAY)
    assert saved(partner) == (2, 5, 1)


def test_the_evidence_carries_the_periods_lookups_signed_and_only_the_partners_own(client, redis_tally, settings,
                                                                                   tmp_path):
    from hashbank.lookup.tally import today

    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.PARTNER_RATE_PER_SECOND = 0
    forum, other = partner_create(name="Small Forum"), partner_create(name="Other")
    secret = partner_key_issue(partner=forum).secret
    lookup_counted(partner_id=forum.pk, hashes=10, matched=1)
    lookup_counted(partner_id=forum.pk, hashes=5, matched=0)
    lookup_counted(partner_id=other.pk, hashes=100, matched=100)
    LookupTally.objects.create(partner=forum, day=date(2020, 1, 1), requests=50, hashes=50, matched=50)  # outside
    response = client.get("/api/v1/evidence", **auth(secret))
    assert response.status_code == 200
    document = feedformat.verify_evidence(response.content, response["Feed-Key-Id"], response["Feed-Signature"],
                                          trusted_keys(client))
    # Carried over from Redis for the document itself, not only by the next sweep.
    assert document["lookups"] == {"requests": 2, "hashes": 15, "matched": 1}
    assert LookupTally.objects.filter(partner=forum, day=today()).exists()
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/evidence?format=csv", **auth(secret)).content.decode())))
    assert ["lookups", "hashes", "15"] in rows
    assert json.loads(response.content)["lookups"] == document["lookups"]
