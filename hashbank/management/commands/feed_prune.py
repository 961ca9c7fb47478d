"""Remove feed entries older than the retention period (run daily from cron)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from hashbank.feed.delivery import marks_compact
from hashbank.feed.prune import feed_prune


class Command(BaseCommand):
    help = ("Move the feed's floor past entries older than FEED_RETENTION_DAYS (live additions stay); "
            "merge partners' delivery marks older than FEED_DELIVERY_COMPACT_DAYS into one a day.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--retention-days", type=int, default=settings.FEED_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args: Any, retention_days: int, dry_run: bool, **options: Any) -> None:
        floor, removed = feed_prune(retention_days=retention_days, dry_run=dry_run)
        verb = "dry run: would remove at most" if dry_run else "removed"
        self.stdout.write(f"floor at position {floor}; {verb} {removed} entries")
        # The partners' delivery marks: one a key and day once older than FEED_DELIVERY_COMPACT_DAYS.
        merged = marks_compact(dry_run=dry_run)
        self.stdout.write(f"delivery marks: {'would merge' if dry_run else 'merged'} {merged} into their day's last")
