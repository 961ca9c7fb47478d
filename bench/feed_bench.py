"""Feed benchmark: 1,000,000 entries in PostgreSQL, the site under gunicorn on loopback.

Measures, and prints:
- bulk load (entries built by the real publishing code: canonical lines and chain),
- a full sync from position 0 with every page verified by the pure-Python verifier,
- single-page latency (p50, p99) over random cursors,
- a snapshot of the whole feed built by the real job function,
- what recording delivery costs (issue 14): full syncs with FEED_DELIVERY_RECORDING on and off,
  in alternating rounds on two servers side by side, each round by a new partner key; once
  verified as a partner does, once fetching only (the server's own cost, unhidden by the
  verifier); and paired, each page from both servers back to back, which cancels what the rest
  of a shared machine does.

Goals (issue 5): >= 50,000 entries/s full sync, p99 page latency < 50 ms, snapshot < 60 s.
Goal (issue 14): full sync with delivery recorded within 5% of it without.

    FEED_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/feedbench \\
        .venv/bin/python bench/feed_bench.py [--entries 1000000] [--samples 300]

It uses (and empties the feed tables of) a database of its own, created if missing; it
refuses a database whose name does not end in "bench".
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300, help="single-page latency samples")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--timeout", type=int, default=900, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="reuse the entries already loaded")
    parser.add_argument("--delivery-rounds", type=int, default=3,
                        help="rounds of full syncs with delivery recording on and off (0: skip)")
    parser.add_argument("--paired-only", action="store_true",
                        help="only the paired on/off measurement of delivery recording (with --keep)")
    return parser.parse_args()


def setup_django(database_url: str, snapshot_dir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["FEED_SNAPSHOT_DIR"] = snapshot_dir
    os.environ.pop("REDIS_URL", None)  # in-process jobs: nothing is enqueued anywhere
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    if not name.endswith("bench"):
        raise SystemExit(f"refusing to use database {name!r}: the benchmark empties tables; use a *bench database")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def load(entries: int) -> float:
    """Bulk-load `entries` feed entries through the real line format and chain, with COPY."""
    from django.db import connection, transaction
    from django.utils import timezone

    from hashbank.feed.checkpoint import checkpoint_issue
    from hashbank.feed.head import head_lock
    from hashbank.feed.publish import entry_line
    from hashbank.feedformat import GENESIS, chain_step, format_time
    from hashbank.models import FeedEntry, FeedHead, FeedOutbox, Snapshot

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {FeedEntry._meta.db_table}, {FeedOutbox._meta.db_table}, "
                       f"{Snapshot._meta.db_table}")
    FeedHead.objects.all().delete()
    now = timezone.now()
    stamp = format_time(now)
    rng = random.Random(5)
    digest = GENESIS
    live: list[tuple[str, str]] = []
    tokens = [secrets.token_hex(12) for _ in range(max(1, entries // 20))]
    table = FeedEntry._meta.db_table
    connection.ensure_connection()
    raw = connection.connection  # the psycopg 3 connection under Django's wrapper
    with transaction.atomic(), raw.cursor().copy(
        f"COPY {table} (position, fingerprint_key, op, line, chain, published_at) FROM STDIN"
    ) as copy:
        for position in range(1, entries + 1):
            # One in ten entries withdraws an earlier fingerprint (the publisher's entry_line
            # writes it as a tombstone naming only the id): tombstones are part of a real feed.
            if live and rng.random() < 0.1:
                key, value = live.pop(rng.randrange(len(live)))
                op = "withdraw"
            else:
                key, value, op = secrets.token_hex(10), secrets.token_hex(32), "add"
                live.append((key, value))
            row = SimpleNamespace(op=op, fingerprint_key=key, signal_type="pdq", value=value, quality=90,
                                  case_token=rng.choice(tokens), origin="survivor")
            line = entry_line(position=position, row=row, time=stamp)
            digest = chain_step(digest, line.encode("ascii"))
            copy.write_row((position, key, op, line, digest, now))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    with transaction.atomic():
        head = head_lock()
        head.position, head.digest = entries, digest
        checkpoint_issue(head)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(database_url: str, workers: int, **extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
           "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING", **extra}
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not start")


class Client:
    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str) -> tuple[bytes, dict[str, str]]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        return body, {k.lower(): v for k, v in response.getheaders()}


def fetch_only(port: int, key: str, entries: int) -> tuple[float, int]:
    """Page from 0 to the end without verifying: what the server costs, nothing else."""
    client = Client(port, key)
    cursor = count = 0
    start = time.perf_counter()
    while cursor < entries:
        _, headers = client.get(f"/api/v1/feed?cursor={cursor}&limit=1000")
        next_cursor = int(headers["feed-next-cursor"])
        count += next_cursor - cursor
        if next_cursor == cursor:
            break
        cursor = next_cursor
    return time.perf_counter() - start, count


def delivery_cost(database_url: str, workers: int, keys: dict[str, str], entries: int, rounds: int) -> None:
    """Full syncs with delivery recording on and off, alternating, each by a new key (a key's
    first sync is the one that writes marks). Medians of the rounds, and their ratio."""
    from hashbank.models import DeliveryMark, Partner
    from hashbank.services import partner_create, partner_key_issue

    servers = {mode: start_gunicorn(database_url, workers, FEED_DELIVERY_RECORDING=flag)
               for mode, flag in (("on", "1"), ("off", "0"))}
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        for _, port in servers.values():
            page_latency(port, partner_key_issue(partner=partner_create(
                name=f"bench-warm-{secrets.token_hex(4)}")).secret, entries, 20)
        for round_number in range(rounds):
            order = ("on", "off") if round_number % 2 == 0 else ("off", "on")
            for mode in order:
                port = servers[mode][1]
                for kind in ("verified", "fetch only"):
                    partner = partner_create(name=f"bench-{mode}-{secrets.token_hex(4)}")
                    key = partner_key_issue(partner=partner).secret
                    if kind == "verified":
                        elapsed, count, _ = full_sync(port, key, keys, entries)
                    else:
                        elapsed, count = fetch_only(port, key, entries)
                    figures.setdefault((kind, mode), []).append(count / elapsed)
                    marks = DeliveryMark.objects.filter(partner=partner).count()
                    assert (marks > 0) == (mode == "on"), (mode, marks)
        paired_cost(servers_ports={mode: port for mode, (_, port) in servers.items()}, entries=entries,
                    rounds=rounds)
    finally:
        for process, _ in servers.values():
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    for kind in ("verified", "fetch only"):
        on, off = (statistics.median(figures[(kind, mode)]) for mode in ("on", "off"))
        print(f"delivery recording, full sync {kind} ({rounds} rounds each, medians): on {on:,.0f} entries/s, "
              f"off {off:,.0f} entries/s, on/off = {on / off:.3f} (goal >= 0.95)")
    bench_partners = Partner.objects.filter(name__startswith="bench-")
    print(f"delivery marks written: {DeliveryMark.objects.filter(partner__in=bench_partners).count():,} "
          f"for {bench_partners.count():,} bench partners (one per key per "
          f"{os.environ.get('FEED_DELIVERY_MARK_SECONDS', '60')} s of paging)")


def paired_cost(*, servers_ports: dict[str, int], entries: int, rounds: int) -> None:
    """The same page from both servers back to back, each server with a key of its own that
    pages on from where it stopped (the usual, cheapest recording path): whatever else the
    machine does lands on both alike. The order within each pair alternates. Sum of the
    requests' times per mode over full syncs, and the ratio."""
    from hashbank.services import partner_create, partner_key_issue

    totals = {"on": 0.0, "off": 0.0}
    pages = 0
    for round_number in range(rounds):
        clients = {mode: Client(port, partner_key_issue(partner=partner_create(
            name=f"bench-paired-{mode}-{secrets.token_hex(4)}")).secret) for mode, port in servers_ports.items()}
        cursor = 0
        while cursor < entries:
            order = ("on", "off") if (pages + round_number) % 2 == 0 else ("off", "on")
            next_cursors = set()
            for mode in order:
                start = time.perf_counter()
                _, headers = clients[mode].get(f"/api/v1/feed?cursor={cursor}&limit=1000")
                totals[mode] += time.perf_counter() - start
                next_cursors.add(int(headers["feed-next-cursor"]))
            assert len(next_cursors) == 1, next_cursors
            cursor = next_cursors.pop()
            pages += 1
    on, off = (pages * 1000 / totals[mode] for mode in ("on", "off"))
    print(f"delivery recording, paired pages ({rounds} full syncs, {pages:,} page pairs, each page from both "
          f"servers back to back): on {on:,.0f} entries/s, off {off:,.0f} entries/s, on/off = {on / off:.3f} "
          f"(goal >= 0.95)")


