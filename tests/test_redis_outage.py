"""Redis goes away (issue 11, items 1, 3 and 13), on a private redis-server killed with SIGKILL:
a survivor whose case committed always gets the case number and PIN, nothing accepted is
lost (the sweep and the worker's catch-up publish it), the worker comes back by itself,
/readyz says what is wrong, and a burst of submissions queues one publisher run."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.test import Client

from hashbank.models import Case, FeedEntry, FeedOutbox
from tests.conftest import ROOT
from tests.feed_helpers import subprocess_env
from tests.redis_server import private_redis  # noqa: F401 - a fixture
from tests.survivor_helpers import consented_client, photo_fingerprints, post_json, submission

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(settings, private_redis, tmp_path):  # noqa: F811
    settings.JOBS_IN_PROCESS = False
    settings.REDIS_URL = private_redis.url
    settings.RQ_QUEUES = {"default": {"URL": private_redis.url, "DEFAULT_TIMEOUT": 900}}
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    return private_redis


def submit(n: int):
    # Each survivor from an address of their own: the per-address flood limit is not under test.
    address = f"198.51.100.{n % 250}"
    client = Client(REMOTE_ADDR=address)
    consented_client(client)
    return post_json(client, "/api/survivor/cases", submission([photo_fingerprints(n)]))


def wait_for(condition, seconds: float = 30.0) -> bool:
    """A bounded wait for something that happens in another process (never a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_case_committed_while_redis_is_down_still_gets_its_receipt_and_is_published(postgres, queued):
    queued.crash()
    response = submit(0)
    assert response.status_code == 201, response.content[:300]
    body = response.json()
    assert body["reference"] and body["pin"]
    assert Case.objects.count() == 1
    waiting = FeedOutbox.objects.count()
    assert waiting == len(photo_fingerprints(0)) and not FeedEntry.objects.exists()
    # The periodic sweep publishes what could not be queued, with Redis still down.
    call_command("feed_sweep", stdout=io.StringIO())
    assert not FeedOutbox.objects.exists()
    assert FeedEntry.objects.count() == waiting
    # A retry is not needed, so no second case exists.
    assert Case.objects.count() == 1


def test_a_burst_of_submissions_queues_one_publisher_run(postgres, queued):
    import django_rq

    queue = django_rq.get_queue("default")
    for n in range(12):
        assert submit(n).status_code == 201
    publishes = [j for j in queue.get_jobs() if j.func_name == "hashbank.jobs.feed_publish"]
    assert len(publishes) == 1
    # That one run publishes all twelve, and clears the flag so the next change queues again.
    from tests.feed_helpers import run_worker

    result = run_worker(queued.url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not FeedOutbox.objects.exists() and FeedEntry.objects.count() == 12 * len(photo_fingerprints(0))
    assert submit(20).status_code == 201
    assert len([j for j in queue.get_jobs() if j.func_name == "hashbank.jobs.feed_publish"]) == 1


def test_the_worker_comes_back_after_a_redis_crash_and_catches_up(postgres, queued, settings):
    from portal.health import readiness

    worker = subprocess.Popen([sys.executable, "manage.py", "worker", "-v", "0"], cwd=ROOT,
                              env=subprocess_env(REDIS_URL=queued.url), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: readiness()[0]), readiness()
        queued.crash()
        ok, checks = readiness()
        assert not ok and checks["redis"] != "ok"
        # Accepted while Redis is down: the survivor has a receipt, the outbox holds the rest.
        assert submit(1).status_code == 201
        assert FeedOutbox.objects.exists()
        time.sleep(1.5)  # long enough for RQ's own worker to have given up
        queued.start()
        # No manual step: the same worker process reconnects, and its catch-up publishes.
        assert wait_for(lambda: not FeedOutbox.objects.exists() and FeedEntry.objects.exists())
        assert wait_for(lambda: readiness()[0]), readiness()
        assert worker.poll() is None, worker.communicate()[0][-3000:]
    finally:
        worker.terminate()
        try:
            output = worker.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0]
    # SIGTERM is a request to stop: it ends cleanly rather than being restarted.
    assert worker.returncode == 0, output[-3000:]


def test_readyz_names_what_is_wrong_and_livez_needs_nothing(postgres, queued, settings):
    client = Client()
    # No worker has registered with this Redis yet.
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "no worker registered"
    assert "no-store" in response["Cache-Control"]
    queued.crash()
    response = client.get("/readyz", HTTP_HOST="not-an-allowed-host.example")
    assert response.status_code == 503 and response.json()["checks"]["redis"] != "ok"
    assert client.get("/livez", HTTP_HOST="not-an-allowed-host.example").status_code == 200


def test_readyz_in_the_embedded_mode_checks_the_database(settings):
    settings.JOBS_IN_PROCESS = True
    response = Client().get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["feed_outbox_oldest_seconds"] == 0


def start_worker(redis_url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "worker", "-v", "0"], cwd=ROOT,
                            env=subprocess_env(REDIS_URL=redis_url), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_readyz_notices_a_killed_worker(postgres, queued):
    """SIGKILL leaves the worker's registration behind; its heartbeat stops, and /readyz says
    so within WORKER_HEARTBEAT_MAX_AGE (20 s) rather than a minute later."""
    from portal.health import readiness

    worker = start_worker(queued.url)
    try:
        assert wait_for(lambda: readiness()[0]), readiness()
    finally:
        worker.kill()
        worker.communicate()
    assert wait_for(lambda: not readiness()[0], seconds=35), readiness()
    assert readiness()[1]["worker"].startswith("last heartbeat")


def test_a_busy_worker_is_not_taken_for_a_dead_one(postgres, queued):
    """While a job runs longer than WORKER_HEARTBEAT_MAX_AGE (a big snapshot), the worker
    still beats, so /readyz stays 200 throughout."""
    import django_rq

    from portal.health import readiness
    from tests.slow_job import sleep

    worker = start_worker(queued.url)
    try:
        assert wait_for(lambda: readiness()[0]), readiness()
        job = django_rq.get_queue("default").enqueue(sleep, 27, job_timeout=120)
        assert wait_for(lambda: job.get_status(refresh=True) == "started")
        samples = []
        while job.get_status(refresh=True) == "started":
            samples.append(readiness())
            time.sleep(1)
        assert len(samples) >= 20
        assert all(ok for ok, _ in samples), [checks for ok, checks in samples if not ok][:1]
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
