"""A job named by its dotted path is the same job as the function: same django-rq name, same
coalescing flag, same run. The services and the feed name the jobs they enqueue (so they need
not import hashbank.jobs, which imports them); nothing about how a job runs may change."""

import pytest
from django.db import transaction

from hashbank import jobs
from hashbank.models import Heartbeat
from hashbank.queueing import coalesce_key, enqueue_on_commit, job_function, job_name
from tests.test_jobs import run_burst_worker


def test_a_name_and_its_function_are_one_job():
    assert job_name(jobs.feed_publish) == job_name("hashbank.jobs.feed_publish") == "hashbank.jobs.feed_publish"
    assert job_function("hashbank.jobs.feed_publish") is jobs.feed_publish
    assert job_function(jobs.feed_publish) is jobs.feed_publish
    # The flag a service sets when it names the publisher is the one the job clears as it starts.
    assert coalesce_key("hashbank.jobs.feed_publish") == coalesce_key(jobs.feed_publish)
    assert coalesce_key("hashbank.jobs.feed_snapshot", True) == coalesce_key(jobs.feed_snapshot, True)


@pytest.mark.django_db(transaction=True)
def test_a_named_job_runs_in_process_after_commit(settings):
    settings.JOBS_IN_PROCESS = True
    with transaction.atomic():
        enqueue_on_commit("hashbank.jobs.record_heartbeat", "named")
        assert not Heartbeat.objects.filter(name="named").exists(), "not before the commit"
    assert Heartbeat.objects.get(name="named").beats == 1


@pytest.mark.django_db(transaction=True)
def test_a_named_job_runs_on_a_real_worker(postgres, redis_url, settings):
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("default")
    queue.empty()
    with transaction.atomic():
        enqueue_on_commit("hashbank.jobs.record_heartbeat", "named")
    [queued] = queue.jobs
    assert queued.func_name == "hashbank.jobs.record_heartbeat"
    result = run_burst_worker(redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert Heartbeat.objects.get(name="named").beats == 1