def full_sync(port: int, key: str, keys: dict[str, str], entries: int) -> tuple[float, int, int]:
    """Follow the feed from 0 to the end, verifying every page before using it. The next page
    is fetched while this one is verified (its cursor is in the Feed-Next-Cursor header)."""
    from hashbank.feedformat import FeedVerifier

    verifier = FeedVerifier(keys)
    client = Client(port, key)
    body, headers = client.get("/api/v1/checkpoint")
    verifier.accept_checkpoint(body, headers["feed-key-id"], headers["feed-signature"])
    fetched: list = []
    done = threading.Event()

    def fetch() -> None:
        cursor = 0
        fetcher = Client(port, key)
        while True:
            body, headers = fetcher.get(f"/api/v1/feed?cursor={cursor}&limit=1000")
            fetched.append((body, headers))
            next_cursor = int(headers["feed-next-cursor"])
            if next_cursor == cursor or next_cursor >= entries:
                done.set()
                return
            cursor = next_cursor

    start = time.perf_counter()
    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    count = pages = 0
    while True:
        while not fetched:
            if done.is_set() and not fetched:
                break
            time.sleep(0.0005)
        if not fetched:
            break
        body, headers = fetched.pop(0)
        page = verifier.accept_page(body, headers["feed-key-id"], headers["feed-signature"])
        count += len(page.entries)
        pages += 1
        if not page.more:
            break
    elapsed = time.perf_counter() - start
    thread.join(timeout=5)
    assert verifier.position == entries and verifier.digest == verifier.checkpoint.head_digest
    return elapsed, count, pages


