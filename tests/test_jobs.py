"""Jobs: enqueued on commit, run by a real RQ worker process on real Redis."""

import os
import subprocess
import sys

import pytest
from django.db import connection, transaction

from hashbank.jobs import record_heartbeat
from hashbank.models import Heartbeat
from hashbank.queueing import enqueue_on_commit
from tests.conftest import ROOT


def test_database_url_for_the_test_database() -> str:
    d = connection.settings_dict
    return f"postgres://{d['USER']}:{d['PASSWORD']}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


test_database_url_for_the_test_database.__test__ = False  # a helper, not a test


def run_burst_worker(redis_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": test_database_url_for_the_test_database(), "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_heartbeat_runs_on_a_real_worker(postgres, redis_url, settings):
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("default")
    queue.empty()

    with transaction.atomic():
        enqueue_on_commit(record_heartbeat, "ci-check")
        assert queue.count == 0, "nothing may be enqueued before the transaction commits"
    assert queue.count == 1

    result = run_burst_worker(redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert queue.count == 0
    assert Heartbeat.objects.get(name="ci-check").beats == 1

    # Safe to run twice: a second delivery counts a second beat and breaks nothing.
    enqueue_on_commit(record_heartbeat, "ci-check")
    assert run_burst_worker(redis_url).returncode == 0
    assert Heartbeat.objects.get(name="ci-check").beats == 2


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_enqueues_nothing(redis_url, settings):
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("default")
    queue.empty()
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(record_heartbeat, "never")
        raise RuntimeError("request failed")
    assert queue.count == 0


@pytest.mark.django_db(transaction=True)
def test_in_process_jobs_run_after_commit(settings):
    settings.JOBS_IN_PROCESS = True
    with transaction.atomic():
        enqueue_on_commit(record_heartbeat, "embedded")
        assert not Heartbeat.objects.filter(name="embedded").exists()
    assert Heartbeat.objects.get(name="embedded").beats == 1
