"""The feed page cache (hashbank.feed.pagecache) against none: many partners polling the same
recent pages of a large feed, through the partner pool as it runs in production.

    FEED_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/feedbench .venv/bin/python bench/page_cache_bench.py
    ... --entries 1000000 --keep          # reuse what bench/feed_bench.py loaded

What runs: the feed's entries bulk-loaded as bench/feed_bench.py does (the real line format
and chain); a Redis of its own; two gunicorn partner pools (PORTAL_ROLE=partner, 2 workers x 2
threads, the shipped gunicorn settings), one with the page cache off (FEED_PAGE_CACHE_SECONDS=0)
and one with it on. Then, for each pool in turn, --partners partners (a key each) read the
--pages full pages of 1,000 entries before the head, each partner once and in order, their
reads interleaved: what 500 partners polling a busy feed do. Every fetch is recorded for its partner either way (the
delivery and evidence records). Printed: latency per page (p50, p99), the CPU that gunicorn
and PostgreSQL spent per page, and the ratios. The machine is shared: the load average is
printed too.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._stack import Redis, Stack, pick_port, start_gunicorn  # noqa: E402
from bench.feed_bench import ensure_database, load, setup_django  # noqa: E402
from bench.lookup_bench import cpu_by_part  # noqa: E402


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (the bench's backends are the
    busy ones; the server is shared, so this is an upper bound)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def poll(port: int, keys: list[str], cursors: list[int], seed: int) -> list[float]:
    """Each key reads the pages in order, as a partner catching up does; the partners take
    turns in a random order page by page, so their reads interleave."""
    connections = {key: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for key in keys}
    rng = random.Random(seed)
    work = []
    for cursor in sorted(cursors):
        turn = list(keys)
        rng.shuffle(turn)
        work.extend((key, cursor) for key in turn)
    timings = []
    for key, cursor in work:
        conn = connections[key]
        start = time.perf_counter()
        conn.request("GET", f"/api/v1/feed?cursor={cursor}&limit=1000", headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = response.read()
        timings.append(time.perf_counter() - start)
        if response.status != 200 or response.getheader("Feed-Next-Cursor") != str(cursor + 1000):
            raise RuntimeError(f"page {cursor}: {response.status} {body[:200]!r}")
    for conn in connections.values():
        conn.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=50, help="full pages before the head that partners read")
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse the entries already loaded")
    args = parser.parse_args()

    database_url = os.environ.get("FEED_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/feedbench")
    ensure_database(database_url)
    stack = Stack(prefix="imageshield-pagecache-bench-")
    setup_django(database_url, str(stack.dir / "snapshots"))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connections

    from hashbank.models import FeedHead
    from hashbank.services import partner_create, partner_key_issue

    print(f"page cache benchmark: {args.entries:,} entries, {args.partners} partners x {args.pages} full pages "
          f"of 1,000 before the head, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    head = FeedHead.objects.filter(pk=1).first()
    if args.keep and head is not None and head.position >= args.entries:
        entries = head.position
        print(f"load: reusing the {entries:,} entries already loaded")
    else:
        seconds = load(args.entries)
        entries = args.entries
        print(f"load: {entries:,} entries in {seconds:.1f} s")
    last_full = (entries // 1000) * 1000
    cursors = [last_full - 1000 * (n + 1) for n in range(args.pages)]
    pools = {}
    try:
        redis = Redis(stack, pick_port(56391))
        redis.start()
        base = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.url(0), "DEBUG": "0",
                "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0", "ALLOWED_HOSTS": "127.0.0.1",
                "LOG_LEVEL": "WARNING", "PORTAL_ROLE": "partner", "PARTNER_RATE_PER_SECOND": "0",
                "FEED_PAGE_CACHE_ENTRIES": str(1000 * (args.pages + 2)), "FEED_SNAPSHOT_DIR": str(stack.dir)}
        results = {}
        for name, seconds in (("cache off", "0"), ("cache on", "600")):
            port = pick_port(58200 + len(pools))
            pools[name] = start_gunicorn(stack, port, {**base, "FEED_PAGE_CACHE_SECONDS": seconds}, 2, 2,
                                         log=f"gunicorn-{seconds}.log")
            keys = [partner_key_issue(partner=partner_create(name=f"bench-{secrets.token_hex(4)}")).secret
                    for _ in range(args.partners)]
            connections.close_all()
            poll(port, keys[:1], cursors[:2], seed=1)  # warm-up: connections, the key caches
            cpu_before, pg_before, started = cpu_by_part({"g": pools[name].pid}), postgres_cpu(), time.monotonic()
            timings = sorted(poll(port, keys, cursors, seed=2))
            wall = time.monotonic() - started
            fetches = len(timings)
            gunicorn = (cpu_by_part({"g": pools[name].pid})["g"] - cpu_before["g"]) / fetches * 1000
            pg = (postgres_cpu() - pg_before) / fetches * 1000
            p50, p99 = statistics.median(timings) * 1000, timings[min(fetches - 1, int(fetches * 0.99))] * 1000
            results[name] = (p50, p99, gunicorn, pg)
            print(f"{name:9s}: {fetches:,} page fetches in {wall:.1f} s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
                  f"CPU a page: gunicorn {gunicorn:.2f} ms, PostgreSQL {pg:.2f} ms", flush=True)
    finally:
        stack.close()
    off, on = results["cache off"], results["cache on"]
    print(f"cache on against off: p50 x{off[0] / on[0]:.1f} faster, CPU a page (gunicorn + PostgreSQL) "
          f"{off[2] + off[3]:.2f} -> {on[2] + on[3]:.2f} ms (x{(off[2] + off[3]) / (on[2] + on[3]):.1f})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
