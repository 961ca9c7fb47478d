"""django-rq jobs. Each takes ids or names, re-reads what it needs, and is safe to run twice.

They are thin on purpose: the work is in plain functions that tests call directly. This module
sits above everything it calls: the services and the feed enqueue these jobs by dotted name
("hashbank.jobs.feed_publish", see hashbank.queueing) and never import it, so there is no
import cycle to hide inside a function."""

from __future__ import annotations

from hashbank import services
from hashbank.feed import prune, publish, push, snapshots
from hashbank.queueing import coalesce_release


def record_heartbeat(name: str) -> int:
    return services.heartbeat_record(name=name)


def feed_publish() -> int:
    """Give positions to everything waiting in the outbox. Any number may be enqueued; they
    run one at a time (the head row serialises them) and a run with nothing to do is cheap.
    Queued coalesced: clearing the "one is waiting" flag before reading the outbox means
    anything committed after this read queues another run."""
    coalesce_release(feed_publish)

    return publish.publish_pending()


def feed_push() -> dict[str, int]:
    """Send the signed checkpoint to every partner endpoint behind it (hashbank.feed.push).
    Queued coalesced after a publisher run that published entries, and by the sweep when a
    retry is due; the flag is cleared before the head is read, so a run published meanwhile
    queues another push."""
    coalesce_release(feed_push)
    return push.push_run()


def feed_snapshot(force: bool = False) -> int | None:
    """Write a snapshot of the active set at the current head (unless one exists there)."""
    snapshot = snapshots.snapshot_build(force=force)
    return snapshot.position if snapshot else None


def feed_snapshot_refresh() -> int | None:
    """After a case is withdrawn or deleted: publish, then replace the newest snapshot so no
    kept snapshot holds the withdrawn values beyond FEED_SNAPSHOT_GRACE. Coalesced like the
    publisher: many withdrawals at once make one snapshot."""
    coalesce_release(feed_snapshot_refresh)
    return snapshots.snapshot_refresh()


def feed_snapshot_sweep() -> dict[str, int]:
    """Delete superseded snapshot files and dead writers' leftovers (periodic)."""
    return snapshots.snapshot_sweep()


def feed_prune() -> int:
    """Apply the retention period (daily). Safe to run twice: the floor only moves forward."""
    return prune.feed_prune()[1]
