"""Writes to the bank. Views and jobs call these; nothing else writes to hashbank's tables."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from hashbank.models import Heartbeat


def heartbeat_record(*, name: str) -> int:
    """Count one beat for `name` and return the new count."""
    with transaction.atomic():
        beat, created = Heartbeat.objects.select_for_update().get_or_create(
            name=name, defaults={"beats": 1, "last_beat_at": timezone.now()}
        )
        if not created:
            Heartbeat.objects.filter(pk=beat.pk).update(beats=F("beats") + 1, last_beat_at=timezone.now())
            beat.refresh_from_db()
    return beat.beats
