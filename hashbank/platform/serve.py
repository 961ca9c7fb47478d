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
The store is re-opened when ``sync`` has moved it on (``state.json`` changed), so a cron job
running ``sync`` keeps a running ``serve`` current; a withdrawal stops matching at the next
request after the sync that brought it.
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hashbank.fingerprints import FingerprintError
from hashbank.platform.index import PDQIndex, parse_hash
from hashbank.platform.store import DEFAULT_ORIGIN, LocalStore

DEFAULT_MAX_BODY = 64 * 1024
MAX_HASHES = 1000
#: How often (seconds) a request may check whether sync moved the store on.
RELOAD_CHECK_SECONDS = 1.0


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class MatchService:
    """The store's index, re-opened when the store changes. Queries run concurrently."""

    def __init__(self, store: LocalStore, *, backend: str = "auto") -> None:
        self.store = store
        self.backend = backend
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self.index: PDQIndex
        self.origins: dict[str, str] = {}
        self.position = 0
        self._load()

    def _load(self) -> None:
        stat = self.store.state_file.stat()
        state = self.store.read_state()
        origins: dict[str, str] = {}
        index = self.store.open_index(backend=self.backend, state=state, origins=origins)
        if len(index):
            index.compact()
        self.index, self.origins, self.position = index, origins, int(state["feed"]["position"])
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    def current(self) -> tuple[PDQIndex, int]:
        now = time.monotonic()
        if now - self._checked >= RELOAD_CHECK_SECONDS:
            with self._lock:
                self._checked = now
                stat = self.store.state_file.stat()
                if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                    # Old index objects stay valid for requests still using them.
                    self._load()
        return self.index, self.position

    def match(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad_request", 'send {"hashes": [...]} or {"hash": "..."}')
        hashes = payload.get("hashes", [payload["hash"]] if "hash" in payload else None)
        if not isinstance(hashes, list) or not hashes:
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad_request", '"hashes" must be a non-empty list of PDQ hashes')
        if len(hashes) > MAX_HASHES:
            raise _Refused(HTTPStatus.BAD_REQUEST, "too_many_hashes", f"at most {MAX_HASHES} hashes a request")
        index, position = self.current()
        origins = self.origins
        threshold = payload.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= index.threshold
        ):
            raise _Refused(HTTPStatus.BAD_REQUEST, "bad_threshold", f"threshold must be 0..{index.threshold}")
        for number, value in enumerate(hashes):
            try:
                parse_hash(value)
            except FingerprintError as error:
                raise _Refused(HTTPStatus.BAD_REQUEST, "bad_hash", f"hashes[{number}]: {error}") from None
        found = index.query_many(hashes, threshold=threshold)
        return {
            "position": position,
            "results": [
                {"hash": value, "matches": [{"id": m.key, "distance": m.distance, "hash": m.hash,
                                             "origin": origins.get(m.key, DEFAULT_ORIGIN)} for m in matches]}
                for value, matches in zip(hashes, found, strict=True)
            ],
        }


def make_server(service: MatchService, host: str = "127.0.0.1", port: int = 8765,
                max_body: int = DEFAULT_MAX_BODY) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hashbank-match/1"
        sys_version = ""

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
            index, position = service.current()
            self._send(HTTPStatus.OK, {"ok": True, "records": len(index), "position": position})

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
