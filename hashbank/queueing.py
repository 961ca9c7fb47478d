"""The one place that decides how a job runs.

With REDIS_URL set, jobs go to a django-rq queue for a worker (`manage.py worker`). Without it
(the embedded default), they run in this process. Either way they start only after the
surrounding transaction commits, so a job never looks for rows that are not visible yet, and a
rolled-back request enqueues nothing.

Enqueueing never fails the request that asked for it: what a job would do is already recorded
in the database (the feed outbox above all), so when Redis is down the job is simply not
queued, a warning is logged, and the next successful enqueue, the worker's catch-up after it
reconnects or the periodic sweep (`manage.py feed_sweep`) does the work. A survivor whose case
committed always gets their case number and PIN (issue 11).

Coalescing: a job that drains a shared backlog (the feed publisher) is queued at most once at
a time. A short-lived Redis flag says "one is waiting"; the job clears it as it starts, before
it reads the backlog, so anything committed after that read queues a fresh run and nothing
is ever left behind.

Naming a job: the function itself, or its dotted name ("hashbank.jobs.feed_publish"), which is
how django-rq's workers find it too. The jobs call the services and the feed; code below them
(hashbank.services, hashbank.feed) names the jobs it enqueues, so no module imports the jobs
that import it (tests/test_import_graph.py checks every such name is a job).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

#: How long a "one is waiting" flag lives if its job never starts (a worker lost with Redis):
#: at worst one extra run per this many seconds, never a lost one.
COALESCE_TTL = 60

#: A job: the function, or its dotted name.
Job = Callable[..., Any] | str


def job_name(job: Job) -> str:
    """The job's dotted name, as django-rq records it (`func_name`)."""
    return job if isinstance(job, str) else f"{job.__module__}.{job.__qualname__}"


def job_function(job: Job) -> Callable[..., Any]:
    """The function a job names, imported when it is about to run."""
    if not isinstance(job, str):
        return job
    module, _, name = job.rpartition(".")
    return getattr(importlib.import_module(module), name)


def enqueue_on_commit(job: Job, *args: Any, queue: str = "default", coalesce: bool = False) -> None:
    """Run `job(*args)` after commit. Jobs take ids and are safe to run twice."""
    transaction.on_commit(lambda: enqueue_now(job, *args, queue=queue, coalesce=coalesce), robust=True)


def redis_connection():  # -> redis.Redis
    """One client per process with short timeouts: a Redis outage costs a request at most a
    couple of seconds, never a hang."""
    return _client(settings.RQ_QUEUES["default"]["URL"], settings.REDIS_CONNECT_TIMEOUT, settings.REDIS_SOCKET_TIMEOUT)


@functools.lru_cache(maxsize=4)
def _client(url: str, connect_timeout: float, socket_timeout: float):  # -> redis.Redis
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout,
                                health_check_interval=30)


def coalesce_key(job: Job, *args: Any) -> str:
    return "imageshield:queued:" + ":".join([job_name(job), *map(str, args)])


def enqueue_now(job: Job, *args: Any, queue: str = "default", coalesce: bool = False) -> bool:
    """Run or queue the job now; False when it could not be queued (logged, never raised)."""
    name = job_name(job).rpartition(".")[2]
    if settings.JOBS_IN_PROCESS:
        try:
            job_function(job)(*args)
        except Exception:
            # The request that caused the job has committed already; a failed job must not
            # turn that success into an error page. Jobs are idempotent and re-run by the
            # periodic sweeps, so logging is the right response here.
            logger.exception("in-process job %s failed", name)
        return True
    import django_rq

    key = coalesce_key(job, *args) if coalesce else None
    try:
        connection = redis_connection()
        if key is not None and not connection.set(key, "1", nx=True, ex=COALESCE_TTL):
            return True  # one is already waiting, and it has not read the backlog yet
        django_rq.get_queue(queue, connection=connection).enqueue(job, *args)
        return True
    except Exception as error:
        logger.warning("job %s not queued (%s: %s); the sweep or the next enqueue will do its work",
                       name, type(error).__name__, error)
        if key is not None:
            try:
                redis_connection().delete(key)
            except Exception:  # noqa: S110 - Redis is down; the flag expires by itself
                pass
        return False


def coalesce_release(job: Job, *args: Any) -> None:
    """Called by a coalesced job as it starts, before it reads its backlog."""
    if settings.JOBS_IN_PROCESS:
        return
    try:
        redis_connection().delete(coalesce_key(job, *args))
    except Exception as error:
        # Running without Redis is possible only from the sweep; the flag then expires.
        logger.warning("could not clear the queued flag of %s: %s", job_name(job).rpartition(".")[2], error)
