"""The hosted lookup's own process: a local store kept in step with the feed, answering
``POST /lookup`` on a loopback port for the partner API (hashbank.api.lookup).

Why a process of its own: the index of a million fingerprints takes seconds to rebuild and
hundreds of megabytes to hold; kept here once, the web workers stay small, and a lookup never
waits for a rebuild (hashbank.platform.live swaps a new view in when it is ready).

Keeping in step (:class:`Follower`, one thread): every ``interval`` seconds it runs the platform's
verified sync (hashbank.platform.store, through hashbank.platform.feed: every signature, the
chain and the checkpoint checked before anything is applied) with the folding of the journal
deferred, so a quiet feed costs three small requests, and then refreshes the view from the
journal: a withdrawal stops matching within about one interval of being published. Once the
journal is larger than ``fold_bytes``, a child process folds it into a new saved index (a whole
rebuild; a child, so that its work does not take this process's interpreter lock from the
lookups) while this thread goes on verifying pages and handing them to the view in memory;
when the child is done, the new index is committed and those pages written to the store, in
that order, so a crash at any point leaves a store that the next sync continues.

Until the first sync has finished, and whenever the last successful one is older than
``max_stale`` seconds, lookups answer 503: an answer from a list that may still hold withdrawn
fingerprints, or be empty, is worse than none.

    POST /lookup   the request of hashbank.platform.lookup (up to 1,000 hashes here; the API
                   allows 100) -> its answer, and a Lookup-Matched header: how many matched
    GET /health    -> {"ok": true, "position": ..., "seconds_since_sync": ..., ...}

It takes hashes, never media, binds 127.0.0.1, has no authentication of its own (the partner
API in front of it authenticates and counts), and logs no requests.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hashbank.platform.feed import Batch, CursorExpired, FeedClient, FeedError, FeedState, VerifyError, read_feed
from hashbank.platform.live import LiveIndex
from hashbank.platform.lookup import MATCHED_HEADER, LookupRefused, answer, parse_lookup
from hashbank.platform.store import LocalStore, StoreError

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8766
DEFAULT_MAX_BODY = 256 * 1024
MAX_HASHES = 1000
#: Fold the journal into a new saved index once it holds this much (about 12,000 entries).
DEFAULT_FOLD_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_STALE = 60.0


def _fold_in_child(path: str, state: dict[str, Any], backend: str) -> None:
    LocalStore(path).fold_build(state, backend=backend)


class Follower:
    """Keeps the store and the live view in step with the feed (see the module's docstring)."""

    def __init__(self, store: LocalStore, client: FeedClient, live: LiveIndex, *, backend: str = "auto",
                 fold_bytes: int = DEFAULT_FOLD_BYTES, page_size: int = 1000,
                 fold_target: Callable[[str, dict[str, Any], str], None] = _fold_in_child) -> None:
        """`fold_target(store path, state, backend)` runs in the child and folds (tests pass one
        that waits for a signal first)."""
        self.store, self.client, self.live = store, client, live
        self.fold_target = fold_target
        self.backend, self.fold_bytes, self.page_size = backend, fold_bytes, page_size
        #: time.monotonic() of the last successful step (None: none yet).
        self.synced_at: float | None = None
        self.last_error = ""
        self._fold: tuple[Any, dict[str, Any], str] | None = None
        self._held: list[Batch] = []
        self._held_state: FeedState | None = None

    @property
    def folding(self) -> bool:
        return self._fold is not None

    def step(self) -> None:
        """One round. Raises what the sync raised (VerifyError, FeedError, StoreError): the store
        then stays at its last verified page."""
        if self._fold is not None:
            if self._fold[0].is_alive():
                self._follow_in_memory()
                self.synced_at = time.monotonic()
                return
            self._finish_fold()
        self.store.sync(self.client, backend=self.backend, page_size=self.page_size, fold_bytes=None)
        self.live.refresh()
        self.synced_at = time.monotonic()
        state = self.store.read_state()
        if int(state.get("journal_bytes", 0)) > self.fold_bytes:
            self._start_fold(state)

    def run(self, stop: threading.Event, interval: float) -> None:
        while True:
            try:
                self.step()
                self.last_error = ""
            except (VerifyError, FeedError, StoreError, OSError, ValueError) as error:
                # Logged and retried: the view keeps its last verified state meanwhile (and goes
                # stale after max_stale, when lookups stop).
                self.last_error = f"{type(error).__name__}: {error}"
                logger.warning("lookup sync failed: %s", self.last_error)
            if stop.wait(interval):
                self.close()
                return

    def close(self) -> None:
        if self._fold is not None:
            self._fold[0].terminate()
            self._fold[0].join(30)

    def _start_fold(self, state: dict[str, Any]) -> None:
        name = f"index-{int(state['feed']['position']):012d}"
        process = multiprocessing.get_context("spawn").Process(
            target=self.fold_target, args=(str(self.store.path), state, self.backend), daemon=True)
        process.start()
        self._fold = (process, state, name)
        self._held, self._held_state = [], FeedState.from_dict(state["feed"])

    def _follow_in_memory(self) -> None:
        assert self._held_state is not None
        try:
            for batch in read_feed(self.client, self._held_state, page_size=self.page_size, bootstrap=False):
                self._held_state = batch.state
                if batch.entries:
                    self._held.append(batch)
                    self.live.apply(batch.entries, position=batch.state.position)
        except CursorExpired:
            pass  # the sync after the fold starts again from the snapshot

    def _finish_fold(self) -> None:
        assert self._fold is not None and self._held_state is not None
        process, state, name = self._fold
        process.join()
        held, last = self._held, self._held_state
        self._fold, self._held, self._held_state = None, [], None
        if process.exitcode == 0:
            self.store.fold_commit(state, name)
        else:
            logger.warning("lookup: folding the journal failed (exit %s); the journal is kept", process.exitcode)
        # Then the pages verified meanwhile, in order: a crash before this line loses nothing the
        # next sync does not fetch again.
        for batch in held:
            self.store.append(batch.entries, batch.state)
        if not held or held[-1].state != last:
            self.store.append([], last)
        self.live.refresh()


class LookupService:
    def __init__(self, live: LiveIndex, follower: Follower | None = None, *,
                 max_stale: float = DEFAULT_MAX_STALE) -> None:
        self.live, self.follower, self.max_stale = live, follower, max_stale

    def unavailable(self) -> tuple[str, str] | None:
        """Why lookups cannot be answered now, if they cannot: (code, message)."""
        if self.follower is None:
            return None
        if self.follower.synced_at is None:
            return "lookup_starting", "the lookup index is loading the feed; try again in a few seconds"
        if time.monotonic() - self.follower.synced_at > self.max_stale:
            return "lookup_stale", ("the lookup index could not follow the feed for over "
                                    f"{int(self.max_stale)} s, so it may miss withdrawals; try again later")
        return None

    def health(self) -> dict[str, Any]:
        view = self.live.view
        follower = self.follower
        since = None if follower is None or follower.synced_at is None else time.monotonic() - follower.synced_at
        return {
            "ok": self.unavailable() is None,
            "position": view.position,
            "saved_index": {"name": view.base_name, "pdq": view.base_records, "exact": view.base_exact_count},
            "changes_since_saved_index": view.changes,
            "seconds_since_sync": None if since is None else round(since, 1),
            "folding": bool(follower and follower.folding),
            "last_error": follower.last_error if follower else "",
        }


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def make_server(service: LookupService, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                max_body: int = DEFAULT_MAX_BODY) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hashbank-lookup/1"
        sys_version = ""
        # Keep-alive: the API's workers keep one connection each.
        protocol_version = "HTTP/1.1"
        timeout = 120

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes; with Nagle's algorithm the second would wait
            # for the client's delayed ACK of the first (40 ms a request).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: HTTPStatus, body: Mapping[str, Any], headers: Mapping[str, str] = {}) -> None:
            data = json.dumps(body, separators=(",", ":")).encode("ascii")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, refused: _Refused) -> None:
            headers = {"Retry-After": "2"} if refused.status == HTTPStatus.SERVICE_UNAVAILABLE else {}
            self._send(refused.status, {"error": {"code": refused.code, "message": refused.message}}, headers)

        def do_GET(self) -> None:
            if self.path != "/health":
                return self._error(_Refused(HTTPStatus.NOT_FOUND, "not_found", "POST /lookup or GET /health"))
            self._send(HTTPStatus.OK, service.health())

        def do_POST(self) -> None:
            try:
                if self.path != "/lookup":
                    raise _Refused(HTTPStatus.NOT_FOUND, "not_found", "POST /lookup")
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    self.close_connection = True
                    raise _Refused(HTTPStatus.LENGTH_REQUIRED, "length_required", "Content-Length needed") from None
                if length < 0 or length > max_body:
                    self.close_connection = True  # do not read (or wait for) an oversized body
                    raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                                   f"bodies are limited to {max_body} bytes")
                body = self.rfile.read(length)
                if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
                    raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                   "send application/json with hashes; this service never takes media")
                reason = service.unavailable()
                if reason is not None:
                    raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE, *reason)
                try:
                    lookup = parse_lookup(json.loads(body), max_hashes=MAX_HASHES)
                except ValueError as error:
                    if isinstance(error, LookupRefused):
                        raise _Refused(HTTPStatus.BAD_REQUEST, error.code, error.message) from None
                    raise _Refused(HTTPStatus.BAD_REQUEST, "bad_json", "the body is not JSON") from None
                found, matched = answer(service.live.view, lookup)
                # The body goes through the API as it is; the count it keeps comes in a header.
                self._send(HTTPStatus.OK, found, {MATCHED_HEADER: str(matched)})
            except _Refused as refused:
                self._error(refused)

        def log_message(self, format: str, *args: Any) -> None:
            # No request lines in logs: hashes are sensitive (they leak a blurry picture).
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def run(
    *,
    store_path: str | Path,
    base_url: str,
    api_key: str,
    trusted_keys: Mapping[str, str],
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    interval: float = 1.0,
    backend: str = "auto",
    fold_bytes: int = DEFAULT_FOLD_BYTES,
    max_stale: float = DEFAULT_MAX_STALE,
    on_listening: Any = None,
) -> None:
    """Create the store if it does not exist (trusting `trusted_keys` at first contact), listen,
    and follow the feed until interrupted. The port listens at once and answers 503 until the
    first sync has finished."""
    store = LocalStore(store_path)
    if not store.exists():
        store = LocalStore.create(store_path, base_url=base_url, trusted_keys=trusted_keys)
    elif store.read_state()["base_url"] != base_url.rstrip("/"):
        raise StoreError(f"{store_path} follows {store.read_state()['base_url']}, not {base_url}")
    live = LiveIndex(store, backend=backend)
    follower = Follower(store, FeedClient(base_url, api_key, timeout=30), live, backend=backend,
                        fold_bytes=fold_bytes)
    service = LookupService(live, follower, max_stale=max_stale)
    server = make_server(service, host, port)
    serving = threading.Thread(target=server.serve_forever, name="lookup-http", daemon=True)
    serving.start()
    if on_listening is not None:
        on_listening(server.server_address[0], server.server_address[1])
    stop = threading.Event()
    try:
        follower.run(stop, interval)
    except KeyboardInterrupt:
        pass
    finally:
        follower.close()
        server.shutdown()
        server.server_close()
