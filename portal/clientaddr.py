"""The one place that decides which client a request comes from, for every throttle.

Behind the TLS proxy REMOTE_ADDR is the proxy, so counting by it would let five wrong
passwords from anyone lock everyone out. X-Forwarded-For is believed only when the peer is
one of TRUSTED_PROXIES, and then read from the right: each trusted proxy appends the address
it saw, so the first entry (from the right) that is not a trusted proxy is the client. An
entry that does not parse as an IP address was written by the client, not by a proxy: the
walk stops there and the last address a trusted hop vouched for is used. Nothing a client
sends can make it look like someone else it chooses, or like no one.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: IPv6 hands each subscriber a /64 or more: counting single addresses would let one client
#: rotate through 2**64 of them.
IPV6_CLIENT_PREFIX = 64


def parse_ip(raw: str) -> IPAddress | None:
    """An address, or None for anything else (garbage, ports, networks, zone ids)."""
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _trusted(networks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def trusted_proxies() -> tuple[IPNetwork, ...]:
    return _trusted(tuple(settings.TRUSTED_PROXIES))


def is_trusted_proxy(address: IPAddress) -> bool:
    return any(address.version == n.version and address in n for n in trusted_proxies())


def client_ip(request: HttpRequest) -> IPAddress | None:
    """The client's address as far as we can trust it (None only if REMOTE_ADDR is unusable)."""
    peer = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if peer is None or not settings.BEHIND_TLS_PROXY or not is_trusted_proxy(peer):
        return peer
    client = peer
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = parse_ip(entry)
        if address is None:
            break
        client = address
        if not is_trusted_proxy(address):
            break
    return client


def client_key(address: IPAddress | None) -> str:
    """What throttles count: an IPv4 address, or the first address of an IPv6 /64. Always a
    valid IP string, so django-axes can store it in its address column."""
    if address is None:
        return "0.0.0.0"  # noqa: S104 - a label for "unknown", never bound to
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False).network_address)
    return str(address)


def client_address(request: HttpRequest) -> str:
    """The key every throttle uses for this request's client (django-axes too:
    AXES_CLIENT_IP_CALLABLE)."""
    return client_key(client_ip(request))
