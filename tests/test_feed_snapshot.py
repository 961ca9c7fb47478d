"""Snapshots: the active set at a position, gzipped NDJSON with a signed manifest, downloadable,
enough to start a partner who then follows the feed; built by the real job on a real worker."""

import gzip
import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction

from hashbank import jobs
from hashbank.feed.snapshots import snapshot_build, snapshot_path
from hashbank.feedformat import FeedVerifier, VerifyError, read_snapshot, verify_snapshot_manifest
from hashbank.models import Fingerprint, Snapshot
from hashbank.queueing import enqueue_on_commit
from hashbank.services import (
    FeedbackItem,
    case_create,
    case_file_withdraw,
    fingerprint_review_clear,
    partner_create,
    partner_feedback_record,
    partner_key_issue,
)
from tests.feed_helpers import auth, one_file, publish, run_worker, sync, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _snapshot_dir(settings, tmp_path):
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


@pytest.fixture
def secret():
    return partner_key_issue(partner=partner_create(name="Platform")).secret


def active_ids():
    return set(Fingerprint.objects.filter(status="active").values_list("public_id", flat=True))


def download(client, secret):
    response = client.get("/api/v1/snapshots/latest", **auth(secret))
    assert response.status_code == 200, response.content
    manifest = verify_snapshot_manifest(response.content, response["Feed-Key-Id"], response["Feed-Signature"],
                                        trusted_keys(client))
    file_response = client.get(manifest.download, **auth(secret))
    assert file_response.status_code == 200 and file_response["Content-Type"] == "application/gzip"
    return manifest, b"".join(file_response.streaming_content)


def test_snapshot_holds_exactly_the_active_set(client, secret):
    first = case_create(files=[one_file(2), one_file(1)])
    case_create(files=[one_file(1)])
    case_file_withdraw(case=first.case, file_id=first.case.files.first().public_id)
    held = Fingerprint.objects.filter(status="active").first()
    for name in ("A", "B"):
        partner_feedback_record(partner=partner_create(name=name),
                                items=[FeedbackItem(held.public_id, "false_match", "1")])
    publish()
    assert snapshot_build() is not None
    manifest, data = download(client, secret)
    entries = list(read_snapshot(manifest, data))
    assert {e["id"] for e in entries} == active_ids() and held.public_id not in active_ids()
    assert all(e["op"] == "add" for e in entries) and manifest.count == len(entries)
    assert [e["position"] for e in entries] == sorted(e["position"] for e in entries)

    # Cleared by staff: back in the feed, and in the next snapshot.
    fingerprint_review_clear(fingerprint=held, reviewer_name="S", reason="checked")
    publish()
    snapshot_build()
    manifest, data = download(client, secret)
    assert {e["id"] for e in read_snapshot(manifest, data)} == active_ids() and held.public_id in active_ids()


def test_a_partner_starts_from_a_snapshot_and_follows_the_feed(client, secret):
    case_create(files=[one_file(3)])
    publish()
    snapshot_build()
    case_create(files=[one_file(1)])
    publish()
    manifest, data = download(client, secret)
    verifier = FeedVerifier(trusted_keys(client))
    records = {e["id"]: e for e in verifier.accept_snapshot(manifest, data)}
    for entry in sync(client, secret, verifier):
        if entry["op"] == "add":
            records[entry["id"]] = entry
        else:
            records.pop(entry["id"], None)
    assert set(records) == active_ids() and len(records) == 6


def test_a_changed_snapshot_file_is_refused(client, secret):
    case_create(files=[one_file()])
    publish()
    snapshot_build()
    manifest, data = download(client, secret)
    lines = gzip.decompress(data).splitlines()
    tampered = gzip.compress(b"\n".join(lines[:-1]) + b"\n")
    with pytest.raises(VerifyError, match="does not match its signed manifest"):
        list(read_snapshot(manifest, tampered))


def test_building_twice_at_one_position_makes_one_snapshot():
    case_create(files=[one_file()])
    publish()
    assert snapshot_build() is not None
    assert snapshot_build() is None
    assert Snapshot.objects.count() == 1


def test_no_snapshot_yet_is_a_clear_404(client, secret):
    response = client.get("/api/v1/snapshots/latest", **auth(secret))
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_snapshot"
    assert client.get("/api/v1/snapshots/7/file", **auth(secret)).status_code == 404


def test_on_demand_command_with_dry_run(capsys):
    case_create(files=[one_file()])
    publish()
    call_command("feed_snapshot", "--dry-run")
    assert not Snapshot.objects.exists()
    call_command("feed_snapshot")
    snapshot = Snapshot.objects.get()
    assert snapshot.count == 2 and snapshot_path(snapshot).exists()
    with gzip.open(snapshot_path(snapshot)) as f:
        assert all(json.loads(line)["op"] == "add" for line in f)


@pytest.mark.django_db(transaction=True)
def test_the_job_runs_on_a_real_worker_and_is_scheduled_by_publishing(postgres, redis_url, settings):
    import django_rq

    settings.JOBS_IN_PROCESS = False
    settings.FEED_SNAPSHOT_INTERVAL = 3600
    queue = django_rq.get_queue("default")
    queue.empty()
    cache.delete("hashbank:feed-snapshot-requested")  # a previous run's request marker
    # and an earlier test's "a publisher run is queued" flag, whose job queue.empty() just removed
    from hashbank.queueing import coalesce_key, redis_connection

    redis_connection().delete(coalesce_key(jobs.feed_publish))
    case_create(files=[one_file()])  # enqueues the publisher on commit
    assert queue.count == 1
    env_dir = str(settings.FEED_SNAPSHOT_DIR)
    result = run_worker(redis_url, FEED_SNAPSHOT_DIR=env_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    # The worker published, which (no snapshot yet) scheduled a snapshot, which it also ran.
    snapshot = Snapshot.objects.get()
    assert snapshot.position == 2 and snapshot.count == 2
    # Enqueued again on demand: safe to run twice, nothing new at the same position.
    with transaction.atomic():
        enqueue_on_commit(jobs.feed_snapshot)
    assert run_worker(redis_url, FEED_SNAPSHOT_DIR=env_dir).returncode == 0
    assert Snapshot.objects.count() == 1
