"""Retention: old entries leave (a deleted case's values with them), live additions stay, old
cursors get 410 and restart from a snapshot, and the chain still verifies from the floor."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from hashbank.feed.prune import feed_prune
from hashbank.feed.snapshots import snapshot_build
from hashbank.feedformat import FeedVerifier, VerifyError, verify_snapshot_manifest
from hashbank.models import FeedEntry, FeedHead, Fingerprint
from hashbank.services import case_create, case_delete, partner_create, partner_key_issue
from tests.feed_helpers import auth, one_file, publish, sync, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _snapshot_dir(settings, tmp_path):
    settings.FEED_SNAPSHOT_DIR = tmp_path


@pytest.fixture
def secret():
    return partner_key_issue(partner=partner_create(name="Platform")).secret


def age_everything(days: int) -> None:
    FeedEntry.objects.update(published_at=timezone.now() - timedelta(days=days))


def test_prune_removes_old_history_and_keeps_live_additions(client, secret, settings):
    kept = case_create(files=[one_file(1)])
    deleted = case_create(files=[one_file(1)])
    deleted_values = set(Fingerprint.objects.filter(case=deleted.case).values_list("value", flat=True))
    case_delete(case=deleted.case)
    publish()
    age_everything(settings.FEED_RETENTION_DAYS + 1)

    call_command("feed_prune", "--dry-run")
    assert FeedEntry.objects.count() == 6
    assert feed_prune() == (0, 0), "no snapshot yet: the floor may not move"
    snapshot_build()
    floor, removed = feed_prune()
    assert (floor, removed) == (6, 4)
    remaining = set(FeedEntry.objects.values_list("fingerprint_key", flat=True))
    assert remaining == set(Fingerprint.objects.filter(case=kept.case).values_list("public_id", flat=True))
    lines = " ".join(FeedEntry.objects.values_list("line", flat=True))
    assert not any(value in lines for value in deleted_values)

    # An old cursor restarts from the snapshot; the chain continues from the floor.
    response = client.get("/api/v1/feed", {"cursor": 0}, **auth(secret))
    assert response.status_code == 410 and response.json()["error"]["code"] == "cursor_expired"
    verifier = FeedVerifier(trusted_keys(client))
    checkpoint = client.get("/api/v1/checkpoint", **auth(secret))
    with pytest.raises(VerifyError, match="start again from the latest snapshot"):
        verifier.accept_checkpoint(checkpoint.content, checkpoint["Feed-Key-Id"], checkpoint["Feed-Signature"])
    manifest_response = client.get("/api/v1/snapshots/latest", **auth(secret))
    manifest = verify_snapshot_manifest(manifest_response.content, manifest_response["Feed-Key-Id"],
                                        manifest_response["Feed-Signature"], verifier.keys)
    data = b"".join(client.get(manifest.download, **auth(secret)).streaming_content)
    records = {e["id"] for e in verifier.accept_snapshot(manifest, data)}
    case_create(files=[one_file(1)])
    publish()
    new = sync(client, secret, verifier)
    assert [e["position"] for e in new] == [7, 8]
    assert records | {e["id"] for e in new} == set(
        Fingerprint.objects.filter(status="active").values_list("public_id", flat=True))
    assert FeedHead.objects.get().floor_position == 6


def test_recent_entries_are_never_pruned(settings):
    case_create(files=[one_file(1)])
    publish()
    snapshot_build()
    assert feed_prune() == (0, 0)
    assert FeedEntry.objects.count() == 2
