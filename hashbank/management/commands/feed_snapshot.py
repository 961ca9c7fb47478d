"""Make a feed snapshot now (on demand, or from cron for quiet periods)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from hashbank import jobs
from hashbank.feed.publish import head_read
from hashbank.feed.snapshots import snapshot_build
from hashbank.queueing import enqueue_on_commit


class Command(BaseCommand):
    help = "Snapshot the active set at the feed's head (or --enqueue it for a worker)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--enqueue", action="store_true", help="let a worker build it")
        parser.add_argument("--force", action="store_true", help="rebuild even if one exists at the head")
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args: Any, enqueue: bool, force: bool, dry_run: bool, **options: Any) -> None:
        if dry_run:
            self.stdout.write(f"dry run: would snapshot the feed at position {head_read().position}")
            return
        if enqueue:
            with transaction.atomic():
                enqueue_on_commit(jobs.feed_snapshot, force)
            self.stdout.write("snapshot job enqueued")
            return
        snapshot = snapshot_build(force=force)
        if snapshot is None:
            self.stdout.write("a snapshot at the current head exists already")
        else:
            self.stdout.write(f"snapshot at position {snapshot.position}: {snapshot.count} entries, "
                              f"{snapshot.size} bytes")
