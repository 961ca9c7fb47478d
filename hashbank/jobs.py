"""django-rq jobs. Each takes ids or names, re-reads what it needs, and is safe to run twice."""

from __future__ import annotations

from hashbank import services


def record_heartbeat(name: str) -> int:
    return services.heartbeat_record(name=name)
