"""Set a partner's push endpoint (what PUT /api/v1/push does for the partner), or switch it off."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hashbank.feed.push import PushUrlError, push_endpoint_status, push_url_parse
from hashbank.models import Partner, PushEndpoint
from hashbank.services import push_endpoint_set, push_endpoint_switch_off


class Command(BaseCommand):
    help = "Register or change a partner's push endpoint (https only), or switch pushes to it off."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("partner", help="the partner's name")
        parser.add_argument("url", nargs="?", help="https://... (without it, --off switches the current one off)")
        parser.add_argument("--off", action="store_true", help="stop pushing (the URL is kept; the partner's PUT "
                            "switches it on again)")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, partner: str, url: str | None, off: bool, dry_run: bool, **options: Any) -> None:
        found = Partner.objects.filter(name=partner).first()
        if found is None:
            raise CommandError(f"no partner named {partner!r}")
        if url is None and not off:
            raise CommandError("give the URL to push to, or --off")
        if url is not None:
            try:
                push_url_parse(url)
            except PushUrlError as error:
                raise CommandError(f"this URL cannot be used: {error}") from None
        what = f"push to {url}" if url else "stop pushing"
        if dry_run:
            self.stdout.write(f"dry run: would {what} for {found.name!r}{' (off)' if off and url else ''}")
            return
        if url is not None:
            endpoint: PushEndpoint | None = push_endpoint_set(partner=found, url=url, is_active=not off)
        else:
            endpoint = push_endpoint_switch_off(partner=found)
            if endpoint is None:
                raise CommandError(f"{found.name!r} has no push endpoint")
        status = push_endpoint_status(endpoint)
        self.stdout.write(f"{found.name!r}: {status['url']}: {status['state']}. {status['message']}")
