"""Run the hosted lookup's index process (deploy/systemd/imageshield-lookup.service).

Thin: it reads the LOOKUP_* settings, trusts our own published signing keys at first contact
(read from our database, so nothing on the network is taken on trust), and hands over to
hashbank.platform.lookup_service, which follows our feed through the verified platform sync and
answers the partner API on a loopback port. Django is used for nothing else in the process.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Follow the feed into the lookup store and answer POST /lookup on a loopback port."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--listen", default=settings.LOOKUP_LISTEN, help="host:port (default LOOKUP_LISTEN)")
        parser.add_argument("--store", default=str(settings.LOOKUP_STORE_DIR), help="store directory")
        parser.add_argument("--feed-url", default=settings.LOOKUP_FEED_URL, help="the partner API root to follow")
        parser.add_argument("--interval", type=float, default=settings.LOOKUP_SYNC_SECONDS,
                            help="seconds between syncs")
        parser.add_argument("--fold-bytes", type=int, default=settings.LOOKUP_FOLD_BYTES,
                            help="fold the journal into a new index past this size")
        parser.add_argument("--backend", choices=("auto", "compiled", "numpy", "faiss"), default="auto",
                            help="index backend; auto: the fastest built here (the answers are the same)")
        parser.add_argument("--dry-run", action="store_true", help="check the settings, serve nothing")

    def handle(self, *args: Any, listen: str, store: str, feed_url: str, interval: float, fold_bytes: int,
               backend: str, dry_run: bool, **options: Any) -> None:
        from hashbank.feed.signing import keys_published
        from hashbank.platform import lookup_service

        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--listen must be host:port, got {listen!r}")
        if not settings.LOOKUP_FEED_KEY:
            raise CommandError("set LOOKUP_FEED_KEY to a feed key of an internal partner (docs/operations.md)")
        from hashbank.apikeys import key_prefix
        from hashbank.models import PartnerKey

        # Its reading must never count as a partner platform's (survivors' "fetched by N of M",
        # the transparency figures): the key must be an internal partner's.
        owner = PartnerKey.objects.filter(prefix=key_prefix(settings.LOOKUP_FEED_KEY) or "").select_related("partner")
        if not owner.filter(partner__is_internal=True).exists():
            raise CommandError("LOOKUP_FEED_KEY must be a key of an internal partner: "
                               "manage.py partner_create \"Image Shield lookup (internal)\" --internal --issue-key")
        trusted = {key.kid: key.public_key for key in keys_published()}
        if dry_run:
            self.stdout.write(f"dry run: would follow {feed_url} into {store} and listen on {host}:{port}")
            return

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt  # ends the follower's loop; its `finally` stops a running fold

        signal.signal(signal.SIGTERM, stop)

        def listening(bound_host: str, bound_port: int) -> None:
            self.stdout.write(f"lookup listening on http://{bound_host}:{bound_port}, following {feed_url}")
            sys.stdout.flush()

        lookup_service.run(store_path=store, base_url=feed_url, api_key=settings.LOOKUP_FEED_KEY,
                           trusted_keys=trusted, host=host, port=int(port), interval=interval, backend=backend,
                           fold_bytes=fold_bytes, max_stale=settings.LOOKUP_MAX_STALE_SECONDS,
                           on_listening=listening)
