"""Sliding-window counters for every throttle on the site, kept in the database.

A window of `seconds` is split into `buckets` buckets that age out on their own, so "how many
in the last hour" is the sum of a few rows and a limit lifts gradually as the oldest bucket
expires (the wait after an attacker stops is at most one window, usually less).

A caller reserves a place first (one atomic increment, committed at once) and then reads the
sum, so parallel requests cannot slip past a limit: each sees at least every reservation that
committed before its own. A refused or undone attempt hands its place back.

Counters are keyed by an HMAC of what they count, under SECRET_KEY: the table never holds a
case reference or an address that could be recovered by hashing guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from portal.models import ThrottleCount


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: int = 3600
    buckets: int = 6

    @property
    def bucket_seconds(self) -> int:
        return max(1, self.seconds // self.buckets)


@dataclass(frozen=True)
class Reservation:
    key: str
    bucket: int


def counter_key(kind: str, value: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:32]}"


def _now() -> float:
    return time.time()


def _bucket(window: Window, now: float) -> int:
    return int(now // window.bucket_seconds)


def _add(key: str, bucket: int, delta: int, window: Window) -> None:
    # Autocommit on purpose when called outside a transaction: the reservation must be
    # visible to parallel requests before this one reads the sum.
    if ThrottleCount.objects.filter(key=key, bucket=bucket).update(count=F("count") + delta):
        return
    expires = datetime.fromtimestamp((bucket + window.buckets + 1) * window.bucket_seconds, tz=UTC)
    try:
        with transaction.atomic():
            ThrottleCount.objects.create(key=key, bucket=bucket, count=delta, expires_at=expires)
    except IntegrityError:  # a parallel request created the row first
        ThrottleCount.objects.filter(key=key, bucket=bucket).update(count=F("count") + delta)


def total(key: str, window: Window, *, now: float | None = None) -> int:
    current = _bucket(window, _now() if now is None else now)
    found = ThrottleCount.objects.filter(key=key, bucket__gt=current - window.buckets, bucket__lte=current)
    return int(found.aggregate(n=Sum("count"))["n"] or 0)


def reserve(key: str, window: Window, *, now: float | None = None) -> Reservation | None:
    """Take one place in the window, or None (nothing kept) when the limit is reached."""
    now = _now() if now is None else now
    reservation = Reservation(key=key, bucket=_bucket(window, now))
    _add(key, reservation.bucket, 1, window)
    if total(key, window, now=now) > window.limit:
        release(reservation, window)
        return None
    return reservation


def count(key: str, window: Window, *, now: float | None = None) -> tuple[Reservation, int]:
    """Count one event unconditionally; returns its place and the window's new total."""
    now = _now() if now is None else now
    reservation = Reservation(key=key, bucket=_bucket(window, now))
    _add(key, reservation.bucket, 1, window)
    return reservation, total(key, window, now=now)


def release(reservation: Reservation, window: Window) -> None:
    _add(reservation.key, reservation.bucket, -1, window)


def retry_after(key: str, window: Window, *, now: float | None = None) -> int:
    """Seconds until one more place is free (at least 1): when enough old buckets expire."""
    now = _now() if now is None else now
    current = _bucket(window, now)
    rows = dict(
        ThrottleCount.objects.filter(key=key, bucket__gt=current - window.buckets, bucket__lte=current)
        .values_list("bucket", "count")
    )
    running = sum(rows.values())
    for bucket in range(current - window.buckets + 1, current + 1):
        if running < window.limit:
            break
        running -= rows.get(bucket, 0)
        # This bucket leaves the window when bucket + buckets begins.
        free_at = (bucket + window.buckets) * window.bucket_seconds
        if running < window.limit:
            return max(1, math.ceil(free_at - now))
    return max(1, math.ceil((current + 1) * window.bucket_seconds - now)) if running >= window.limit else 1


def expired_delete(*, now: datetime | None = None) -> int:
    """Remove buckets that can no longer count (the periodic sweep calls this)."""
    now = now or datetime.now(tz=UTC)
    return ThrottleCount.objects.filter(expires_at__lt=now - timedelta(seconds=1)).delete()[0]
