"""Health endpoints for monitors and supervisors.

`/livez`: the process answers (no dependency is touched, so a database outage does not get
the web server restarted for nothing). `/readyz`: the database answers, and with Redis
configured, Redis answers and at least one worker has sent a heartbeat recently; 503 with the
failing checks named otherwise. The feed outbox's oldest row is reported too, because a feed
that stops moving is the failure partners notice first (docs/operations.md says what to do).

Answered by a middleware at the very top of the stack, before host validation and the HTTPS
redirect: a monitor on the same host polls http://127.0.0.1:8000/readyz directly, whatever
ALLOWED_HOSTS says. The answers carry no data about cases or partners.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

PATHS = {"/livez", "/readyz"}


def _json(status: int, body: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(body, sort_keys=True), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def check_database() -> str | None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return f"{type(error).__name__}"
    return None


def worker_heartbeat_age() -> float | None:
    """Seconds since the freshest worker heartbeat, None when no worker is registered."""
    import django_rq
    from rq import Worker

    from hashbank.queueing import redis_connection

    queue = django_rq.get_queue("default", connection=redis_connection())
    beats = [w.last_heartbeat for w in Worker.all(queue=queue) if w.last_heartbeat is not None]
    if not beats:
        return None
    return max(0.0, (timezone.now() - max(beats)).total_seconds())  # RQ's times are aware (UTC)


def readiness() -> tuple[bool, dict]:
    checks: dict[str, object] = {}
    ok = True
    database = check_database()
    checks["database"] = database or "ok"
    ok &= database is None
    if settings.JOBS_IN_PROCESS:
        checks["redis"] = checks["worker"] = "not used (jobs run in-process)"
    else:
        from hashbank.queueing import redis_connection

        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = type(error).__name__
            checks["worker"] = "unknown (Redis unreachable)"
            ok = False
        else:
            try:
                age = worker_heartbeat_age()
            except Exception as error:
                age, checks["worker"] = None, type(error).__name__
            if age is None:
                checks.setdefault("worker", "no worker registered")
                ok = False
            elif age > settings.WORKER_HEARTBEAT_MAX_AGE:
                checks["worker"] = f"last heartbeat {age:.0f} s ago"
                ok = False
            else:
                checks["worker"] = "ok"
    if database is None:
        checks["feed_outbox_oldest_seconds"] = outbox_oldest_seconds()
    return ok, checks


def outbox_oldest_seconds() -> int:
    from hashbank.models import FeedOutbox

    oldest = FeedOutbox.objects.order_by("pk").values_list("created_at", flat=True).first()
    return 0 if oldest is None else int((timezone.now() - oldest).total_seconds())


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in PATHS:
            return self.get_response(request)
        if request.method not in {"GET", "HEAD"}:
            return _json(405, {"status": "method not allowed"})
        if request.path_info == "/livez":
            return _json(200, {"status": "ok"})
        started = time.monotonic()
        ok, checks = readiness()
        checks["took_ms"] = round((time.monotonic() - started) * 1000, 1)
        return _json(200 if ok else 503, {"status": "ok" if ok else "unavailable", "checks": checks})
