"""django-rq jobs. Each takes ids or names, re-reads what it needs, and is safe to run twice.

They are thin on purpose: the work is in plain functions that tests call directly."""

from __future__ import annotations

from hashbank import services


def record_heartbeat(name: str) -> int:
    return services.heartbeat_record(name=name)


def feed_publish() -> int:
    """Give positions to everything waiting in the outbox. Any number may be enqueued; they
    run one at a time (the head row serialises them) and a run with nothing to do is cheap."""
    from hashbank.feed.publish import publish_pending

    return publish_pending()


def feed_snapshot(force: bool = False) -> int | None:
    """Write a snapshot of the active set at the current head (unless one exists there)."""
    from hashbank.feed.snapshots import snapshot_build

    snapshot = snapshot_build(force=force)
    return snapshot.position if snapshot else None


def feed_prune() -> int:
    """Apply the retention period (daily). Safe to run twice: the floor only moves forward."""
    from hashbank.feed.prune import feed_prune as prune

    return prune()[1]
