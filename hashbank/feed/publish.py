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
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hashbank.fingerprints.verify import (
    CHECKPOINT_KIND,
    FORMAT_VERSION,
    GENESIS,
    chain_step,
    entry_bytes,
    format_time,
)
from hashbank.models import Case, CaseEvent, FeedEntry, FeedHead, FeedOutbox
from hashbank.models.feed import FeedOp

#: Big enough to drain a busy outbox quickly, small enough to keep the lock short.
BATCH = 5000


def fault_point(step: str) -> None:
    """Does nothing. Tests replace it to kill a real worker process between two steps and
    prove that nothing is lost or repeated; production code has no other test seam."""


def head_lock() -> FeedHead:
    """Take the publisher's lock (inside a transaction) and return the head row."""
    if not FeedHead.objects.filter(pk=1).update(runs=F("runs") + 1):
        try:
            with transaction.atomic():
                FeedHead.objects.create(pk=1, digest=GENESIS, floor_digest=GENESIS, updated_at=timezone.now())
        except IntegrityError:
            pass  # another process created it first
        FeedHead.objects.filter(pk=1).update(runs=F("runs") + 1)
    return FeedHead.objects.get(pk=1)


def head_read() -> FeedHead:
    head = FeedHead.objects.filter(pk=1).first()
    if head is None:
        with transaction.atomic():
            head = head_lock()
    return head


def entry_line(*, position: int, row: FeedOutbox, time: str) -> str:
    """One entry, in python-threatexchange's signal names and lowercase hex (validated on the
    way in). `case` is the case's random feed token, never its reference. A withdrawal names
    only the id (hashbank.fingerprints.verify.WITHDRAW_FIELDS): its value stays out of the feed."""
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


def checkpoint_issue(head: FeedHead) -> FeedHead:
    """Sign a new checkpoint for the head (caller holds the head lock). The version only grows."""
    from hashbank.feed.signing import sign

    now = timezone.now()
    expires = now + timedelta(seconds=settings.FEED_CHECKPOINT_TTL)
    head.checkpoint_version += 1
    body = entry_bytes(
        {
            "format": FORMAT_VERSION,
            "kind": CHECKPOINT_KIND,
            "version": head.checkpoint_version,
            "head_position": head.position,
            "head_digest": head.digest,
            "floor_position": head.floor_position,
            "floor_digest": head.floor_digest,
            "issued_at": format_time(now),
            "expires_at": format_time(expires),
        }
    )
    head.checkpoint_kid, head.checkpoint_signature = sign(body)
    head.checkpoint_body = body
    head.checkpoint_expires_at = expires
    head.save()
    return head


def checkpoint_current() -> FeedHead:
    """The head with a checkpoint that has at least half its lifetime left (re-signed with a
    higher version when needed, so a partner can always tell a fresh feed from a frozen one)."""
    head = head_read()
    half = timedelta(seconds=settings.FEED_CHECKPOINT_TTL / 2)
    if head.checkpoint_expires_at is None or head.checkpoint_expires_at - timezone.now() < half:
        with transaction.atomic():
            head = head_lock()
            if head.checkpoint_expires_at is None or head.checkpoint_expires_at - timezone.now() < half:
                checkpoint_issue(head)
    return head


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
    from hashbank import jobs
    from hashbank.models import Snapshot
    from hashbank.queueing import enqueue_on_commit

    latest = Snapshot.objects.order_by("-position").values_list("created_at", flat=True).first()
    if latest is None or timezone.now() - latest >= timedelta(seconds=settings.FEED_SNAPSHOT_INTERVAL):
        # One request per half interval, across processes (the cache is Redis when workers
        # exist): a busy feed must not queue a full snapshot after every publish.
        if cache.add("hashbank:feed-snapshot-requested", 1, timeout=max(1, settings.FEED_SNAPSHOT_INTERVAL // 2)):
            with transaction.atomic():
                enqueue_on_commit(jobs.feed_snapshot)
