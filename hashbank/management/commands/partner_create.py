"""Create a partner (a platform that pulls the feed), optionally with its first API key."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hashbank.models import Partner
from hashbank.services import partner_create, partner_key_issue


class Command(BaseCommand):
    help = "Create a partner. With --issue-key, also issue its first API key (shown once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--listed", action="store_true", help="agreed to be named on the survivor pages")
        parser.add_argument("--public-name", default="")
        parser.add_argument("--issue-key", action="store_true")
        parser.add_argument("--internal", action="store_true",
                            help="our own reader of the feed (the hosted lookup's index): never counted as a partner")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, name: str, listed: bool, public_name: str, issue_key: bool, dry_run: bool,
               internal: bool, **options: Any) -> None:
        if Partner.objects.filter(name=name.strip()).exists():
            raise CommandError(f"a partner named {name!r} exists already")
        if dry_run:
            self.stdout.write(f"dry run: would create partner {name!r} (listed={listed})"
                              + (" and issue a key" if issue_key else ""))
            return
        if internal and listed:
            raise CommandError("an internal reader is never listed as a partner")
        partner = partner_create(name=name, listed_publicly=listed, public_name=public_name, internal=internal)
        self.stdout.write(f"created partner {partner.name!r} (id {partner.pk})")
        if issue_key:
            issued = partner_key_issue(partner=partner, label="first key")
            self.stdout.write(f"API key (shown once, store it now): {issued.secret}")
