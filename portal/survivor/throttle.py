"""Limits on wrong case reference / PIN pairs.

Design: counters in the Django cache (Redis in production), never in the database, so no
address is ever stored beside a case. Two counters guard each attempt:

* one per case, keyed by a keyed hash of the normalised reference (so a distributed guesser
  is stopped on one case), and
* one per client address, keyed by a keyed hash of the address (so one client cannot sweep
  many references).

Each counter is split into six 10-minute buckets that expire on their own, so "failures in
the last hour" is the sum of six keys and the limit lifts as the oldest failures age out:
the real owner waits at most an hour after an attacker stops, usually less, and the page
says so calmly. An attempt reserves its place first (an atomic increment) and hands it back
when it succeeds or is refused, so parallel guesses cannot slip past the limit, a correct
PIN never counts as a failure, and refused attempts do not extend the wait.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from hashbank.references import reference_normalise

logger = logging.getLogger("portal.survivor.access")

#: At most this many wrong pairs per case, and per client address, in WINDOW_SECONDS.
FAILURE_LIMIT = 10
WINDOW_SECONDS = 60 * 60
BUCKET_SECONDS = 10 * 60
BUCKETS = WINDOW_SECONDS // BUCKET_SECONDS
PREFIX = "survivor:open-failures"


def normalise_reference(raw: str) -> str:
    """People read references aloud and type them with spaces, dashes, lower case or an O for
    a 0: all spellings of one case share one counter."""
    return reference_normalise(raw) or re.sub(r"[^0-9A-Z]", "", raw.upper())[:64]


def _digest(kind: str, value: str) -> str:
    # Keyed, so the cache never holds a reference or an address that could be reversed by
    # hashing guesses; truncated because the key only needs to tell counters apart.
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def client_address(request: HttpRequest) -> str:
    """The address used only for the counter. Behind the TLS proxy the proxy's own address is
    REMOTE_ADDR, so the last X-Forwarded-For entry (the one our proxy appended) is used."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


@dataclass(frozen=True)
class Attempt:
    """The counters one attempt has reserved a place in."""

    case_key: str
    address_key: str
    bucket: int

    @property
    def keys(self) -> tuple[str, str]:
        return (self.case_key, self.address_key)


def _now() -> float:
    return time.time()


def _bucket_key(counter: str, bucket: int) -> str:
    return f"{PREFIX}:{counter}:{bucket}"


def _incr(key: str, delta: int) -> int:
    # Buckets outlive the window by one bucket so a whole hour is always summed.
    cache.add(key, 0, timeout=WINDOW_SECONDS + BUCKET_SECONDS)
    try:
        return cache.incr(key, delta)
    except ValueError:  # expired between add and incr
        cache.set(key, max(delta, 0), timeout=WINDOW_SECONDS + BUCKET_SECONDS)
        return max(delta, 0)


def _total(counter: str, bucket: int) -> int:
    keys = [_bucket_key(counter, b) for b in range(bucket - BUCKETS + 1, bucket + 1)]
    return sum(int(v) for v in cache.get_many(keys).values())


def attempt_begin(*, reference: str, address: str, now: float | None = None) -> Attempt | None:
    """Reserve a place for one attempt, or None when either counter is at its limit."""
    bucket = int((_now() if now is None else now) // BUCKET_SECONDS)
    attempt = Attempt(
        case_key=f"case:{_digest('case', normalise_reference(reference))}",
        address_key=f"addr:{_digest('addr', address)}",
        bucket=bucket,
    )
    for counter in attempt.keys:
        _incr(_bucket_key(counter, bucket), 1)
    if any(_total(counter, bucket) > FAILURE_LIMIT for counter in attempt.keys):
        _release(attempt)
        logger.warning(
            "case open refused: too many failures (case %s, address %s)",
            attempt.case_key[5:13],
            attempt.address_key[5:13],
        )
        return None
    return attempt


def _release(attempt: Attempt) -> None:
    for counter in attempt.keys:
        _incr(_bucket_key(counter, attempt.bucket), -1)


def attempt_succeeded(attempt: Attempt) -> None:
    """A right pair is not a failure: hand the reserved place back."""
    _release(attempt)


def attempt_failed(attempt: Attempt) -> None:
    """Keep the reserved place as a failure and log it, never with the PIN or the address."""
    logger.warning(
        "case open failed: wrong reference or PIN (case %s, address %s)",
        attempt.case_key[5:13],
        attempt.address_key[5:13],
    )
