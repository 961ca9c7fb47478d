"""django-rq jobs. Each takes ids or names, re-reads what it needs, and is safe to run twice.

They are thin on purpose: the work is in plain functions that tests call directly."""

from __future__ import annotations

from hashbank import services


def record_heartbeat(name: str) -> int:
    return services.heartbeat_record(name=name)


def feed_publish() -> int:
    """Give positions to everything waiting in the outbox. Any number may be enqueued; they
    run one at a time (the head row serialises them) and a run with nothing to do is cheap.
    Queued coalesced: clearing the "one is waiting" flag before reading the outbox means
    anything committed after this read queues another run."""
    from hashbank.feed.publish import publish_pending
    from hashbank.queueing import coalesce_release

    coalesce_release(feed_publish)

    return publish_pending()


def feed_snapshot(force: bool = False) -> int | None:
    """Write a snapshot of the active set at the current head (unless one exists there)."""
    from hashbank.feed.snapshots import snapshot_build

    snapshot = snapshot_build(force=force)
    return snapshot.position if snapshot else None


def feed_snapshot_refresh() -> int | None:
    """After a case is withdrawn or deleted: publish, then replace the newest snapshot so no
    kept snapshot holds the withdrawn values beyond FEED_SNAPSHOT_GRACE. Coalesced like the
    publisher: many withdrawals at once make one snapshot."""
    from hashbank.feed.snapshots import snapshot_refresh
    from hashbank.queueing import coalesce_release

    coalesce_release(feed_snapshot_refresh)
    return snapshot_refresh()


def feed_snapshot_sweep() -> dict[str, int]:
    """Delete superseded snapshot files and dead writers' leftovers (periodic)."""
    from hashbank.feed.snapshots import snapshot_sweep

    return snapshot_sweep()


def feed_prune() -> int:
    """Apply the retention period (daily). Safe to run twice: the floor only moves forward."""
    from hashbank.feed.prune import feed_prune as prune

    return prune()[1]
