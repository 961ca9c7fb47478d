"""Push: tell the HTTPS endpoints partners registered that new entries are published (issue 16).

HMA polls every 240 s; a partner that registers an endpoint (PUT /api/v1/push) is told within
seconds instead. After a publisher run that published entries, one coalesced job
(hashbank.jobs.feed_push) POSTs each endpoint that is behind the signed checkpoint, exactly the
bytes and headers GET /api/v1/checkpoint answers. The checkpoint authenticates itself (Ed25519
over its bytes), so there is no shared secret to leak, and it names only where the feed ends:
the partner verifies it and then runs the verified sync it already knows.

A partner's URL is an address our servers connect to, so it is checked like untrusted input at
every delivery, not only when registered (server-side request forgery, DNS rebinding):

- https only, a host name or a public IP, no credentials, printable ASCII, at most 500 characters;
- the name is resolved, and the delivery is refused if ANY address is private, loopback,
  link-local, multicast, reserved, unspecified or otherwise not global, or an IPv4 address of
  those embedded in IPv6 (mapped, 6to4, NAT64);
- the connection goes to the vetted address itself (the name is never resolved again), with TLS
  certificate verification and SNI for the host name; redirects are never followed; the
  connection (TCP and TLS) must be made within PUSH_TIMEOUT_SECONDS and the status line must
  arrive within as long again, a hard deadline rather than a per-read timeout; nothing of the
  answer past RESPONSE_MAX_BYTES is read.

Failures never reach publishing: the push is a job of its own, queued after the publisher's
transaction committed. A failure is recorded on the endpoint (failures in a row, the last error
and when), and the endpoint is tried again after PUSH_RETRY_BASE_SECONDS, doubling up to
PUSH_RETRY_MAX_SECONDS. That backoff is kept in the database, not in RQ: rq 2.12 supports
Retry(interval=...) and enqueue_in, but only workers started with the scheduler run such jobs,
and ours (hashbank.worker) are not; so the sweep (hashbank.maintenance, every minute) queues the
job again when a retry is due, and each publisher run skips endpoints still waiting. After
PUSH_PAUSE_AFTER_FAILURES failures in a row an endpoint is paused (its GET /api/v1/push says so)
until the partner registers it again.

One job delivers to every endpoint that is behind, PUSH_CONCURRENCY at a time in threads that
only do network work (the database is read and written by the job's own thread), so a slow or
dead endpoint holds its own slot for at most twice the timeout and never delays the others.

Safe to run twice: pushed_version only moves forward (a conditional UPDATE), an endpoint already
at the head's version is not pushed again, and a result is recorded only while the endpoint is
still behind that version at the same URL.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import select
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils import timezone

from hashbank.feed.checkpoint import checkpoint_current
from hashbank.feedformat.canonical import format_time
from hashbank.models import FeedHead, PushEndpoint
from hashbank.queueing import enqueue_now, enqueue_on_commit

logger = logging.getLogger(__name__)

#: PushEndpoint.url's length.
URL_MAX_LENGTH = 500
#: Of an endpoint's answer only the status line matters; this much is read at most.
RESPONSE_MAX_BYTES = 4096
USER_AGENT = "imageshield-push/1"

_PATH_RE = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
#: Names that never lead to a public host (RFC 6761, RFC 6762, RFC 8375, and the usual
#: internal suffixes); refused as names before anything is resolved.
_LOCAL_NAMES = ("localhost", "localdomain", "local", "internal", "intranet", "lan", "home.arpa", "arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PushUrlError(ValueError):
    """The URL cannot be used; the message says why, in words for the partner."""


class PushRefused(Exception):
    """The URL's host resolves to an address we never connect to."""


# --- Addresses ---------------------------------------------------------------------------------


