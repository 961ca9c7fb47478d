"""``serve``: a small HTTP endpoint a platform's upload pipeline calls with PDQ hashes.

It runs on the platform's own machine, next to its upload pipeline. It takes **hashes, never
media**: the pipeline already holds the upload and hashes it where it processes it (with
``pdqhash``, or ``python -m hashbank.platform match`` for files on disk), so this port never
parses untrusted image bytes and a decoder bug cannot be reached through it. It binds
127.0.0.1 by default; put it behind the platform's own authentication before exposing it
further (it has none of its own: anyone who can reach it can test hashes against the list).

    POST /match   {"hashes": ["<64 hex>", ...], "threshold": 31}     (or {"hash": "<64 hex>"})
    -> 200 {"results": [{"hash": "...", "matches": [{"id": "...", "distance": 4, "hash": "..."}]}],
            "position": 1234}
    GET /health   -> 200 {"ok": true, "records": 1000, "position": 1234}

Refused: bodies over ``max_body`` bytes (413), anything but ``application/json`` (415), more
than ``MAX_HASHES`` hashes (400), a value the fingerprint library rejects (400, naming it).
A background thread looks at ``state.json`` four times a second and, when ``sync`` has moved
the store on, swaps in a new view of it (hashbank.platform.live: the saved index memory-mapped,
the journal as a small overlay), so a cron job running ``sync`` keeps a running ``serve``
current, a withdrawal stops matching within a second of the sync that brought it, and no request
ever waits for the store to be re-read.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import weakref
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hashbank.fingerprints import FingerprintError
from hashbank.platform.index import hashes_to_codes, parse_hash
from hashbank.platform.live import LiveIndex, View
from hashbank.platform.store import LocalStore

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024
MAX_HASHES = 1000
#: How often (seconds) the background thread checks whether sync moved the store on.
RELOAD_CHECK_SECONDS = 0.25


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class MatchService:
    """The store's live view, refreshed by a background thread. Queries run concurrently."""

    def __init__(self, store: LocalStore, *, backend: str = "auto", poll: float = RELOAD_CHECK_SECONDS) -> None:
        self.store = store
        self.live = LiveIndex(store, backend=backend)
        self._stop = threading.Event()
        # The thread holds the service weakly: a service nobody uses any more stops it.
        self._thread = threading.Thread(target=_follow, args=(weakref.ref(self), self._stop, poll),
                                        name="serve-refresh", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    @property
    def position(self) -> int:
        return self.live.view.position

    def current(self) -> tuple[View, int]:
        view = self.live.view
        return view, view.position

    def match(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad_request", 'send {"hashes": [...]} or {"hash": "..."}')
        hashes = payload.get("hashes", [payload["hash"]] if "hash" in payload else None)
        if not isinstance(hashes, list) or not hashes:
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad_request", '"hashes" must be a non-empty list of PDQ hashes')
        if len(hashes) > MAX_HASHES:
            raise _Refused(HTTPStatus.BAD_REQUEST, "too_many_hashes", f"at most {MAX_HASHES} hashes a request")
        view, position = self.current()
        threshold = payload.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= view.threshold
        ):
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad_threshold", f"threshold must be 0..{view.threshold}")
        for number, value in enumerate(hashes):
            try:
                parse_hash(value)
            except FingerprintError as error:
                raise _Refused(HTTPStatus.BAD_REQUEST, "bad_hash", f"hashes[{number}]: {error}") from None
        found = view.pdq(hashes_to_codes(hashes), threshold=threshold)
        return {
            "position": position,
            "results": [
                {"hash": value, "matches": [{"id": m.id, "distance": m.distance, "hash": m.value,
                                             "origin": m.origin} for m in matches]}
                for value, matches in zip(hashes, found, strict=True)
            ],
        }


def _follow(service: weakref.ref[MatchService], stop: threading.Event, poll: float) -> None:
    while not stop.wait(poll):
        current = service()
        if current is None:
            return
        try:
            current.live.refresh()
        except Exception:  # keep serving the last good view; the next look may succeed
            logger.exception("serve: the store could not be re-read")
        del current


def make_server(service: MatchService, host: str = "127.0.0.1", port: int = 8765,
                max_body: int = DEFAULT_MAX_BODY) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hashbank-match/1"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes; with Nagle's algorithm the second would wait
            # for the client's delayed ACK of the first (40 ms a request).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body, separators=(",", ":")).encode("ascii")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, refused: _Refused) -> None:
            self._send(refused.status, {"error": {"code": refused.code, "message": refused.message}})

        def do_GET(self) -> None:
            if self.path != "/health":
                return self._error(_Refused(HTTPStatus.NOT_FOUND, "not_found", "POST /match or GET /health"))
            view, position = service.current()
            self._send(HTTPStatus.OK, {"ok": True, "records": view.base_records, "position": position,
                                       "changes_since_saved_index": view.changes})

        def do_POST(self) -> None:
            try:
                if self.path != "/match":
                    raise _Refused(HTTPStatus.NOT_FOUND, "not_found", "POST /match")
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    raise _Refused(HTTPStatus.LENGTH_REQUIRED, "length_required", "Content-Length needed") from None
                if length < 0 or length > max_body:
                    self.close_connection = True  # do not read (or wait for) an oversized body
                    raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                                   f"bodies are limited to {max_body} bytes")
                body = self.rfile.read(length)
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if content_type != "application/json":
                    raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                   "send application/json with PDQ hashes; this service never takes media")
                try:
                    payload = json.loads(body)
                except ValueError:
                    raise _Refused(HTTPStatus.BAD_REQUEST, "bad_json", "the body is not JSON") from None
                self._send(HTTPStatus.OK, service.match(payload))
            except _Refused as refused:
                self._error(refused)

        def log_message(self, format: str, *args: Any) -> None:
            # No request lines in logs: hashes are sensitive (they leak a blurry picture).
            pass

    return ThreadingHTTPServer((host, port), Handler)
