"""The single sequencer: moves changes from the outbox into the append-only feed.

One publisher runs at a time: each run first writes to the head row (a row lock on
PostgreSQL, the database write lock on SQLite) and holds it until commit. Positions are
given, entries written, outbox rows removed, the head and its signed checkpoint moved, all in
that one transaction. So positions become visible in order, a reader following the cursor can
never pass an entry that appears later, and a publisher killed at any step leaves the outbox
as it was: the next run publishes everything once.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from hashbank.feed.checkpoint import checkpoint_issue
from hashbank.feed.head import head_lock
from hashbank.feed.push import push_on_commit
from hashbank.feedformat.canonical import entry_bytes, format_time
from hashbank.feedformat.chain import chain_step
from hashbank.models import Case, CaseEvent, FeedEntry, FeedOutbox, Snapshot
from hashbank.models.feed import FeedOp
from hashbank.queueing import enqueue_on_commit

#: Big enough to drain a busy outbox quickly, small enough to keep the lock short.
BATCH = 5000


def fault_point(step: str) -> None:
    """Does nothing. Tests replace it to kill a real worker process between two steps and
    prove that nothing is lost or repeated; production code has no other test seam."""


def entry_line(*, position: int, row: FeedOutbox, time: str) -> str:
    """One entry, in python-threatexchange's signal names and lowercase hex (validated on the
    way in). `case` is the case's random feed token, never its reference. A withdrawal names
    only the id (hashbank.feedformat.canonical.WITHDRAW_FIELDS): its value stays out of the feed."""
    if row.op == FeedOp.WITHDRAW:
        tombstone = {"position": position, "op": row.op, "id": row.fingerprint_key, "time": time}
        return entry_bytes(tombstone).decode("ascii")
    return entry_bytes(
        {
            "position": position,
            "op": row.op,
            "id": row.fingerprint_key,
            "signal_type": row.signal_type,
            "value": row.value,
            "quality": row.quality,
            "case": row.case_token,
            # Where the case was made: "survivor" or "helpline" (feed format 2). The migrations
            # that added origins filled it in for rows already waiting; "survivor" is only the
            # model's default, never a guess about a helpline's case.
            "origin": row.origin or "survivor",
            "time": time,
        }
    ).decode("ascii")


def publish_pending(*, batch: int = BATCH) -> int:
    """Publish everything committed to the outbox so far; returns how many entries."""
    total = 0
    while True:
        published = _publish_batch(batch)
        total += published
        if published < batch:
            break
    if total:
        _snapshot_if_due()
        # Partners that registered an endpoint hear of it now rather than at their next poll:
        # a job of its own, queued after this commit, so a slow or dead endpoint never holds
        # up publishing (hashbank.feed.push).
        with transaction.atomic():
            push_on_commit()
    return total


def _publish_batch(limit: int) -> int:
    with transaction.atomic():
        head = head_lock()
        pending = list(FeedOutbox.objects.order_by("pk")[:limit])
        if not pending:
            return 0
        now = timezone.now()
        time = format_time(now)
        position, digest = head.position, head.digest
        entries = []
        for row in pending:
            position += 1
            line = entry_line(position=position, row=row, time=time)
            digest = chain_step(digest, line.encode("ascii"))
            entries.append(FeedEntry(position=position, fingerprint_key=row.fingerprint_key, op=row.op, line=line,
                                     chain=digest, published_at=now))
        FeedEntry.objects.bulk_create(entries, batch_size=1000)
        fault_point("entries_written")
        FeedOutbox.objects.filter(pk__in=[row.pk for row in pending]).delete()
        fault_point("outbox_cleared")
        head.position, head.digest, head.updated_at = position, digest, now
        checkpoint_issue(head)
        _timeline(pending, [entry.position for entry in entries], now)
        fault_point("before_commit")
        return len(pending)


def _timeline(pending: list[FeedOutbox], positions: list[int], now) -> None:
    """Tell each case what was published: the survivor sees "added to the list partner
    platforms fetch" (or "your withdrawal was added") when it is really in the feed, not when
    we accepted it. Each event keeps the first and last position of the case's entries in this
    run, so its status page can say which partners have fetched them (hashbank.feed.delivery)
    even after the log is pruned. Rows without a case (the tombstone of a hold or of a staff
    decision) make no event: the hold's or the decision's own event tells that story."""
    spans: dict[tuple[int, str], list[int]] = {}
    for row, position in zip(pending, positions, strict=True):
        if row.case_id is not None:
            span = spans.setdefault((row.case_id, row.op), [0, position, position])
            span[0] += 1
            span[2] = position
    live = set(
        Case.objects.filter(pk__in={case_id for case_id, _ in spans})
        .exclude(status=Case.Status.DELETED)
        .values_list("pk", flat=True)
    )
    events = [
        CaseEvent(case_id=case_id, at=now, data={"fingerprints": n, "first": first, "last": last},
                  kind=CaseEvent.Kind.SHARED_WITH_PARTNERS if op == FeedOp.ADD else CaseEvent.Kind.WITHDRAWAL_SHARED)
        for (case_id, op), (n, first, last) in spans.items()
        if case_id in live
    ]
    CaseEvent.objects.bulk_create(events)


def _snapshot_if_due() -> None:
    """The schedule, driven by the feed itself: when entries were published and the newest
    snapshot is older than FEED_SNAPSHOT_INTERVAL, enqueue a snapshot for the workers (a cron
    job running `manage.py feed_snapshot` covers quiet periods). Not in embedded mode, where
    it would run inside a web request: there `manage.py feed_snapshot` makes one on demand."""
    if settings.JOBS_IN_PROCESS or not settings.FEED_SNAPSHOT_INTERVAL:
        return
    latest = Snapshot.objects.order_by("-position").values_list("created_at", flat=True).first()
    if latest is None or timezone.now() - latest >= timedelta(seconds=settings.FEED_SNAPSHOT_INTERVAL):
        # One request per half interval, across processes (the cache is Redis when workers
        # exist): a busy feed must not queue a full snapshot after every publish.
        if cache.add("hashbank:feed-snapshot-requested", 1, timeout=max(1, settings.FEED_SNAPSHOT_INTERVAL // 2)):
            with transaction.atomic():
                enqueue_on_commit("hashbank.jobs.feed_snapshot")