def allowed_networks(values: Iterable[str] | None = None) -> tuple[IPNetwork, ...]:
    """PUSH_ALLOW_ADDRESSES as networks: the loopback receiver of a test or a benchmark."""
    try:
        return tuple(ipaddress.ip_network(value, strict=False)
                     for value in (settings.PUSH_ALLOW_ADDRESSES if values is None else values))
    except ValueError as error:
        raise ImproperlyConfigured(f"PUSH_ALLOW_ADDRESSES: {error}") from None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, where it carries one a packet can reach."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why we never connect to `ip` (None: we may). One condition a line; `allow` only for tests."""
    if any(ip.version == network.version and ip in network for network in allow):
        return None
    inner = _embedded_ipv4(ip)
    if inner is not None:
        reason = address_refusal(inner, allow)
        return None if reason is None else f"{reason} (carried in {ip})"
    if ip.is_unspecified:
        return "is unspecified"
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_link_local:
        return "is link-local"
    if ip.is_multicast:
        return "is multicast"
    if ip.is_private:
        return "is a private address"
    if ip.is_reserved:
        return "is reserved"
    if not ip.is_global:
        return "is not a public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address the resolver gives for `host` now, in its order (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --- URLs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A checked push URL: where to connect and what to ask for."""

    url: str
    host: str  # lowercase name, or an IP address without brackets
    port: int
    path: str  # path and query, never empty
    ip: IPAddress | None  # set when the URL names an IP address

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if self.ip is not None and self.ip.version == 6 else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def push_url_parse(url: object, *, allow: Sequence[IPNetwork] | None = None) -> Target:
    """Check a push URL (PushUrlError saying why not). A name is checked again, resolved, at
    every delivery (vetted_addresses); an IP address is checked here."""
    allow = allowed_networks() if allow is None else allow
    if not isinstance(url, str) or not url:
        raise PushUrlError("give the URL as a string, like https://push.example.org/imageshield")
    if len(url) > URL_MAX_LENGTH:
        raise PushUrlError(f"the URL is longer than {URL_MAX_LENGTH} characters")
    if any(not 0x21 <= ord(character) <= 0x7E for character in url):
        raise PushUrlError("the URL may hold only printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise PushUrlError("this is not a URL") from None
    if parts.scheme.lower() != "https":
        raise PushUrlError("push URLs must start with https://")
    if "@" in parts.netloc:
        raise PushUrlError("no user name or password in the URL: the signed checkpoint needs no secret")
    if "#" in url:
        raise PushUrlError("no fragment (#...) in the URL")
    if not host:
        raise PushUrlError("the URL names no host")
    if port == 0:
        raise PushUrlError("the port must be from 1 to 65535")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _PATH_RE.match(path):
        raise PushUrlError("the path must start with / and hold only URL characters")
    try:
        ip: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None:
        host = host.removesuffix(".")
        labels = host.split(".")
        if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
            raise PushUrlError("the host must be a public host name (like push.example.org) or a public IP address")
        if any(host == name or host.endswith("." + name) for name in _LOCAL_NAMES):
            raise PushUrlError(f"{host} is a local name: the host must be reachable on the public internet")
    else:
        reason = address_refusal(ip, allow)
        if reason is not None:
            raise PushUrlError(f"{ip} {reason}: the host must be reachable on the public internet")
    return Target(url=url, host=host, port=port or 443, path=path, ip=ip)


def vetted_addresses(target: Target, allow: Sequence[IPNetwork]) -> list[str]:
    """The addresses to connect to, all of them checked; PushRefused if any is refused (a name
    with one private address among public ones could be made to pick that one)."""
    if target.ip is not None:
        return [str(target.ip)]
    try:
        found = resolve(target.host, target.port)
    except (socket.gaierror, UnicodeError) as error:
        raise OSError(f"{target.host} does not resolve ({getattr(error, 'strerror', None) or error})") from None
    if not found:
        raise OSError(f"{target.host} does not resolve")
    for address in found:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise PushRefused(f"{target.host} resolves to {address!r}, which is not an IP address") from None
        reason = address_refusal(ip, allow)
        if reason is not None:
            raise PushRefused(f"{target.host} resolves to {address}, which {reason}")
    return found


# --- One delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """What is pushed: the checkpoint's exact bytes and its signature headers."""

    version: int
    body: bytes
    kid: str
    signature: str


@dataclass(frozen=True)
class PushConfig:
    timeout: float
    allow: tuple[IPNetwork, ...]
    context: ssl.SSLContext


def push_config() -> PushConfig:
    context = ssl.create_default_context(cafile=settings.PUSH_CA_FILE or None)
    # create_default_context already requires a certificate valid for the host name; said
    # here so that nobody loosens it by accident.
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return PushConfig(timeout=float(settings.PUSH_TIMEOUT_SECONDS), allow=allowed_networks(), context=context)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    error: str = ""
    status: int | None = None


def deliver(url: str, signed: Signed, config: PushConfig) -> Delivery:
    """POST the checkpoint to one endpoint. Never raises: the outcome says what happened.
    Touches no database (it runs in a thread of its own)."""
    phase = "connect"
    try:
        target = push_url_parse(url, allow=config.allow)
        addresses = vetted_addresses(target, config.allow)
        deadline = time.monotonic() + config.timeout
        connected = _connect(addresses, target.port, deadline)
        try:
            tls = config.context.wrap_socket(connected, server_hostname=target.host, do_handshake_on_connect=False)
        except BaseException:
            connected.close()
            raise
        with tls:
            _handshake(tls, deadline)
            phase = "answer"
            status = _exchange(tls, target, signed, deadline=time.monotonic() + config.timeout)
    except PushUrlError as error:
        return Delivery(False, f"refused: {error}")
    except PushRefused as error:
        return Delivery(False, f"refused: {error}")
    except TimeoutError:
        what = "connect" if phase == "connect" else "get an answer"
        return Delivery(False, f"timed out: could not {what} within {config.timeout:g} s")
    except ssl.SSLCertVerificationError as error:
        return Delivery(False, f"TLS certificate not accepted: {error.verify_message or error.reason}")
    except ssl.SSLError as error:
        return Delivery(False, f"TLS failed: {error.reason or error}")
    except OSError as error:
        return Delivery(False, f"could not connect: {error.strerror or error}")
    except _BadAnswer as error:
        return Delivery(False, str(error))
    if 200 <= status < 300:
        return Delivery(True, status=status)
    if 300 <= status < 400:
        return Delivery(False, f"answered {status}: redirects are not followed; register the final URL",
                        status=status)
    return Delivery(False, f"answered {status}", status=status)


class _BadAnswer(Exception):
    pass


def _connect(addresses: Sequence[str], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first vetted address that takes one, before `deadline`."""
    last: OSError | None = None
    for address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        try:
            # An IP address: create_connection resolves nothing, so DNS cannot change it now.
            return socket.create_connection((address, port), timeout=left)
        except TimeoutError:
            raise
        except OSError as error:
            last = error
    raise last or OSError("no address to connect to")


def _handshake(tls: ssl.SSLSocket, deadline: float) -> None:
    """The TLS handshake, before `deadline` however slowly the server sends its part."""
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            ready = select.select([tls], [], [], max(0.0, deadline - time.monotonic()))[0]
        except ssl.SSLWantWriteError:
            ready = select.select([], [tls], [], max(0.0, deadline - time.monotonic()))[1]
        if not ready:
            raise TimeoutError
    tls.setblocking(True)


def _exchange(tls: ssl.SSLSocket, target: Target, signed: Signed, *, deadline: float) -> int:
    """Send the request and read the status line, all before `deadline` (a hard limit: a
    server that drips one byte at a time cannot hold the job)."""
    head = (
        f"POST {target.path} HTTP/1.1\r\n"
        f"Host: {target.host_header}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(signed.body)}\r\n"
        f"Feed-Key-Id: {signed.kid}\r\n"
        f"Feed-Signature: {signed.signature}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    _settimeout(tls, deadline)
    tls.sendall(head + signed.body)
    answer = b""
    while b"\r\n" not in answer:
        if len(answer) >= RESPONSE_MAX_BYTES:
            raise _BadAnswer(f"answered without an HTTP status line in its first {RESPONSE_MAX_BYTES} bytes")
        _settimeout(tls, deadline)
        chunk = tls.recv(RESPONSE_MAX_BYTES - len(answer))
        if not chunk:
            raise _BadAnswer("closed the connection without answering")
        answer += chunk
    match = re.match(rb"HTTP/1\.[01] ([1-5][0-9][0-9])[ \r]", answer)
    if match is None:
        raise _BadAnswer("did not answer in HTTP/1.1")
    return int(match.group(1))


def _settimeout(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)


# --- Which endpoints, and when -----------------------------------------------------------------


def retry_delay(failures: int) -> timedelta:
    """How long after its last failure an endpoint with `failures` in a row is tried again."""
    base, cap = settings.PUSH_RETRY_BASE_SECONDS, settings.PUSH_RETRY_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** min(max(failures - 1, 0), 32)))


def next_attempt_at(endpoint: PushEndpoint) -> datetime | None:
    """When a failing endpoint may be tried again (None: not waiting)."""
    if not endpoint.failures or endpoint.last_failure_at is None:
        return None
    return endpoint.last_failure_at + retry_delay(endpoint.failures)


def is_paused(endpoint: PushEndpoint) -> bool:
    return endpoint.failures >= settings.PUSH_PAUSE_AFTER_FAILURES


def _candidates(version: int):
    """Endpoints that are on, not paused, of an active partner, and behind `version`."""
    return PushEndpoint.objects.filter(
        is_active=True, partner__is_active=True, pushed_version__lt=version,
        failures__lt=settings.PUSH_PAUSE_AFTER_FAILURES,
    ).order_by("pk")


def _waiting(endpoint: PushEndpoint, now: datetime) -> bool:
    due = next_attempt_at(endpoint)
    return due is not None and due > now


# --- The job -----------------------------------------------------------------------------------


def push_run(*, now: datetime | None = None) -> dict[str, int]:
    """Push the current checkpoint to every endpoint behind it that is not waiting to retry
    (hashbank.jobs.feed_push). Returns what happened, by count. `now` (tests): the time the
    backoff is judged by and the outcomes are recorded at."""
    head = checkpoint_current()
    report = {"pushed": 0, "failed": 0, "waiting": 0}
    now = now or timezone.now()
    endpoints = []
    for endpoint in _candidates(head.checkpoint_version):
        if _waiting(endpoint, now):
            report["waiting"] += 1
        else:
            endpoints.append(endpoint)
    if not endpoints:
        return report
    signed = Signed(head.checkpoint_version, bytes(head.checkpoint_body), head.checkpoint_kid,
                    head.checkpoint_signature)
    config = push_config()
    with ThreadPoolExecutor(max_workers=min(max(1, settings.PUSH_CONCURRENCY), len(endpoints)),
                            thread_name_prefix="push") as pool:
        futures = {pool.submit(deliver, endpoint.url, signed, config): endpoint for endpoint in endpoints}
        for future in as_completed(futures):
            endpoint, result = futures[future], future.result()
            push_record(endpoint=endpoint, version=signed.version, result=result, now=now)
            report["pushed" if result.ok else "failed"] += 1
    return report


def push_record(*, endpoint: PushEndpoint, version: int, result: Delivery, now: datetime | None = None) -> bool:
    """Record one delivery's outcome; False when it changed nothing (the endpoint has reached
    `version` since, or its URL changed: the outcome is about an address no longer in use)."""
    now = now or timezone.now()
    still = PushEndpoint.objects.filter(pk=endpoint.pk, url=endpoint.url, pushed_version__lt=version)
    if result.ok:
        changed = still.update(pushed_version=version, last_success_at=now, failures=0, last_error="")
    else:
        changed = still.update(failures=F("failures") + 1, last_failure_at=now, last_error=result.error[:300])
        # Never the URL in the log: a partner may keep a token of its own in the query.
        logger.warning("push to partner %s (%s) failed: %s", endpoint.partner_id,
                       urllib.parse.urlsplit(endpoint.url).hostname, result.error)
    return bool(changed)


def push_on_commit() -> None:
    """Queue a push (coalesced) once the surrounding transaction commits: after a publisher run
    that published entries, and when a partner registers an endpoint (its first push says at
    once whether the address works). Not in the embedded mode, where jobs run inside the web
    request that caused them and a push must never hold up a survivor's request: there the
    sweep (`manage.py feed_sweep`) pushes."""
    if settings.JOBS_IN_PROCESS:
        return
    if PushEndpoint.objects.filter(is_active=True).exists():
        enqueue_on_commit("hashbank.jobs.feed_push", coalesce=True)


def push_sweep(*, dry_run: bool = False, now: datetime | None = None) -> dict[str, Any]:
    """The sweep's part (hashbank.maintenance, every minute): queue the push job when an
    endpoint's retry is due, or when one missed the push of entries published since its last
    success (a job that could not be queued while Redis was down, the embedded mode)."""
    head = FeedHead.objects.filter(pk=1).first()
    if head is None or not head.checkpoint_version:
        return {"due": 0}
    now = now or timezone.now()
    due = 0
    for endpoint in _candidates(head.checkpoint_version):
        if endpoint.failures:
            due += not _waiting(endpoint, now)
        elif endpoint.last_success_at is None or endpoint.last_success_at < head.updated_at:
            due += 1
    report: dict[str, Any] = {"due": due}
    if due and not dry_run:
        report["queued"] = enqueue_now("hashbank.jobs.feed_push", coalesce=True)
    return report


# --- What a partner sees -----------------------------------------------------------------------


def push_endpoint_status(endpoint: PushEndpoint) -> dict[str, Any]:
    """GET /api/v1/push (and `manage.py partner_push_set`): the endpoint, in plain words."""
    pause = settings.PUSH_PAUSE_AFTER_FAILURES
    due = next_attempt_at(endpoint)
    if not endpoint.is_active:
        state, message = "off", "Pushes are switched off; PUT the URL again to switch them on."
    elif is_paused(endpoint):
        state = "paused"
        message = (f"Paused after {endpoint.failures} failed pushes in a row; fix the endpoint, then PUT the "
                   "URL again to resume.")
        due = None
    elif endpoint.failures:
        state = "retrying"
        message = (f"The last {endpoint.failures} push(es) failed; the next try is due at {format_time(due)}; "
                   f"pushes pause after {pause} failures in a row.")
    else:
        state, message = "active", "Pushes are on."
    when = lambda at: None if at is None else format_time(at)  # noqa: E731
    return {
        "url": endpoint.url,
        "state": state,
        "message": message,
        "pushed_version": endpoint.pushed_version,
        "last_success_at": when(endpoint.last_success_at),
        "last_failure_at": when(endpoint.last_failure_at),
        "failures": endpoint.failures,
        "last_error": endpoint.last_error,
        "next_attempt_at": when(due),
        "pause_after_failures": pause,
    }

