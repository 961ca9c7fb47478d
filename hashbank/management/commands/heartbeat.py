"""Enqueue a heartbeat job, to check that workers are running (`manage.py heartbeat`)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from hashbank.jobs import record_heartbeat
from hashbank.queueing import enqueue_on_commit


class Command(BaseCommand):
    help = "Enqueue a heartbeat job; its count shows in the admin when a worker ran it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", default="worker")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        with transaction.atomic():
            enqueue_on_commit(record_heartbeat, name)
        self.stdout.write(f"heartbeat {name!r} enqueued")
