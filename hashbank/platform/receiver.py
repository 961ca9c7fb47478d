"""``receive``: a small HTTP(S) server that syncs as soon as the feed pushes (issue 16).

A partner that registered an endpoint (PUT /api/v1/push) is sent the signed checkpoint each
time new entries are published: the exact bytes of GET /api/v1/checkpoint, with its
``Feed-Key-Id`` and ``Feed-Signature`` headers. This server takes that POST and:

1. verifies the checkpoint with the keys it already trusts (those of its store or state file;
   after a key rotation, a key set fetched from ``/keys`` and verified by a trusted key), and
   refuses it (403) when it is unsigned, badly signed, expired or not a checkpoint, and (409)
   when it is older than one already accepted: nothing else of the body is ever used;
2. when the checkpoint names a head beyond what is held, answers 202 at once and runs the
   verified sync it already knows in a thread of its own: :meth:`LocalStore.sync`, exactly
   what ``sync`` does (every document verified again, fetched from the feed itself), or, for
   HMA and the threatexchange CLI, their own fetch command (``--exec``);
3. coalesces: pushes that arrive while a sync runs make one more sync after it, not one each.

It also syncs once when it starts and every ``every`` seconds (a safety net for a push lost on
the way), and retries a failed sync with a growing pause. Anyone can reach the port, so a
forged or replayed push costs nothing: it is refused before any request is made, and only a
push signed by a key we do not know yet makes one ``/keys`` request, at most once a minute.

``GET /health`` answers what it did last. No Django: platforms install ``.[platform]``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hashbank.feedformat import Checkpoint, VerifyError, verify_checkpoint, verify_keyset
from hashbank.platform.feed import (
    FeedClient,
    FeedError,
    FeedState,
    parse_key_signatures,
    previous_checkpoint,
)
from hashbank.platform.store import LocalStore

logger = logging.getLogger(__name__)

#: A checkpoint is a few hundred bytes; anything much bigger is not one.
MAX_BODY = 16 * 1024
#: How often at most a push signed by an unknown key makes us fetch /keys.
KEYS_REFRESH_SECONDS = 60.0
#: A connection that has not sent its request within this long is dropped.
REQUEST_TIMEOUT = 10.0
#: After a failed sync: wait this long, doubling, up to the periodic interval.
RETRY_FIRST_SECONDS = 2.0


class Refused(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- What a verified push sets off --------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    """A verified push: the checkpoint and the headers it came with."""

    checkpoint: Checkpoint
    kid: str
    signature: str


class Target(ABC):
    """What the receiver keeps in step with the feed."""

    description: str

    @abstractmethod
    def feed_state(self) -> FeedState:
        """What has been verified so far: trusted keys, the last checkpoint, the position."""

    @abstractmethod
    def run(self) -> str:
        """The verified sync; one line for the log. Raises VerifyError, FeedError or
        RuntimeError when it did not complete."""

    def synced(self, pushed: Pushed | None) -> None:  # noqa: B027 - a hook most targets need not fill
        """After a successful run that a verified push (or none: start, timer, retry) asked for."""


class StoreTarget(Target):
    """The reference matcher's store: the same verified sync as ``sync``."""

    def __init__(self, store: LocalStore, client: FeedClient, *, backend: str = "auto", page_size: int = 1000) -> None:
        self.store, self.client, self.backend, self.page_size = store, client, backend, page_size
        self.description = f"syncing the store {store.path}"

    def feed_state(self) -> FeedState:
        return FeedState.from_dict(self.store.read_state()["feed"])

    def run(self) -> str:
        report = self.store.sync(self.client, backend=self.backend, page_size=self.page_size)
        return (f"OK at position {report.position}: {report.records} PDQ records and {report.exact_records} exact; "
                f"this sync {report.added} added, {report.withdrawn} withdrawn")


class CommandTarget(Target):
    """Another program's own verified fetch (HMA's ``flask fetch``, ``threatexchange fetch``),
    run when a verified push says there is more. Those programs keep their own state; this
    keeps only what verifying pushes needs (trusted keys, the last checkpoint acted on) in a
    small JSON file of its own."""

    def __init__(self, argv: Sequence[str], state_file: Path, *, trusted_keys: dict[str, str] | None = None,
                 timeout: float = 600.0, env: dict[str, str] | None = None) -> None:
        self.argv, self.state_file, self.timeout, self.env = list(argv), Path(state_file), timeout, env
        if not self.state_file.exists():
            if not trusted_keys:
                raise ValueError("a new state file needs the keys to trust (--trusted-key)")
            self._write(FeedState(keys=dict(trusted_keys)))
        self.description = f"running {shlex.join(self.argv)}"

    def feed_state(self) -> FeedState:
        try:
            return FeedState.from_dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RuntimeError(f"cannot read {self.state_file}: {error}") from None

    def run(self) -> str:
        try:
            done = subprocess.run(self.argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,  # noqa: S603
                                  timeout=self.timeout, env=self.env)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeError(f"{shlex.join(self.argv)}: {error}") from None
        if done.returncode:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"{shlex.join(self.argv)} exited {done.returncode}: {' | '.join(tail)}")
        return f"{shlex.join(self.argv)} completed"

    def synced(self, pushed: Pushed | None) -> None:
        """Keep the checkpoint the command was run for (with its signature, so it is verified
        again when read back): the floor that stale pushes are refused against."""
        if pushed is None:
            return
        state = self.feed_state()
        if state.checkpoint_version() >= pushed.checkpoint.version:
            return
        state.checkpoint = {"body": pushed.checkpoint.body.decode("ascii"), "kid": pushed.kid,
                            "signature": pushed.signature}
        state.position = max(state.position, pushed.checkpoint.head_position)
        self._write(state)

    def _write(self, state: FeedState) -> None:
        temporary = self.state_file.with_name(f".{self.state_file.name}.tmp")
        with open(temporary, "w") as f:
            json.dump(state.as_dict(), f, sort_keys=True, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.state_file)


