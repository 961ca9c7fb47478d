"""`manage.py feed_sweep`: the periodic sweep (every minute, deploy/systemd/imageshield-sweep.timer).

Publishes whatever waits in the feed outbox, cleans dead workers' job registries and snapshot
leftovers (hashbank.maintenance), and removes expired throttle counters and sessions."""

from __future__ import annotations

import json
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from hashbank.maintenance import sweep
from portal import throttling
from portal.models import ThrottleCount


class Command(BaseCommand):
    help = "Catch up on anything the fast path left: publish the outbox, clean registries and leftovers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report, change nothing")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        report = sweep(dry_run=dry_run)
        if dry_run:
            report["throttle_counters"] = ThrottleCount.objects.count()
        else:
            report["throttle_counters_removed"] = throttling.expired_delete()
            # Sessions of survivors who never came back and of signed-out caseworkers.
            call_command("clearsessions")
        self.stdout.write(json.dumps(report, sort_keys=True, default=str))
