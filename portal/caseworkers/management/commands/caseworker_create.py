"""Create a helpline account and print its one-time welcome link.

    manage.py caseworker_create --organisation "Example Helpline" --username sam \
        --email sam@example.org [--role lead] [--create-organisation] [--dry-run]
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.caseworkers import services
from portal.caseworkers.models import Organisation, Role


class Command(BaseCommand):
    help = "Create a caseworker account (no password: its owner sets one from the printed welcome link)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--organisation", required=True)
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--role", choices=Role.values, default=Role.CASEWORKER)
        parser.add_argument("--create-organisation", action="store_true", help="create the organisation if missing")
        parser.add_argument("--dry-run", action="store_true", help="check everything, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if get_user_model().objects.filter(username=options["username"]).exists():
            raise CommandError("that username is taken")
        with transaction.atomic():
            organisation = Organisation.objects.filter(name=options["organisation"]).first()
            if organisation is None:
                if not options["create_organisation"]:
                    raise CommandError("no such organisation (add --create-organisation to create it)")
                organisation = services.organisation_create(name=options["organisation"])
            created = services.caseworker_create(
                username=options["username"], email=options["email"], organisation=organisation, role=options["role"]
            )
            if options["dry_run"]:
                transaction.set_rollback(True)
                self.stdout.write(
                    f"dry run: would create {options['role']} {options['username']} at {organisation.name}"
                )
                return
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(f"created {options['role']} {created.user.get_username()} at {organisation.name}")
        self.stdout.write("Give this one-time link to them privately (it stops working once used):")
        self.stdout.write(base.rstrip("/") + created.welcome_path)