def page_latency(port: int, key: str, entries: int, samples: int) -> list[float]:
    client = Client(port, key)
    rng = random.Random(7)
    timings = []
    for _ in range(samples):
        # On a page boundary: pages end on multiples of their limit, so this is a full page.
        cursor = 1000 * rng.randrange(0, max(1, entries // 1000 - 1))
        start = time.perf_counter()
        client.get(f"/api/v1/feed?cursor={cursor}&limit=1000")
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    args = parse_args()
    signal.alarm(args.timeout)  # a bounded run, whatever happens
    database_url = os.environ.get("FEED_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/feedbench")
    ensure_database(database_url)
    snapshot_dir = tempfile.mkdtemp(prefix="feedbench-snapshots-")
    setup_django(database_url, snapshot_dir)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from hashbank.feed.signing import keys_published
    from hashbank.models import FeedHead
    from hashbank.services import partner_create, partner_key_issue

    print(f"feed benchmark: {args.entries:,} entries, PostgreSQL {urlparse(database_url).path.lstrip('/')}, "
          f"gunicorn {args.workers} workers on 127.0.0.1, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = FeedHead.objects.filter(pk=1).first()
    if args.keep and head is not None and head.position == args.entries:
        print("load: reusing the entries already loaded")
    else:
        seconds = load(args.entries)
        print(f"load: {args.entries:,} entries in {seconds:.1f} s ({args.entries / seconds:,.0f} entries/s, COPY)")
    partner = partner_create(name=f"bench-{secrets.token_hex(4)}")
    key = partner_key_issue(partner=partner).secret
    keys = {k.kid: k.public_key for k in keys_published()}

    if args.paired_only:
        servers = {mode: start_gunicorn(database_url, args.workers, FEED_DELIVERY_RECORDING=flag)
                   for mode, flag in (("on", "1"), ("off", "0"))}
        try:
            paired_cost(servers_ports={mode: port for mode, (_, port) in servers.items()}, entries=args.entries,
                        rounds=max(1, args.delivery_rounds))
        finally:
            for process, _ in servers.values():
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return

    process, port = start_gunicorn(database_url, args.workers)
    try:
        page_latency(port, key, args.entries, 20)  # warm-up: connections, caches
        elapsed, count, pages = full_sync(port, key, keys, args.entries)
        print(f"full sync: {count:,} entries in {pages:,} verified pages, {elapsed:.1f} s = "
              f"{count / elapsed:,.0f} entries/s (goal >= 50,000)")
        timings = sorted(page_latency(port, key, args.entries, args.samples))
        p50 = statistics.median(timings) * 1000
        p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000
        print(f"page latency (limit=1000, {len(timings)} random cursors): p50 {p50:.1f} ms, p99 {p99:.1f} ms "
              f"(goal p99 < 50 ms)")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    if args.delivery_rounds:
        delivery_cost(database_url, args.workers, keys, args.entries, args.delivery_rounds)

    from hashbank import jobs

    start = time.perf_counter()
    position = jobs.feed_snapshot(True)
    seconds = time.perf_counter() - start
    from hashbank.models import Snapshot

    snapshot = Snapshot.objects.get(position=position)
    print(f"snapshot: {snapshot.count:,} active entries at position {position:,} in {seconds:.1f} s, "
          f"{snapshot.size / 1e6:.1f} MB gzipped (goal < 60 s)")


if __name__ == "__main__":
    main()