# --- The receiver --------------------------------------------------------------------------------


@dataclass
class Status:
    pushes_accepted: int = 0
    pushes_refused: int = 0
    syncs: int = 0
    failed_syncs: int = 0
    #: The target's position after the last successful sync.
    synced_position: int = 0
    last_sync_at: float | None = None
    last_error: str = ""


class PushReceiver:
    """Verifies pushes and runs the target's sync in one background thread, coalescing."""

    def __init__(self, target: Target, *, keys_client: FeedClient | None = None, every: float | None = 900.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.keys_client = keys_client
        self.every = every if every and every > 0 else None
        self.status = Status()
        self._log = log or (lambda line: logger.info("%s", line))
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        #: The newest verified push not yet synced, and the newest ever accepted (the floor for
        #: refusing stale pushes between syncs).
        self._pending: Pushed | None = None
        self._newest: Checkpoint | None = None
        self._keys_checked = float("-inf")
        self._thread = threading.Thread(target=self._loop, name="push-receiver-sync", daemon=True)

    # -- pushes --------------------------------------------------------------------------------

    def push(self, body: bytes, kid: str, signature: str) -> tuple[HTTPStatus, dict[str, Any]]:
        """One POST: verify, then queue a sync when the checkpoint is ahead of what we hold."""
        try:
            checkpoint, state = self._verify(body, kid, signature)
        except Refused as refused:
            with self._lock:
                self.status.pushes_refused += 1
            self._log(f"refused a push: {refused.message}")
            raise
        with self._lock:
            self.status.pushes_accepted += 1
            if self._newest is None or checkpoint.version > self._newest.version:
                self._newest = checkpoint
            behind = checkpoint.head_position > max(state.position, self.status.synced_position)
            if behind and (self._pending is None or checkpoint.version > self._pending.checkpoint.version):
                self._pending = Pushed(checkpoint, kid, signature)
            queued = behind or self._pending is not None
        if not queued:
            return HTTPStatus.OK, {"status": "up_to_date", "position": state.position}
        self._log(f"push of checkpoint v{checkpoint.version} (head {checkpoint.head_position}) verified: syncing")
        self._wanted.set()
        return HTTPStatus.ACCEPTED, {"status": "sync_queued", "head_position": checkpoint.head_position}

    def _verify(self, body: bytes, kid: str, signature: str) -> tuple[Checkpoint, FeedState]:
        if not kid or not signature:
            raise Refused(HTTPStatus.FORBIDDEN, "unsigned", "send the checkpoint with Feed-Key-Id and Feed-Signature")
        try:
            state = self.target.feed_state()
        except Exception as error:
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable", f"cannot read our state: {error}") from None
        keys: dict[str, str] = dict(state.keys)
        if kid not in keys:
            keys = self._rotated_keys(state) or keys
        try:
            checkpoint = verify_checkpoint(body, kid, signature, keys)  # signature, kind, format, expiry
        except VerifyError as error:
            raise Refused(HTTPStatus.FORBIDDEN, "refused", str(error)) from None
        floors = [c for c in (previous_checkpoint(state), self._newest) if c is not None]
        for floor in floors:
            if checkpoint.version < floor.version:
                raise Refused(HTTPStatus.CONFLICT, "stale", f"checkpoint version {checkpoint.version} is older than "
                              f"version {floor.version}, already accepted")
            if checkpoint.version == floor.version and checkpoint.body != floor.body:
                raise Refused(HTTPStatus.FORBIDDEN, "refused", "two different checkpoints carry the same version")
            if checkpoint.head_position < floor.head_position:
                raise Refused(HTTPStatus.FORBIDDEN, "refused", "checkpoint head moved backwards (rollback)")
        return checkpoint, state

    def _rotated_keys(self, state: FeedState) -> dict[str, str] | None:
        """The feed's key set as of now, accepted only when a key we trust signed it (and each
        new key too): how a push signed just after a key rotation can be verified. Not stored:
        the sync that follows stores the rotation as it always does."""
        with self._lock:
            if self.keys_client is None or time.monotonic() - self._keys_checked < KEYS_REFRESH_SECONDS:
                return None
            self._keys_checked = time.monotonic()
        try:
            response = self.keys_client.get("/keys", auth=False)
            _, keys = verify_keyset(response.body, parse_key_signatures(response.headers.get("feed-signatures", "")),
                                    state.keys, previous_version=state.keyset_version)
        except (FeedError, VerifyError) as error:
            self._log(f"could not check the feed's keys: {error}")
            return None
        return dict(keys)

    # -- syncing -------------------------------------------------------------------------------

    def start(self, *, sync_now: bool = True) -> None:
        if sync_now:
            self._wanted.set()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        retry: float | None = None
        while not self._stop.is_set():
            wait = retry if retry is not None else self.every
            self._wanted.wait(wait)
            if self._stop.is_set():
                return
            self._wanted.clear()
            with self._lock:
                pending, self._pending = self._pending, None
            try:
                line = self.target.run()
                self.target.synced(pending)
                position = self.target.feed_state().position
            except (VerifyError, FeedError, RuntimeError, OSError, ValueError) as error:
                word = "REFUSED" if isinstance(error, VerifyError) else "FAILED"
                with self._lock:
                    self.status.failed_syncs += 1
                    self.status.last_error = f"{word}: {error}"
                    if pending is not None and (self._pending is None
                                                or pending.checkpoint.version > self._pending.checkpoint.version):
                        self._pending = pending  # still to do
                retry = min(self.every or 300.0, RETRY_FIRST_SECONDS if retry is None else retry * 2)
                self._log(f"sync {word}: {error}; trying again in {retry:g} s")
                continue
            retry = None
            with self._lock:
                self.status.syncs += 1
                self.status.synced_position = max(self.status.synced_position, position)
                self.status.last_sync_at = time.time()
                self.status.last_error = ""
            self._log(f"synced: {line}")

    def queued(self) -> bool:
        """Whether a sync is waiting to run (a verified push, the start, or a retry asked for one)."""
        return self._wanted.is_set()

    def health(self) -> dict[str, Any]:
        with self._lock:
            status = self.status
            return {"ok": not status.last_error, "synced_position": status.synced_position, "syncs": status.syncs,
                    "failed_syncs": status.failed_syncs, "pushes_accepted": status.pushes_accepted,
                    "pushes_refused": status.pushes_refused, "last_sync_at": status.last_sync_at,
                    "last_error": status.last_error}


# --- HTTP ----------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away or failed its TLS handshake: not worth a traceback.
        logger.info("push receiver: a connection from %s failed: %s", client_address[0], sys.exc_info()[1])


def make_receiver_server(receiver: PushReceiver, host: str = "127.0.0.1", port: int = 8443, *, path: str = "/",
                         tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    """The HTTP(S) server around `receiver`: POST `path` with a pushed checkpoint, GET /health."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "hashbank-receive/1"
        sys_version = ""
        timeout = REQUEST_TIMEOUT

        def setup(self) -> None:
            self.request.settimeout(self.timeout)
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()  # here, in the connection's own thread
            super().setup()

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body, separators=(",", ":")).encode("ascii")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, refused: Refused) -> None:
            self._send(refused.status, {"error": {"code": refused.code, "message": refused.message}})

        def do_GET(self) -> None:
            if urllib.parse.urlsplit(self.path).path != "/health":
                return self._refuse(Refused(HTTPStatus.NOT_FOUND, "not_found", f"POST {path} or GET /health"))
            self._send(HTTPStatus.OK, receiver.health())

        def do_POST(self) -> None:
            try:
                if urllib.parse.urlsplit(self.path).path != path:
                    raise Refused(HTTPStatus.NOT_FOUND, "not_found", f"pushes go to POST {path}")
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    raise Refused(HTTPStatus.LENGTH_REQUIRED, "length_required", "Content-Length needed") from None
                if not 0 <= length <= MAX_BODY:
                    self.close_connection = True  # never read (or wait for) an oversized body
                    raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                                  f"a checkpoint is at most {MAX_BODY} bytes")
                body = self.rfile.read(length)
                if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
                    raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                  "send the checkpoint as application/json")
                status, answer = receiver.push(body, self.headers.get("Feed-Key-Id", "").strip(),
                                               self.headers.get("Feed-Signature", "").strip())
                self._send(status, answer)
            except Refused as refused:
                self._refuse(refused)

        def do_PUT(self) -> None:
            self._refuse(Refused(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"POST {path}"))

        do_DELETE = do_PATCH = do_PUT

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the receiver logs what it did with each push, not request lines

    server = _Server((host, port), Handler)
    if tls is not None:
        # The handshake waits for the connection's own thread (Handler.setup): a client that
        # connects and sends nothing cannot hold up the others.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
