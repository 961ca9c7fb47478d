"""Issue an API key for a partner. The key is printed once; only its prefix and hash are kept."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hashbank.models import Partner
from hashbank.services import partner_key_issue


class Command(BaseCommand):
    help = "Issue a new API key for a partner (printed once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("partner", help="the partner's name")
        parser.add_argument("--label", default="")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, partner: str, label: str, dry_run: bool, **options: Any) -> None:
        found = Partner.objects.filter(name=partner).first()
        if found is None:
            raise CommandError(f"no partner named {partner!r}")
        if dry_run:
            self.stdout.write(f"dry run: would issue a key for {found.name!r}")
            return
        issued = partner_key_issue(partner=found, label=label)
        self.stdout.write(f"API key for {found.name!r} (shown once, store it now): {issued.secret}")
