"""Publish whatever waits in the feed outbox (the job does this after every change; this is
for operators and for a periodic sweep if a worker was down)."""

from typing import Any

from django.core.management.base import BaseCommand

from hashbank.feed.publish import publish_pending
from hashbank.models import FeedOutbox


class Command(BaseCommand):
    help = "Give feed positions to everything waiting in the outbox."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        if dry_run:
            self.stdout.write(f"dry run: {FeedOutbox.objects.count()} changes wait to be published")
            return
        self.stdout.write(f"published {publish_pending()} entries")
