from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Proof that the job pipeline runs end to end: a job writes here, health checks read it."""

    name = models.CharField(max_length=64, unique=True)
    beats = models.PositiveBigIntegerField(default=0)
    last_beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.beats})"
