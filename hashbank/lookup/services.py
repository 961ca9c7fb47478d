"""Writes for the hosted lookup."""

from __future__ import annotations

from django.db import transaction

from hashbank.models import Partner, PartnerKey
from hashbank.services import IssuedKey, partner_key_issue


def partner_lookup_key_issue(*, partner: Partner, label: str = "") -> IssuedKey:
    """A key that may only use POST /api/v1/lookup (it can never read the feed). Issued and
    narrowed in one transaction: no one ever holds it while it is a feed key."""
    with transaction.atomic():
        issued = partner_key_issue(partner=partner, label=label)
        PartnerKey.objects.filter(pk=issued.key.pk).update(scope=PartnerKey.Scope.LOOKUP)
        issued.key.scope = PartnerKey.Scope.LOOKUP
    return issued
