"""Start a helpline account again after a forgotten password or a lost phone: the password
and every second factor stop working, open sessions end, and a new welcome link is printed.

    manage.py caseworker_reset --username sam [--dry-run]
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.caseworkers import services
from portal.caseworkers.models import Membership


class Command(BaseCommand):
    help = "Reset a caseworker's password and second factor; prints a new one-time welcome link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--dry-run", action="store_true", help="check everything, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        membership = Membership.objects.select_related("user").filter(user__username=options["username"]).first()
        if membership is None:
            raise CommandError("no caseworker with that username")
        with transaction.atomic():
            path = services.caseworker_reset(user=membership.user)
            if options["dry_run"]:
                transaction.set_rollback(True)
                self.stdout.write(f"dry run: would reset {options['username']}")
                return
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(f"reset {options['username']}: password and second factor removed, sessions ended")
        self.stdout.write("Give this one-time link to them privately (it stops working once used):")
        self.stdout.write(base.rstrip("/") + path)
