"""Read the signed partner feed over HTTP, verifying everything before anything is used.

Shared by the python-threatexchange exchange (:mod:`hashbank.platform.exchange`) and the
reference matcher's ``sync`` (:mod:`hashbank.platform.store`), so both follow one procedure:

1. ``GET /keys``: accept a new key set only when a key already trusted signed it (rotation);
2. when there is no state yet, or it is older than the feed keeps: load the signed snapshot;
3. ``GET /checkpoint``: signed, unexpired, never older than the last one accepted;
4. ``GET /feed?cursor=...`` until ``more`` is false: every page's signature, layout and chain
   are checked by :class:`hashbank.feedformat.FeedVerifier` BEFORE its entries are
   handed out, so a tampered, dropped or replayed page stops the sync with :class:`VerifyError`
   and nothing of that page is applied.

Every check is the pure-Python verifier's (``hashbank.feedformat``); this module only
moves bytes and keeps state. No Django here: platforms install it with ``.[platform]``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from hashbank.feedformat import (
    GENESIS,
    Checkpoint,
    FeedVerifier,
    VerifyError,
    parse_time,
    verify_checkpoint,
    verify_snapshot_manifest,
)

__all__ = ["Batch", "CursorExpired", "FeedClient", "FeedError", "FeedState", "VerifyError", "read_feed"]

#: Largest answer read from the server (a snapshot of millions of entries is tens of MB).
MAX_RESPONSE_BYTES = 2 * 1024 * 1024 * 1024
USER_AGENT = "hashbank-platform/1"


class FeedError(Exception):
    """The server answered with an error (or not at all). Nothing was applied."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class CursorExpired(FeedError):
    """Our position is older than the feed keeps (410): start again from the latest snapshot."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class FeedClient:
    """A minimal HTTPS client for the partner API (stdlib only). The key goes in the
    ``Authorization`` header, never in a URL (the server refuses keys in URLs)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        # The key is a bearer secret and the feed is sensitive data: plain HTTP only to this
        # machine (a local proxy, a test server), never across a network.
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError(f"the feed's base URL must start with https:// (got {base_url!r})")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def url(self, path: str) -> str:
        # Absolute paths (a snapshot's "download") resolve against the server's origin.
        if path.startswith("/api/"):
            return urllib.parse.urljoin(self.base_url + "/", path)
        return self.base_url + path

    def request(self, method: str, path: str, *, body: bytes | None = None, auth: bool = True) -> Response:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url(path), data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                data = answer.read(MAX_RESPONSE_BYTES + 1)
                status, answer_headers = answer.status, answer.headers
        except urllib.error.HTTPError as error:
            data = error.read(64 * 1024)
            status, answer_headers = error.code, error.headers
        except (urllib.error.URLError, OSError) as error:
            raise FeedError(f"cannot reach the feed at {self.base_url}: {error}") from error
        if len(data) > MAX_RESPONSE_BYTES:
            raise FeedError("the feed's answer is larger than this client accepts")
        return Response(status, {k.lower(): v for k, v in answer_headers.items()}, data)

    def get(self, path: str, *, auth: bool = True) -> Response:
        return _checked(self.request("GET", path, auth=auth))

    def post_json(self, path: str, payload: Mapping[str, Any]) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
        return _checked(self.request("POST", path, body=body))


