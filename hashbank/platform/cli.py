"""The platform command line: ``python -m hashbank.platform COMMAND ...``.

Commands:
    sync            pull and verify the feed into the local store (resumable)
    match PATH...   hash image files (all eight dihedral variants) and report matches
    serve           answer POST /match with PDQ hashes, for a platform's upload pipeline
    feedback        send match outcomes (with idempotency keys) to the feed
    receive         take the feed's pushes (HTTPS) and sync at once (the store, or HMA's fetch)

Each command is a pair of functions in :data:`COMMANDS`: one adds its arguments to its
sub-parser, the other runs it and returns the exit status.

The partner API key is read from ``$HASHBANK_FEED_API_KEY`` or ``--api-key-file`` (never a
command-line argument: those show in process lists and shell history).

Exit status: 0 when the command ran (whether or not anything matched), 1 when some input could
not be processed (an unreadable image) or the feed failed verification (nothing of the refused
document was applied), 2 for a usage error or an unusable store, 3 when the server could not be
reached or answered with an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from hashbank.platform.index import MAX_THRESHOLD, PDQIndex

#: Where the commands find the local store when ``--store`` is not given.
STORE_ENV = "HASHBANK_STORE"
#: Where the commands find the partner API key.
API_KEY_ENV = "HASHBANK_FEED_API_KEY"


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get(STORE_ENV),
        help=f"directory of the local PDQ index (default: ${STORE_ENV})",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "compiled", "numpy", "faiss"),
        default="auto",
        help="index backend; auto: the fastest this install has, measured by bench/matcher_bench.py "
        "(compiled, then numpy; the answers are the same)",
    )


def open_index(args: argparse.Namespace, origins: dict[str, str] | None = None) -> PDQIndex:
    """The store's index; `origins` (when given) is filled with the non-survivor origins and
    left None-like (untouched) for a bare saved index, which has none."""
    if not args.store:
        raise UsageError(f"no store: pass --store DIR or set {STORE_ENV}")
    store = Path(args.store)
    from hashbank.platform.store import LocalStore, StoreError

    try:
        if LocalStore(store).exists():  # a store made by `sync`: the saved index plus its journal
            return LocalStore(store).open_index(backend=args.backend, origins=origins)
        return PDQIndex.load(store, backend=args.backend)  # a bare saved index
    except (OSError, ValueError, RuntimeError, StoreError) as exc:
        raise UsageError(f"cannot open the store {store}: {exc}") from exc


def add_api_key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key-file", help=f"file holding the partner API key (default: ${API_KEY_ENV})")


def api_key(args: argparse.Namespace) -> str:
    if args.api_key_file:
        try:
            key = Path(args.api_key_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read --api-key-file: {exc}") from exc
    else:
        key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"no partner API key: set ${API_KEY_ENV} or pass --api-key-file")
    return key


class UsageError(Exception):
    """Reported on stderr with exit status 2."""


# --------------------------------------------------------------------------------------------
# match


def add_match_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files to check")
    parser.add_argument(
        "--threshold",
        type=int,
        default=None,
        help=f"largest Hamming distance reported (default: the store's, normally 31; at most {MAX_THRESHOLD})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of text")


def run_match(args: argparse.Namespace, out: TextIO) -> int:
    from hashbank.platform.matcher import match_files
    from hashbank.platform.store import LocalStore

    origins: dict[str, str] | None = {} if args.store and LocalStore(args.store).exists() else None
    with open_index(args, origins) as index:
        if args.threshold is not None and not 0 <= args.threshold <= index.threshold:
            raise UsageError(f"--threshold must be between 0 and the store's {index.threshold}")
        results = match_files(index, args.paths, threshold=args.threshold, origins=origins)
    failed = False
    for result in results:
        failed = failed or result.error is not None
        if args.json:
            out.write(json.dumps(result.as_dict(), sort_keys=True) + "\n")
            continue
        if result.error:
            out.write(f"{result.path}: error: {result.error}\n")
        elif result.skipped:
            out.write(f"{result.path}: skipped: {result.skipped}\n")
        elif not result.matches:
            out.write(f"{result.path}: no match (PDQ quality {result.quality})\n")
        else:
            count = len(result.matches)
            out.write(f"{result.path}: {count} match{'es' if count > 1 else ''} (PDQ quality {result.quality})\n")
            for match in result.matches:
                origin = "" if match.origin is None else f"  origin {match.origin}"
                out.write(f"  {match.key}  distance {match.distance}  variant {match.variant}{origin}\n")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------
# sync


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    add_api_key_argument(parser)
    parser.add_argument("--base-url", help="the partner API root, e.g. https://host/api/v1 (first sync only)")
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="KID=BASE64",
        help="a signing key to trust at first contact (from GET /keys; check the kid with us out of band); "
        "repeat for several. Later rotations are followed when signed by a trusted key",
    )
    parser.add_argument("--page-size", type=int, default=1000, help="entries per page (1..1000)")
    parser.add_argument("--max-pages", type=int, default=None, help="stop after this many pages (resume later)")


def run_sync(args: argparse.Namespace, out: TextIO) -> int:
    from hashbank.platform.feed import FeedClient, FeedError, VerifyError, trusted_keys_from_list
    from hashbank.platform.store import LocalStore, StoreError

    if not args.store:
        raise UsageError(f"no store: pass --store DIR or set {STORE_ENV}")
    if not 1 <= args.page_size <= 1000:
        raise UsageError("--page-size must be 1..1000")
    store = LocalStore(args.store)
    try:
        if not store.exists():
            if not args.base_url or not args.trusted_key:
                raise UsageError("a new store needs --base-url and at least one --trusted-key")
            store = LocalStore.create(args.store, base_url=args.base_url,
                                      trusted_keys=trusted_keys_from_list(args.trusted_key))
        state = store.read_state()
        if args.base_url and args.base_url.rstrip("/") != state["base_url"]:
            raise UsageError(f"this store follows {state['base_url']}; use another --store for another feed")
        client = FeedClient(state["base_url"], api_key(args))

        def progress(kind: str, count: int, position: int) -> None:
            out.write(f"{kind}: {count} verified entries, now at position {position}\n")

        report = store.sync(client, backend=args.backend, page_size=args.page_size, max_pages=args.max_pages,
                            on_batch=progress)
    except (StoreError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    except VerifyError as exc:
        out.write(f"REFUSED: {exc}. Nothing of that document was applied; the store stays at its last "
                  "verified page. Do not skip it: tell the feed's operators.\n")
        return 1
    except FeedError as exc:
        out.write(f"FAILED: {exc}. The store stays at its last verified page; run sync again to resume.\n")
        return 3
    out.write(f"OK at position {report.position}: {report.records} PDQ records and {report.exact_records} exact "
              f"(md5, sha256); this run {report.added} added, {report.withdrawn} withdrawn, {report.skipped} other "
              "signal types skipped\n")
    return 0


# --------------------------------------------------------------------------------------------
# serve


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from hashbank.platform.serve import DEFAULT_MAX_BODY

    add_store_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, help="largest request body in bytes")


def run_serve(args: argparse.Namespace, out: TextIO) -> int:
    from hashbank.platform.serve import MatchService, make_server
    from hashbank.platform.store import LocalStore, StoreError

    if not args.store:
        raise UsageError(f"no store: pass --store DIR or set {STORE_ENV}")
    try:
        service = MatchService(LocalStore(args.store), backend=args.backend)
    except (OSError, StoreError, ValueError) as exc:
        raise UsageError(f"cannot open the store {args.store}: {exc}") from exc
    server = make_server(service, args.host, args.port, args.max_body)
    host, port = server.server_address[:2]
    view = service.live.view
    later = f" and {view.changes} later entries" if view.changes else ""
    out.write(f"serving {view.base_records} PDQ records{later} (position {view.position}) on http://{host}:{port}\n")
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.close()
    return 0


# --------------------------------------------------------------------------------------------
# receive


def add_receive_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    add_api_key_argument(parser)
    parser.add_argument("--listen", default="127.0.0.1:8443", metavar="HOST:PORT",
                        help="address to bind (default 127.0.0.1:8443)")
    parser.add_argument("--path", default="/", help="the path of the URL you registered (default /)")
    parser.add_argument("--tls-cert", help="certificate chain (PEM) for HTTPS: the feed pushes to https:// only")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--every", type=float, default=900.0,
                        help="also sync this often, in seconds, in case a push is lost (0: only on pushes)")
    parser.add_argument("--page-size", type=int, default=1000, help="entries per page (1..1000)")
    parser.add_argument("--exec", dest="command", metavar="COMMAND",
                        help="instead of syncing a store, run this fetch command on a verified push, e.g. "
                        "'threatexchange fetch' or HMA's 'flask --app OpenMediaMatch.app fetch' (split like a shell "
                        "would, never run by one)")
    parser.add_argument("--state", help="with --exec: the file where verified pushes are remembered")
    parser.add_argument("--base-url", help="with --exec: the partner API root, to follow signing key rotations")
    parser.add_argument("--trusted-key", action="append", default=[], metavar="KID=BASE64",
                        help="with --exec, for a new --state file: a signing key to trust (as for sync)")
    parser.add_argument("--exec-timeout", type=float, default=600.0, help="seconds the command may take")


def run_receive(args: argparse.Namespace, out: TextIO) -> int:
    import shlex
    import threading

    from hashbank.platform.feed import FeedClient, trusted_keys_from_list
    from hashbank.platform.receiver import (
        CommandTarget,
        PushReceiver,
        StoreTarget,
        Target,
        make_receiver_server,
        tls_context,
    )
    from hashbank.platform.store import LocalStore, StoreError

    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError("--listen must be HOST:PORT")
    host = host.strip("[]")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    if not args.tls_cert and host not in ("127.0.0.1", "::1", "localhost"):
        raise UsageError("without --tls-cert and --tls-key, listen on 127.0.0.1 only (behind your TLS proxy)")
    if not args.path.startswith("/"):
        raise UsageError("--path must start with /")
    try:
        target: Target
        if args.command:
            if not args.state or not args.base_url:
                raise UsageError("--exec needs --state FILE and --base-url")
            argv = shlex.split(args.command)
            if not argv:
                raise UsageError("--exec needs a command")
            target = CommandTarget(argv, Path(args.state), trusted_keys=trusted_keys_from_list(args.trusted_key),
                                   timeout=args.exec_timeout)
            keys_client = FeedClient(args.base_url, "")
        else:
            if not args.store:
                raise UsageError(f"no store: pass --store DIR or set {STORE_ENV} (or --exec for HMA)")
            store = LocalStore(args.store)
            if not store.exists():
                raise UsageError(f"{args.store} is not a store yet: run sync once first (it takes --base-url and "
                                 "--trusted-key)")
            if not 1 <= args.page_size <= 1000:
                raise UsageError("--page-size must be 1..1000")
            keys_client = FeedClient(store.read_state()["base_url"], api_key(args))
            target = StoreTarget(store, keys_client, backend=args.backend, page_size=args.page_size)
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (StoreError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from exc
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
            out.flush()

    receiver = PushReceiver(target, keys_client=keys_client, every=args.every, log=log)
    try:
        server = make_receiver_server(receiver, host, int(port), path=args.path, tls=tls)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.listen}: {exc}") from exc
    bound_host, bound_port = server.server_address[:2]
    log(f"receiving pushes on {'https' if tls else 'http'}://{bound_host}:{bound_port}{args.path}; "
        f"{target.description}")
    receiver.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver.close()
    return 0


# --------------------------------------------------------------------------------------------
# feedback

OUTCOMES = ("pending_review", "blocked", "not_blocked", "false_match")


def add_feedback_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    add_api_key_argument(parser)
    parser.add_argument("--base-url", help="the partner API root (default: the store's)")
    parser.add_argument("id", nargs="?", help="the matched fingerprint id (from match or serve)")
    parser.add_argument("outcome", nargs="?", choices=OUTCOMES)
    parser.add_argument("--idempotency-key", help="yours, unique per report (e.g. the upload's id); a retry with "
                        "the same key is recorded once")
    parser.add_argument("--file", help='a JSON file {"feedback": [{"id", "outcome", "idempotency_key"}, ...]}')


def run_feedback(args: argparse.Namespace, out: TextIO) -> int:
    from hashbank.platform.feed import FeedClient, FeedError
    from hashbank.platform.store import LocalStore, StoreError

    if args.file:
        try:
            items = json.loads(Path(args.file).read_text())["feedback"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"cannot read --file: {exc}") from exc
    elif args.id and args.outcome and args.idempotency_key:
        items = [{"id": args.id, "outcome": args.outcome, "idempotency_key": args.idempotency_key}]
    else:
        raise UsageError("give ID OUTCOME --idempotency-key KEY, or --file")
    base_url = args.base_url
    if not base_url:
        if not args.store:
            raise UsageError("pass --base-url, or --store to use the store's feed")
        try:
            base_url = LocalStore(args.store).read_state()["base_url"]
        except StoreError as exc:
            raise UsageError(str(exc)) from exc
    client = FeedClient(base_url, api_key(args))
    failed = False
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        try:
            answer = json.loads(client.post_json("/feedback", {"feedback": chunk}).body)
        except FeedError as exc:
            out.write(f"FAILED: {exc}\n")
            return 3
        for item, result in zip(chunk, answer["results"], strict=True):
            failed = failed or result["status"] not in ("recorded", "duplicate", "unknown_fingerprint")
            out.write(f"{item['id']} {item['outcome']} {item['idempotency_key']}: {result['status']}\n")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------

#: (name, one-line summary, add its arguments, run it and return the exit status)
Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, TextIO], int]]

COMMANDS: tuple[Command, ...] = (
    (
        "sync",
        "pull the signed feed into the local store, verifying every page (resumable)",
        add_sync_arguments,
        run_sync,
    ),
    (
        "match",
        "hash image files (all eight rotations and mirrors) and report stored hashes within the threshold",
        add_match_arguments,
        run_match,
    ),
    (
        "serve",
        "answer POST /match with PDQ hashes for an upload pipeline (hashes only, never media)",
        add_serve_arguments,
        run_serve,
    ),
    (
        "receive",
        "take the feed's pushes over HTTPS, verify each, and sync at once (or run HMA's fetch)",
        add_receive_arguments,
        run_receive,
    ),
    (
        "feedback",
        "send match outcomes to the feed (pending_review, blocked, not_blocked, false_match)",
        add_feedback_arguments,
        run_feedback,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashbank.platform",
        description="Match uploads against the survivors' hash feed, locally.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary, add_arguments, run in COMMANDS:
        command = sub.add_parser(name, help=summary, description=summary)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, out or sys.stdout)
    except UsageError as exc:
        sys.stderr.write(f"{parser.prog} {args.command}: {exc}\n")
        return 2
