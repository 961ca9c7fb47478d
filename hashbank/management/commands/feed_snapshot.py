"""Make a feed snapshot now (on demand, or from cron for quiet periods), or only sweep."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from hashbank import jobs
from hashbank.feed.head import head_read
from hashbank.feed.snapshots import snapshot_build, snapshot_sweep
from hashbank.queueing import enqueue_on_commit


class Command(BaseCommand):
    help = ("Snapshot the active set at the feed's head (or --enqueue it for a worker); "
            "--sweep only deletes superseded snapshot files and leftovers of killed runs.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--enqueue", action="store_true", help="let a worker build it")
        parser.add_argument("--force", action="store_true", help="rebuild even if one exists at the head")
        parser.add_argument("--sweep", action="store_true", help="apply the retention rule only, build nothing")
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args: Any, enqueue: bool, force: bool, sweep: bool, dry_run: bool, **options: Any) -> None:
        if sweep:
            result = snapshot_sweep(dry_run=dry_run)
            verb = "would remove" if dry_run else "removed"
            if result["busy"]:
                self.stdout.write("a snapshot is being written; it sweeps when it finishes")
            else:
                self.stdout.write(f"{verb} {result['superseded']} superseded snapshots, "
                                  f"{result['temporary_files']} temporary and {result['orphan_files']} "
                                  f"unrecorded files; {result['kept']} kept")
            return
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
