"""The one place that decides how a job runs.

With REDIS_URL set, jobs go to a django-rq queue for an `rqworker`. Without it (the embedded
default), they run in this process. Either way they start only after the surrounding
transaction commits, so a job never looks for rows that are not visible yet, and a rolled-back
request enqueues nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(job: Callable[..., Any], *args: Any, queue: str = "default") -> None:
    """Run `job(*args)` after commit. Jobs take ids and are safe to run twice."""
    transaction.on_commit(lambda: enqueue_now(job, *args, queue=queue))


def enqueue_now(job: Callable[..., Any], *args: Any, queue: str = "default") -> None:
    if settings.JOBS_IN_PROCESS:
        try:
            job(*args)
        except Exception:
            # The request that caused the job has committed already; a failed job must not
            # turn that success into an error page. Jobs are idempotent and re-run by the
            # periodic sweeps, so logging is the right response here.
            logger.exception("in-process job %s failed", getattr(job, "__name__", job))
        return
    import django_rq

    django_rq.get_queue(queue).enqueue(job, *args)
