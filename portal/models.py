"""Tables of the portal itself (not the bank): durable throttle counters."""

from __future__ import annotations

from django.db import models


class ThrottleCount(models.Model):
    """One time bucket of one throttle counter (portal.throttling).

    In the database rather than Redis so that a Redis crash cannot hand a guesser a fresh
    allowance, and so that a Redis outage does not stop survivors opening their case. The key
    is a keyed hash: no case reference and no address is ever stored here."""

    key = models.CharField(max_length=80)
    bucket = models.BigIntegerField()
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "bucket"], name="throttle_key_bucket")]

    def __str__(self) -> str:
        return f"{self.key[:16]}… bucket {self.bucket}: {self.count}"