def _checked(response: Response) -> Response:
    if response.status < 400:
        return response
    code, message = "", response.body[:200].decode("utf-8", "replace")
    try:
        error = json.loads(response.body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    kind = CursorExpired if response.status == 410 else FeedError
    raise kind(f"the feed answered {response.status} {code}: {message}", status=response.status, code=code)


def _signed(response: Response) -> tuple[bytes, str, str]:
    return response.body, response.headers.get("feed-key-id", ""), response.headers.get("feed-signature", "")


def parse_key_signatures(header: str) -> dict[str, str]:
    """``Feed-Signatures: kid=sig, kid=sig``: split each pair at the first ``=`` (the base64
    signature itself may end in ``=``)."""
    signatures: dict[str, str] = {}
    for pair in header.split(","):
        kid, sep, signature = pair.strip().partition("=")
        if sep:
            signatures[kid] = signature
    return signatures


# --------------------------------------------------------------------------------------------
# State a consumer keeps between runs


@dataclass
class FeedState:
    """Everything needed to continue where the last verified page ended: JSON-friendly, so the
    exchange keeps it in its checkpoint and ``sync`` in ``state.json``."""

    #: Keys trusted to sign: ``{kid: base64 raw public key}``; starts as the configured keys,
    #: then follows rotations signed by a key already trusted.
    keys: dict[str, str]
    position: int = 0
    digest: str = GENESIS
    keyset_version: int = 0
    #: The last accepted signed checkpoint as received, so rollback and "one version, two
    #: heads" are caught across runs: ``{"body": str, "kid": str, "signature": str}``.
    checkpoint: dict[str, str] | None = None
    #: Newest entry time seen (unix seconds); never goes backwards.
    progress_time: int = 0

    @property
    def started(self) -> bool:
        return self.position > 0 or self.digest != GENESIS

    def checkpoint_version(self) -> int:
        if not self.checkpoint:
            return 0
        return int(json.loads(self.checkpoint["body"])["version"])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedState:
        return cls(
            keys=dict(data["keys"]),
            position=int(data.get("position", 0)),
            digest=str(data.get("digest", GENESIS)),
            keyset_version=int(data.get("keyset_version", 0)),
            checkpoint=dict(data["checkpoint"]) if data.get("checkpoint") else None,
            progress_time=int(data.get("progress_time", 0)),
        )


def previous_checkpoint(state: FeedState) -> Checkpoint | None:
    """The stored checkpoint, re-verified against the keys we trust (as of its own issue time,
    so its expiry does not matter: it is only the floor for rollback checks)."""
    if not state.checkpoint:
        return None
    stored = state.checkpoint
    body = stored["body"].encode("ascii")
    try:
        issued = parse_time(json.loads(body)["issued_at"])
        return verify_checkpoint(body, stored["kid"], stored["signature"], state.keys, now=issued)
    except (VerifyError, ValueError, KeyError):
        # Signed by a key since retired: keep going without the rollback floor for one run.
        return None


@dataclass
class Batch:
    """Verified entries to apply, and the state to store once they are applied."""

    kind: str  # "snapshot" or "page"
    entries: list[dict[str, Any]]
    state: FeedState
    more: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def read_feed(
    client: FeedClient,
    state: FeedState,
    *,
    page_size: int = 1000,
    bootstrap: bool | None = None,
    max_pages: int | None = None,
    now: datetime | None = None,
) -> Iterator[Batch]:
    """Yield verified batches from ``state`` onwards, each with the state after it.

    ``bootstrap``: load the latest snapshot first (default: when ``state`` has not started).
    A snapshot batch replaces everything the consumer held. Raises :class:`VerifyError` on any
    failed check (nothing of the failing document is yielded), :class:`CursorExpired` when
    ``state`` is older than the feed keeps, :class:`FeedError` on other server errors."""
    state = FeedState.from_dict(state.as_dict())  # never mutate the caller's copy
    verifier = FeedVerifier(
        state.keys,
        position=state.position,
        digest=state.digest,
        keyset_version=state.keyset_version,
        checkpoint=previous_checkpoint(state),
    )

    # 1. Key rotation: only a set signed by a key we already trust (and by each key it adds).
    keys = client.get("/keys", auth=False)
    verifier.accept_keyset(keys.body, parse_key_signatures(keys.headers.get("feed-signatures", "")))
    state.keys = {kid: str(value) for kid, value in verifier.keys.items()}
    state.keyset_version = verifier.keyset_version

    # 2. Snapshot, when starting (or restarting) from scratch.
    if bootstrap is None:
        bootstrap = not state.started
    if bootstrap:
        batch = _snapshot(client, verifier, state)
        if batch is not None:
            yield batch

    # 3. The head checkpoint: signed, unexpired, not older than the last one.
    body, kid, signature = _signed(client.get("/checkpoint"))
    signed_head = verify_checkpoint(body, kid, signature, verifier.keys, previous=verifier.checkpoint, now=now)
    if verifier.position < signed_head.floor_position:
        # A signed statement that entries after our position were pruned: withdrawals may be
        # among them, so resuming is unsafe; the caller restarts from the snapshot.
        raise CursorExpired(f"position {verifier.position} is below the feed's floor {signed_head.floor_position}",
                            status=410, code="cursor_expired")
    checkpoint = verifier.accept_checkpoint(body, kid, signature, now=now)
    state.checkpoint = {"body": body.decode("ascii"), "kid": kid, "signature": signature}

    # 4. Pages, each verified before its entries leave this function.
    pages = 0
    while True:
        response = client.get(f"/feed?cursor={verifier.position}&limit={page_size}")
        page = verifier.accept_page(*_signed(response))
        state.position, state.digest = verifier.position, verifier.digest
        state.progress_time = max([state.progress_time, *(_entry_time(e) for e in page.entries)])
        pages += 1
        yield Batch("page", page.entries, FeedState.from_dict(state.as_dict()), more=page.more,
                    extra={"head_position": checkpoint.head_position})
        if not page.more or (max_pages is not None and pages >= max_pages):
            return


def _snapshot(client: FeedClient, verifier: FeedVerifier, state: FeedState) -> Batch | None:
    try:
        manifest_response = client.get("/snapshots/latest")
    except FeedError as error:
        if error.status == 404:  # no snapshot yet: the feed from position 0 holds everything
            verifier.position, verifier.digest = 0, GENESIS
            state.position, state.digest = 0, GENESIS
            return Batch("snapshot", [], FeedState.from_dict(state.as_dict()))
        raise
    manifest = verify_snapshot_manifest(*_signed(manifest_response), verifier.keys)
    data = client.get(manifest.download).body
    entries = verifier.accept_snapshot(manifest, data)  # size and SHA-256 against the signed manifest
    state.position, state.digest = verifier.position, verifier.digest
    state.progress_time = max([state.progress_time, *(_entry_time(e) for e in entries)])
    return Batch("snapshot", entries, FeedState.from_dict(state.as_dict()), extra={"manifest": manifest})


def _entry_time(entry: Mapping[str, Any]) -> int:
    try:
        return int(parse_time(str(entry["time"])).timestamp())
    except (KeyError, ValueError):
        return 0


def utc_now() -> datetime:
    return datetime.now(UTC)


def trusted_keys_from_list(items: list[str] | Mapping[str, str]) -> dict[str, str]:
    """``["kid=base64", ...]`` (how configs carry them) as ``{kid: base64}``."""
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    keys: dict[str, str] = {}
    for item in items:
        kid, sep, public = str(item).strip().partition("=")
        if not sep or not kid.startswith("ed25519:") or not public:
            raise ValueError(f"a trusted key is written kid=base64-public-key, got {item!r}")
        keys[kid] = public
    return keys
