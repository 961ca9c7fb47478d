"""Flood limits on the public pages (issue 11): consent and new cases per client, and new cases
in total.

Per client (portal.clientaddr: the real client behind the proxy, IPv6 by /64), consent and
case creation are limited per hour; past the limit the JSON endpoint answers 429
`rate_limited` with Retry-After and the page explains kindly what to do (wait a little, or ask
a helpline, whose caseworkers are not limited). The window lifts bucket by bucket, so someone
behind a shared address (a refuge, a university, carrier NAT) waits minutes, not a day,
because of someone else.

In total, past SURVIVOR_CASES_TOTAL_PER_HOUR new cases an hour, cases are still accepted,
never refused, but held for staff review instead of being published: no flood reaches a
partner's blocklist, and no survivor is turned away by a flood.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from portal import throttling


def _window(limit: int) -> throttling.Window:
    return throttling.Window(limit=limit, seconds=3600, buckets=6)


@dataclass(frozen=True)
class Refused:
    retry_after: int


def consent_take(address: str) -> Refused | None:
    """Count one consent from this client; Refused when it is over its hourly limit."""
    window = _window(settings.SURVIVOR_CONSENTS_PER_ADDRESS_PER_HOUR)
    key = throttling.counter_key("consent-addr", address)
    if throttling.reserve(key, window) is None:
        return Refused(retry_after=throttling.retry_after(key, window))
    return None


@dataclass(frozen=True)
class CaseSlot:
    """A reserved place for one new case, and whether the service is past its total."""

    reservation: throttling.Reservation
    total: throttling.Reservation
    hold_for_review: bool


def case_take(address: str) -> CaseSlot | Refused:
    window = _window(settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR)
    key = throttling.counter_key("case-addr", address)
    reservation = throttling.reserve(key, window)
    if reservation is None:
        return Refused(retry_after=throttling.retry_after(key, window))
    total_window = _window(settings.SURVIVOR_CASES_TOTAL_PER_HOUR)
    total_key = throttling.counter_key("case-total", "all")
    total, total_now = throttling.count(total_key, total_window)
    return CaseSlot(reservation=reservation, total=total, hold_for_review=total_now > total_window.limit)


def case_give_back(slot: CaseSlot) -> None:
    """The submission was refused (bad fingerprints): it made no case, so it costs nothing."""
    throttling.release(slot.reservation, _window(settings.SURVIVOR_CASES_PER_ADDRESS_PER_HOUR))
    throttling.release(slot.total, _window(settings.SURVIVOR_CASES_TOTAL_PER_HOUR))
