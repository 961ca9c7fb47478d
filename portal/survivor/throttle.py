"""Limits on wrong case reference / PIN pairs.

Two counters guard each attempt (portal.throttling: durable, keyed hashes only):

* one per case, keyed by the normalised reference (so a distributed guesser is stopped on one
  case), and
* one per client (portal.clientaddr: the real client behind the proxy, IPv6 by /64), so one
  client cannot sweep many references.

At most FAILURE_LIMIT failures per counter in an hour, in six 10-minute buckets: the real owner
waits at most an hour after an attacker stops, usually less, and the page says so calmly. An
attempt reserves its place first and hands it back when it succeeds, so parallel guesses cannot
slip past the limit and a correct PIN never counts as a failure.

The counters are in the database, not in Redis: a Redis crash or restart must not hand a
guesser a fresh allowance (issue 11), and a Redis outage must not stop survivors opening their
case.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from hashbank.references import reference_normalise
from portal import throttling

logger = logging.getLogger("portal.survivor.access")

#: At most this many wrong pairs per case, and per client address, in an hour.
FAILURE_LIMIT = 10
WINDOW = throttling.Window(limit=FAILURE_LIMIT, seconds=60 * 60, buckets=6)


def normalise_reference(raw: str) -> str:
    """People read references aloud and type them with spaces, dashes, lower case or an O for
    a 0: all spellings of one case share one counter."""
    return reference_normalise(raw) or re.sub(r"[^0-9A-Z]", "", raw.upper())[:64]


@dataclass(frozen=True)
class Attempt:
    """The places one attempt has reserved."""

    case: throttling.Reservation
    address: throttling.Reservation

    @property
    def case_tag(self) -> str:
        return self.case.key.split(":")[-1][:8]

    @property
    def address_tag(self) -> str:
        return self.address.key.split(":")[-1][:8]


def attempt_begin(*, reference: str, address: str, now: float | None = None) -> Attempt | None:
    """Reserve a place for one attempt, or None when either counter is at its limit."""
    case_key = throttling.counter_key("open-case", normalise_reference(reference))
    address_key = throttling.counter_key("open-addr", address)
    case = throttling.reserve(case_key, WINDOW, now=now)
    address_place = throttling.reserve(address_key, WINDOW, now=now) if case else None
    if case is None or address_place is None:
        if case is not None:
            throttling.release(case, WINDOW)
        logger.warning("case open refused: too many failures (case %s, address %s)",
                       case_key.split(":")[-1][:8], address_key.split(":")[-1][:8])
        return None
    return Attempt(case=case, address=address_place)


def attempt_succeeded(attempt: Attempt) -> None:
    """A right pair is not a failure: hand the reserved places back."""
    throttling.release(attempt.case, WINDOW)
    throttling.release(attempt.address, WINDOW)


def attempt_failed(attempt: Attempt) -> None:
    """Keep the reserved place as a failure and log it, never with the PIN or the address."""
    logger.warning(
        "case open failed: wrong reference or PIN (case %s, address %s)",
        attempt.case_tag,
        attempt.address_tag,
    )
