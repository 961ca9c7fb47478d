"""Rotate the feed's signing key, keeping the old one published for an overlap period."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from hashbank.feed.checkpoint import signing_key_rotate
from hashbank.feed.signing import keys_published


class Command(BaseCommand):
    help = "Make a new signing key; the old one stays published (not signing) for the overlap."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--overlap-days", type=int, default=settings.FEED_KEY_OVERLAP_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, overlap_days: int, dry_run: bool, **options: Any) -> None:
        current = [k.kid for k in keys_published()]
        new = signing_key_rotate(overlap=timedelta(days=overlap_days), dry_run=dry_run)
        verb = "dry run: would make" if dry_run else "made"
        self.stdout.write(f"{verb} signing key {new.kid}; published until then: {', '.join(current)} "
                          f"(retiring keys stay published for {overlap_days} days)")
