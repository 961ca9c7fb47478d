"""Retention: entries older than FEED_RETENTION_DAYS leave the log, except the additions that
are still live (the snapshots are built from them).

This is how a deleted case's values finally leave our database: its additions and their
tombstones are kept while partners may still need the tombstones (a partner that resumes
from a checkpoint up to FEED_RETENTION_DAYS old must still see them), then removed here.
Below the new floor, cursors answer 410 and partners restart from a snapshot; the floor moves
only up to a snapshot that exists, so there is always one to restart from. The chain stays
verifiable from the floor: the head keeps the chain digest at the floor.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hashbank.feed.checkpoint import checkpoint_issue
from hashbank.feed.head import head_lock
from hashbank.models import FeedEntry, Snapshot

_TABLE = FeedEntry._meta.db_table
# Everything at or below the floor except each fingerprint's newest entry when it is an add.
_PRUNE_SQL = f"""
DELETE FROM {_TABLE} AS e
WHERE e.position <= %s
  AND (e.op = 'withdraw'
       OR EXISTS (SELECT 1 FROM {_TABLE} AS later
                  WHERE later.fingerprint_key = e.fingerprint_key AND later.position > e.position))
"""  # noqa: S608 (table name from the model, no input)


def prune_floor(*, retention_days: int | None = None) -> int:
    """Where the floor may move to now: the newest position older than the retention period,
    but no further than the newest snapshot."""
    days = settings.FEED_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = timezone.now() - timedelta(days=days)
    old = FeedEntry.objects.filter(published_at__lt=cutoff).order_by("-position").values_list("position", flat=True)
    newest_old = old.first() or 0
    snapshot = Snapshot.objects.order_by("-position").values_list("position", flat=True).first() or 0
    return min(newest_old, snapshot)


def feed_prune(*, retention_days: int | None = None, dry_run: bool = False) -> tuple[int, int]:
    """Move the floor and remove what is below it; returns (new floor, entries removed)."""
    floor = prune_floor(retention_days=retention_days)
    with transaction.atomic():
        head = head_lock()
        if floor <= head.floor_position:
            return head.floor_position, 0
        if dry_run:
            return floor, FeedEntry.objects.filter(position__lte=floor).count()
        head.floor_digest = FeedEntry.objects.get(position=floor).chain
        head.floor_position = floor
        with connection.cursor() as cursor:
            cursor.execute(_PRUNE_SQL, [floor])
            removed = cursor.rowcount
        checkpoint_issue(head)
    return floor, removed
