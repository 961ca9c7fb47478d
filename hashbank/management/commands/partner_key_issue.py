"""Issue an API key for a partner. The key is printed once; only its prefix and hash are kept."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.models import Partner
from hashbank.services import partner_key_issue


class Command(BaseCommand):
    help = "Issue a new API key for a partner (printed once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("partner", help="the partner's name")
        parser.add_argument("--label", default="")
        parser.add_argument("--lookup-only", action="store_true",
                            help="a key for the hosted lookup (POST /api/v1/lookup) only: it can never read the feed")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, partner: str, label: str, lookup_only: bool, dry_run: bool, **options: Any) -> None:
        found = Partner.objects.filter(name=partner).first()
        if found is None:
            raise CommandError(f"no partner named {partner!r}")
        kind = "lookup-only key" if lookup_only else "key"
        if dry_run:
            self.stdout.write(f"dry run: would issue a {kind} for {found.name!r}")
            return
        issued = (partner_lookup_key_issue if lookup_only else partner_key_issue)(partner=found, label=label)
        self.stdout.write(f"API {kind} for {found.name!r} (shown once, store it now): {issued.secret}")
