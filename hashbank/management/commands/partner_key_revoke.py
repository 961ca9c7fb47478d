"""Revoke a partner API key by its prefix (the 8 characters after `isk_`)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hashbank.models import PartnerKey
from hashbank.services import partner_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its prefix; requests with it are refused at once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("prefix", help="e.g. K7QM2XHP (from isk_K7QM2XHP_...)")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, prefix: str, dry_run: bool, **options: Any) -> None:
        prefix = prefix.removeprefix("isk_").split("_")[0].upper()
        key = PartnerKey.objects.select_related("partner").filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"no key with prefix {prefix!r}")
        if key.revoked_at is not None:
            self.stdout.write(f"key isk_{prefix}_… of {key.partner.name!r} was already revoked")
            return
        if dry_run:
            self.stdout.write(f"dry run: would revoke key isk_{prefix}_… of {key.partner.name!r}")
            return
        partner_key_revoke(key=key)
        self.stdout.write(f"revoked key isk_{prefix}_… of {key.partner.name!r}")
