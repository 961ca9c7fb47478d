"""What snapshot files keep on disk: only the newest snapshot (and the one it replaced, for
FEED_SNAPSHOT_GRACE), never a withdrawn or deleted case's values once the refresh and the sweep
have run, and never a killed writer's leftovers. Kills are real SIGKILLs of a separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from hashbank.feed.snapshots import LOCK_NAME, snapshot_build, snapshot_dir, snapshot_sweep
from hashbank.feedformat import read_snapshot, verify_snapshot_manifest
from hashbank.models import Fingerprint, Snapshot
from hashbank.services import case_create, case_delete, case_withdraw, partner_create, partner_key_issue
from tests.conftest import ROOT
from tests.feed_helpers import auth, one_file, run_worker, subprocess_env, trusted_keys

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.FEED_SNAPSHOT_INTERVAL = 0  # snapshots only when a test makes one
    settings.FEED_SNAPSHOT_GRACE = 300


@pytest.fixture
def secret():
    return partner_key_issue(partner=partner_create(name="Platform")).secret


def case_values(case) -> set[str]:
    rows = Fingerprint.objects.filter(case=case).values_list("public_id", "value")
    return {text for row in rows for text in row}


def active_ids() -> set[str]:
    return set(Fingerprint.objects.filter(status="active").values_list("public_id", flat=True))


def disk_text() -> dict[str, bytes]:
    """Every file in the snapshot directory as stored and, when gzip (even cut short), inflated."""
    texts = {}
    for path in Path(snapshot_dir()).iterdir():
        raw = path.read_bytes()
        try:
            texts[path.name] = raw + zlib.decompressobj(wbits=31).decompress(raw)
        except zlib.error:
            texts[path.name] = raw
    return texts


def files_holding(values: set[str]) -> list[str]:
    return sorted(name for name, text in disk_text().items() if any(v.encode() in text for v in values))


def snapshot_files() -> list[str]:
    return sorted(p.name for p in snapshot_dir().iterdir() if p.name != LOCK_NAME)


def download_latest(client, secret) -> tuple[int, set[str]]:
    response = client.get("/api/v1/snapshots/latest", **auth(secret))
    assert response.status_code == 200, response.content
    manifest = verify_snapshot_manifest(response.content, response["Feed-Key-Id"], response["Feed-Signature"],
                                        trusted_keys(client))
    file_response = client.get(manifest.download, **auth(secret))
    assert file_response.status_code == 200, file_response.content
    data = b"".join(file_response.streaming_content)
    return manifest.position, {entry["id"] for entry in read_snapshot(manifest, data)}


def assert_gone_for_partners(client, secret, position: int) -> None:
    response = client.get(f"/api/v1/snapshots/{position}/file", **auth(secret))
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "no_snapshot"


def age(snapshot: Snapshot, seconds: float) -> None:
    """Time passing for the sweep, which compares rows' creation times with the clock."""
    Snapshot.objects.filter(pk=snapshot.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_the_replaced_snapshot_stays_for_the_grace_period_then_the_sweep_removes_it(client, secret, settings):
    grace = settings.FEED_SNAPSHOT_GRACE
    gone = case_create(files=[one_file(2)])  # published on commit (embedded mode)
    case_create(files=[one_file(1)])
    first = snapshot_build()
    values = case_values(gone.case)
    assert files_holding(values) == [first.file_name]

    case_delete(case=gone.case)  # on commit: publish, then a fresh snapshot at the new head
    newest = Snapshot.objects.order_by("-position").first()
    assert newest.position > first.position
    position, ids = download_latest(client, secret)
    assert position == newest.position and ids == active_ids() and not ids & values
    # A partner that read the first manifest a moment ago can still fetch its file.
    still = client.get(f"/api/v1/snapshots/{first.position}/file", **auth(secret))
    assert still.status_code == 200
    assert b"".join(still.streaming_content) == (snapshot_dir() / first.file_name).read_bytes()
    assert snapshot_sweep()["superseded"] == 0 and files_holding(values) == [first.file_name]

    age(newest, grace + 1)  # the first was replaced longer ago than the grace period
    result = snapshot_sweep()
    assert (result["superseded"], result["kept"], result["busy"]) == (1, 1, 0)
    assert files_holding(values) == [] and snapshot_files() == [newest.file_name]
    assert list(Snapshot.objects.values_list("position", flat=True)) == [newest.position]
    assert_gone_for_partners(client, secret, first.position)
    assert download_latest(client, secret)[0] == newest.position


def test_only_the_newest_is_kept_and_the_one_it_replaced_within_the_grace(settings):
    grace = settings.FEED_SNAPSHOT_GRACE
    built = []
    for _ in range(3):
        case_create(files=[one_file()])
        built.append(snapshot_build())
    oldest, middle, newest = built
    age(oldest, 3 * grace)
    age(middle, 2 * grace)  # so the oldest was replaced long ago
    age(newest, grace / 2)  # the middle one only recently
    assert snapshot_sweep(dry_run=True)["superseded"] == 1
    assert len(snapshot_files()) == 3  # a dry run removes nothing
    assert snapshot_sweep()["superseded"] == 1
    assert snapshot_files() == [middle.file_name, newest.file_name]
    assert set(Snapshot.objects.values_list("pk", flat=True)) == {middle.pk, newest.pk}


@pytest.mark.parametrize("remove", [case_delete, case_withdraw], ids=["deleted", "withdrawn"])
def test_after_a_case_leaves_no_snapshot_file_holds_its_values(postgres, redis_url, settings, client, secret,
                                                                 remove):
    """The production path: the service enqueues the refresh on commit, a real worker runs it."""
    import django_rq

    settings.JOBS_IN_PROCESS = False
    # The worker removes replaced snapshots at once (the grace period has its own test).
    env = {"FEED_SNAPSHOT_DIR": str(settings.FEED_SNAPSHOT_DIR), "FEED_SNAPSHOT_INTERVAL": "0",
           "FEED_SNAPSHOT_GRACE": "0"}
    queue = django_rq.get_queue("default")
    queue.empty()
    from hashbank import jobs as bank_jobs
    from hashbank.queueing import coalesce_key, redis_connection

    # Earlier tests' "a run is queued" flags, whose jobs queue.empty() just removed.
    redis_connection().delete(coalesce_key(bank_jobs.feed_publish), coalesce_key(bank_jobs.feed_snapshot_refresh))
    gone = case_create(files=[one_file(2), one_file(1)])
    case_create(files=[one_file(1)])
    assert run_worker(redis_url, **env).returncode == 0
    snapshot_build()
    case_create(files=[one_file(1)])
    assert run_worker(redis_url, **env).returncode == 0
    snapshot_build()
    values = case_values(gone.case)
    assert len(files_holding(values)) == 2  # both snapshots hold the case

    remove(case=gone.case)
    assert "hashbank.jobs.feed_snapshot_refresh" in [job.func_name for job in queue.jobs]
    result = run_worker(redis_url, **env)
    assert result.returncode == 0, result.stdout + result.stderr

    assert files_holding(values) == []
    assert len(snapshot_files()) == 1 and Snapshot.objects.count() == 1
    assert download_latest(client, secret)[1] == active_ids() and len(active_ids()) == 4


DOOMED_WRITER = """
import os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()
from hashbank.feed import snapshots
def pause(at):
    if at == sys.argv[1]:
        print("paused", flush=True)
        time.sleep(600)  # until the test kills this process
snapshots.fault_point = pause
snapshots.snapshot_build()
"""


@pytest.mark.parametrize("step", ["snapshot_file_written", "snapshot_file_renamed"])
@pytest.mark.parametrize("cleaner", ["sweep", "next_snapshot"])
def test_a_killed_writer_leaves_nothing_once_the_sweep_or_next_run_comes(postgres, settings, client, step,
                                                                         cleaner):
    case_create(files=[one_file(3)])
    case_create(files=[one_file(1)])
    values = set(Fingerprint.objects.values_list("value", flat=True))
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(DOOMED_WRITER), step], cwd=ROOT,
        env=subprocess_env(FEED_SNAPSHOT_DIR=str(settings.FEED_SNAPSHOT_DIR)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "paused", writer.stderr.read()
        leftover = snapshot_files()
        assert len(leftover) == 1 and files_holding(values) == leftover  # the whole active set
        assert leftover[0].endswith(".tmp") == (step == "snapshot_file_written")
        # While the writer lives, its file is not touched.
        assert snapshot_sweep()["busy"] == 1 and snapshot_files() == leftover
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
    assert writer.returncode == -signal.SIGKILL
    assert not Snapshot.objects.exists()

    if cleaner == "sweep":
        result = snapshot_sweep()
        assert result["temporary_files"] + result["orphan_files"] == 1
        assert snapshot_files() == [] and files_holding(values) == []
    snapshot = snapshot_build()
    assert snapshot_files() == [snapshot.file_name]
    with open(snapshot_dir() / snapshot.file_name, "rb") as f:
        data = f.read()
    manifest = verify_snapshot_manifest(bytes(snapshot.manifest_body), snapshot.kid, snapshot.signature,
                                        trusted_keys(client))
    assert {e["id"] for e in read_snapshot(manifest, data)} == active_ids() and snapshot.count == 6


def test_the_command_sweeps_with_a_dry_run(capsys, settings):
    case_create(files=[one_file()])
    old = snapshot_build()
    case_create(files=[one_file()])
    new = snapshot_build()
    age(new, settings.FEED_SNAPSHOT_GRACE + 1)
    (snapshot_dir() / ".snapshot-000000000009.ndjson.gz.dead.tmp").write_bytes(b"left by a killed run")
    call_command("feed_snapshot", "--sweep", "--dry-run")
    assert "would remove 1 superseded snapshots, 1 temporary" in capsys.readouterr().out
    assert len(snapshot_files()) == 3
    call_command("feed_snapshot", "--sweep")
    assert "removed 1 superseded snapshots, 1 temporary" in capsys.readouterr().out
    assert snapshot_files() == [new.file_name] and not Snapshot.objects.filter(pk=old.pk).exists()
