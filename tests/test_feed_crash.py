"""A worker process killed mid-publish or mid-snapshot loses nothing and repeats nothing once a
worker runs again. The kill is real: a separate Python process on this test's PostgreSQL
database dies with os._exit between two steps (its open transaction dies with it)."""

import subprocess
import sys
import textwrap
from unittest import mock

import pytest

from hashbank.feed.publish import publish_pending
from hashbank.feed.snapshots import snapshot_build, snapshot_dir
from hashbank.feedformat import GENESIS, chain_step
from hashbank.models import FeedEntry, FeedHead, FeedOutbox, Fingerprint, Snapshot
from hashbank.services import case_create
from tests.conftest import ROOT
from tests.feed_helpers import one_file, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True)]

DIE_AT = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()
from hashbank.feed import publish, snapshots
step = sys.argv[1]
def die(at):
    if at == step:
        os._exit(137)  # no cleanup, no rollback from us: like SIGKILL
publish.fault_point = die
snapshots.fault_point = die
{call}
print("finished without dying")
"""


def run_and_die(step: str, call: str, **env: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(DIE_AT.format(call=call))
    return subprocess.run([sys.executable, "-c", script, step], cwd=ROOT, env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=120)


def assert_feed_is_whole(expected_keys: set[str]) -> None:
    entries = list(FeedEntry.objects.order_by("position"))
    assert [e.position for e in entries] == list(range(1, len(entries) + 1))
    assert sorted(e.fingerprint_key for e in entries) == sorted(expected_keys)  # each exactly once
    digest = GENESIS
    for entry in entries:
        digest = chain_step(digest, entry.line.encode())
        assert entry.chain == digest
    head = FeedHead.objects.get()
    assert (head.position, head.digest) == (len(entries), digest)
    assert not FeedOutbox.objects.exists()


@pytest.mark.parametrize("step", ["entries_written", "outbox_cleared", "before_commit"])
def test_publisher_killed_between_steps_then_rerun(postgres, settings, tmp_path, step):
    settings.JOBS_IN_PROCESS = False  # leave the outbox for the doomed process
    settings.FEED_SNAPSHOT_DIR = tmp_path
    with mock.patch("hashbank.queueing.enqueue_now"):  # no worker: the doomed process publishes
        case_create(files=[one_file(2), one_file(1)])
        case_create(files=[one_file(1)])
    keys = set(Fingerprint.objects.values_list("public_id", flat=True))

    died = run_and_die(step, "publish.publish_pending()", FEED_SNAPSHOT_INTERVAL="0")
    assert died.returncode == 137, died.stdout + died.stderr
    # The dead process's transaction never committed: nothing published, nothing lost.
    assert not FeedEntry.objects.exists() and FeedOutbox.objects.count() == len(keys)

    ran = run_and_die("never", "publish.publish_pending()", FEED_SNAPSHOT_INTERVAL="0")
    assert ran.returncode == 0 and "finished" in ran.stdout, ran.stderr
    assert_feed_is_whole(keys)
    assert publish_pending() == 0  # and a second run changes nothing


@pytest.mark.parametrize("step", ["snapshot_file_written", "snapshot_file_renamed"])
def test_snapshot_killed_between_steps_then_rerun(postgres, settings, tmp_path, step):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path
    case_create(files=[one_file(2)])
    env = {"FEED_SNAPSHOT_DIR": str(tmp_path)}

    died = run_and_die(step, "snapshots.snapshot_build()", **env)
    assert died.returncode == 137, died.stdout + died.stderr
    assert not Snapshot.objects.exists()  # never half-visible to partners

    ran = run_and_die("never", "snapshots.snapshot_build()", **env)
    assert ran.returncode == 0, ran.stderr
    snapshot = Snapshot.objects.get()
    assert snapshot.count == 3 and snapshot.position == 3
    assert snapshot_build() is None and Snapshot.objects.count() == 1
    finals = sorted(p.name for p in snapshot_dir().glob("snapshot-*.ndjson.gz"))
    assert finals == [snapshot.file_name]
