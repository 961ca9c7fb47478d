"""`manage.py worker`: run jobs, coming back by itself when Redis goes away (hashbank.worker)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from hashbank.worker import run


class Command(BaseCommand):
    help = "Run the job worker; it reconnects and catches up by itself after a Redis outage."

    def add_arguments(self, parser) -> None:
        parser.add_argument("queues", nargs="*", default=["default"])
        parser.add_argument("--burst", action="store_true", help="run what is queued, then stop")
        parser.add_argument("--name", default=None, help="worker name (default: RQ's random one)")
        parser.add_argument("--restart-delay", type=float, default=1.0)

    def handle(self, *args, **options) -> None:
        from rq.logutils import setup_loghandlers

        level = {0: "WARNING", 1: "INFO"}.get(options["verbosity"], "DEBUG")
        setup_loghandlers(level)
        run(queues=options["queues"] or ["default"], burst=options["burst"], name=options["name"],
            restart_delay=options["restart_delay"], logging_level=level)
