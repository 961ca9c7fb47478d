"""The hosted lookup under load (issue 16): POST /api/v1/lookup at 200 requests a second of 10
hashes each, against 1,000,000 fingerprints, through the whole production path.

    python bench/lookup_bench.py                        # 1,000,000 PDQ + 100,000 MD5, 200 req/s, 30 s
    python bench/lookup_bench.py --size 100000 --seconds 10     # a quicker look

What runs (all on loopback, each its own process; bench/_stack.py):
- PostgreSQL and Redis of their own; the schema migrated; one partner with a lookup-only key.
- The lookup process (bench/_lookup_process.py: hashbank.platform.lookup_service's view and HTTP
  service) over a store built directly in the format `sync` writes: a saved index of random PDQ
  hashes under 20-hex ids, exact.json with the MD5s, origins.json (a twentieth "helpline").
  Its million fingerprints were never published, so there is no feed for it to follow: it looks
  at the store every second, as the follower does after a quiet sync.
- gunicorn with the shipped settings (deploy/gunicorn.conf.py), 2 workers x 2 threads as the
  partner unit, LOOKUP_URL set: authentication (a database read), the lookup's own Redis token
  bucket (set high enough never to refuse, so its round trip is in the figures), validation by
  the fingerprint library, the loopback call, and the count in Redis, for every request.
- The load generator in this process: open loop (request i is due at start + i/rate whatever
  happened to earlier ones; latency is measured from when it was due, so a stall shows in full
  rather than slowing the generator down), over up to --connections keep-alive connections.
  Each request: 10 hashes (8 PDQ, 2 MD5); one request in four holds a PDQ 0..31 bits from a
  stored one and an MD5 that is stored, and every answer is checked for them.

The machine is shared with other engineers' test runs: the load average is printed before and
after, and figures on a quiet machine will differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stack import (
    ROOT,
    Postgres,
    Redis,
    Stack,
    pick_port,
    start_gunicorn,
    tail,
    wait_for,
)

GOAL_P99_MS = 50.0


def log(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------------------------
# The store


def random_pdq(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random 256-bit hashes: about half their bits set, as real PDQ hashes have."""
    return rng.integers(0, 256, size=(count, 32), dtype=np.uint8)


def build_store(path: Path, size: int, exact: int, seed: int) -> tuple[np.ndarray, list[str], list[str]]:
    from hashbank.platform.feed import FeedState
    from hashbank.platform.index import PDQIndex
    from hashbank.platform.store import LocalStore

    rng = np.random.default_rng(seed)
    codes = random_pdq(rng, size)
    ids = [f"{i:020x}" for i in range(size)]
    md5s = [row.tobytes().hex() for row in rng.integers(0, 256, size=(exact, 16), dtype=np.uint8)]
    exact_ids = [f"e{i:019x}" for i in range(exact)]
    store = LocalStore.create(path, base_url="https://shield.example.org/api/v1",
                              trusted_keys={"ed25519:bench": "AAAA"})
    state = store.read_state()
    index = PDQIndex.build(list(zip((c.tobytes().hex() for c in codes), ids, strict=True)), backend="numpy")
    origins = {key: "helpline" for key in ids[::20]}
    feed = FeedState.from_dict({**state["feed"], "position": size + exact})
    store._save_base(index, state, feed, origins, {key: ("md5", value) for key, value in zip(exact_ids, md5s,
                                                                                            strict=True)})
    index.close()
    return codes, ids, md5s


# --------------------------------------------------------------------------------------------
# Requests


def near(code: np.ndarray, bits: int, rng: random.Random) -> str:
    value = bytearray(code.tobytes())
    for bit in rng.sample(range(256), bits):
        value[bit // 8] ^= 1 << (bit % 8)
    return bytes(value).hex()


def bodies(codes: np.ndarray, ids: list[str], md5s: list[str], count: int, seed: int) -> list[tuple[bytes, dict]]:
    """(request body, what it must find: {hash index: id or None})."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        hashes = [{"signal_type": "pdq", "value": random_pdq(nprng, 1)[0].tobytes().hex(), "quality": 90}
                  for _ in range(8)]
        hashes += [{"signal_type": "md5", "value": f"{rng.getrandbits(128):032x}"} for _ in range(2)]
        expect: dict[int, str | None] = {}
        if n % 4 == 0:
            row = rng.randrange(len(ids))
            hashes[0]["value"] = near(codes[row], rng.randint(0, 31), rng)
            expect[0] = ids[row]
            hashes[8]["value"] = md5s[rng.randrange(len(md5s))]
            expect[8] = None  # matched by an exact id
        out.append((json.dumps({"hashes": hashes}).encode("ascii"), expect))
    return out


# --------------------------------------------------------------------------------------------
# The load generator


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, body: bytes, key: str) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode("ascii")
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)


async def run_load(port: int, key: str, requests: list[tuple[bytes, dict]], rate: float, seconds: float,
                   warmup: float, connections: int) -> dict:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    errors: dict[str, int] = {}
    wrong = 0
    checked = 0
    done = 0
    limit = asyncio.Semaphore(connections)

    async def connection() -> Connection:
        nonlocal opened
        if not idle.empty():
            return idle.get_nowait()
        opened += 1
        return Connection(*await asyncio.open_connection("127.0.0.1", port))

    async def one(n: int, due: float, measured: bool) -> None:
        nonlocal wrong, checked, done
        body, expect = requests[n % len(requests)]
        async with limit:
            conn = await connection()
            try:
                status, payload = await conn.post("/api/v1/lookup", body, key)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                conn.writer.close()
                return
            idle.put_nowait(conn)
        finished = time.monotonic()
        if not measured:
            return
        done += 1
        latencies.append((finished - due) * 1000)
        if status != 200:
            errors[str(status)] = errors.get(str(status), 0) + 1
            return
        results = json.loads(payload)["results"]
        for index, expected in expect.items():
            checked += 1
            ids = [m["id"] for m in results[index]["matches"]]
            if (expected is not None and expected not in ids) or (expected is None and not ids):
                wrong += 1
        for index, result in enumerate(results):
            if index not in expect and result["matches"]:
                wrong += 1

    start = time.monotonic() + 0.5
    tasks = []
    total = int((warmup + seconds) * rate)
    for n in range(total):
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, due, n >= warmup * rate)))
    await asyncio.gather(*tasks)
    measured_start = start + warmup
    elapsed = time.monotonic() - measured_start
    while not idle.empty():
        idle.get_nowait().writer.close()
    return {"latencies": latencies, "errors": errors, "wrong": wrong, "checked": checked, "done": done,
            "elapsed": elapsed, "connections": opened}


def _processes() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, process group, CPU seconds so far) of every process."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / tick)
    return found


def cpu_by_part(parts: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each part: a process and every descendant of it (this
    process alone: the others are its children), and by everything else on the machine."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    out, ours = {}, set()
    for name, root in parts.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in table and pid not in ours:
                ours.add(pid)
                total += table[pid][2]
                if pid != os.getpid():
                    todo.extend(children.get(pid, []))
        out[name] = total
    return out


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process, the kernel's work too)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="PDQ fingerprints in the store")
    parser.add_argument("--exact", type=int, default=100_000, help="MD5 fingerprints in the store")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=32, help="most connections at once")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (the partner unit has 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    args = parser.parse_args()

    log(f"hosted lookup benchmark: {args.size:,} PDQ + {args.exact:,} MD5 fingerprints, {args.rate:g} requests/s "
        f"of 10 hashes for {args.seconds:g} s (after {args.warmup:g} s of warm-up), {os.cpu_count()} CPUs")
    log("NOTE: this machine is shared with other engineers' test runs; figures on a quiet machine will differ.")
    log(f"load average before: {load_average()}")
    stack = Stack(prefix="imageshield-lookup-bench-")
    try:
        pg = Postgres(stack, pick_port(55442))
        pg.start()
        db_url = pg.create_database("imageshield")
        redis = Redis(stack, pick_port(56389))
        redis.start()
        secret = "bench-" + os.urandom(16).hex()
        env = {**{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
               "DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": db_url, "REDIS_URL": redis.url(0),
               "SECRET_KEY": secret, "FEED_KEY_SECRET": secret + "-feed", "ALLOWED_HOSTS": "127.0.0.1,localhost",
               "DEBUG": "0", "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "WARNING",
               "STATIC_ROOT": str(stack.dir / "static"), "FEED_SNAPSHOT_DIR": str(stack.dir / "snapshots"),
               "LOOKUP_RATE_PER_SECOND": "10000", "LOOKUP_RATE_BURST": "10000", "PYTHONUNBUFFERED": "1",
               # As the partner unit runs (deploy/systemd/imageshield-partner.service).
               "PORTAL_ROLE": "partner"}
        for name in ("DATABASE_URL", "SECRET_KEY", "FEED_KEY_SECRET", "DJANGO_SETTINGS_MODULE", "STATIC_ROOT"):
            os.environ[name] = env[name]
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.db import connections

        from hashbank.lookup.services import partner_lookup_key_issue
        from hashbank.services import partner_create

        key = partner_lookup_key_issue(partner=partner_create(name="bench forum")).secret
        connections.close_all()

        started = time.monotonic()
        codes, ids, md5s = build_store(stack.dir / "lookup-store", args.size, args.exact, seed=16)
        log(f"store built in {time.monotonic() - started:.1f} s")
        lookup_port = pick_port(58766)
        lookup = stack.spawn([sys.executable, str(ROOT / "bench" / "_lookup_process.py"), "--store",
                     str(stack.dir / "lookup-store"), "--port", str(lookup_port)], log="lookup.log", env=env)
        if not wait_for(lambda: "lookup listening" in (stack.logs / "lookup.log").read_text(), 120, 0.2):
            raise RuntimeError("the lookup process did not start:\n" + tail(stack.logs / "lookup.log"))
        log(tail(stack.logs / "lookup.log", 1))
        web_port = pick_port(58101)
        web = start_gunicorn(stack, web_port, {**env, "LOOKUP_URL": f"http://127.0.0.1:{lookup_port}"}, args.workers,
                       args.threads, log="gunicorn.log")
        requests = bodies(codes, ids, md5s, 4000, seed=17)
        del codes
        log(f"gunicorn {args.workers} workers x {args.threads} threads on :{web_port}; load average now "
            f"{load_average()}")
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
        parts = {"gunicorn (Django)": web.pid, "lookup process": lookup.pid, "PostgreSQL": postmaster,
                 "Redis": redis.proc.pid, "load generator (this process)": os.getpid()}
        cpu_before, busy_before, wall_before = cpu_by_part(parts), machine_busy(), time.monotonic()
        result = asyncio.run(run_load(web_port, key, requests, args.rate, args.seconds, args.warmup,
                                      args.connections))
        cpu_after, busy, wall = cpu_by_part(parts), machine_busy() - busy_before, time.monotonic() - wall_before
    finally:
        after = load_average()
        stack.close()

    latencies = result["latencies"]
    achieved = result["done"] / result["elapsed"] if result["elapsed"] > 0 else 0
    errors = sum(result["errors"].values())
    p99 = percentile(latencies, 0.99)
    log(f"load average after: {after}")
    log("")
    log(f"requests measured: {result['done']:,} in {result['elapsed']:.1f} s = {achieved:.1f} requests/s "
        f"(asked {args.rate:g}), {result['connections']} connections opened")
    log(f"latency ms (from when each request was due): p50 {percentile(latencies, 0.5):.1f}  "
        f"p90 {percentile(latencies, 0.9):.1f}  p99 {p99:.1f}  max {max(latencies, default=float('nan')):.1f}")
    log(f"errors: {errors} {result['errors'] or ''}".rstrip())
    log("CPU used during the run (seconds of CPU per second of the run, 2.00 = both cores):")
    ours = 0.0
    for name in cpu_after:
        used = (cpu_after[name] - cpu_before[name]) / wall
        ours += used
        log(f"  {name:32s} {used:.2f}")
    log(f"  {'the rest of the machine':32s} {max(0.0, busy / wall - ours):.2f}  (other engineers' runs, the kernel)")
    log(f"answers checked: {result['checked']:,} planted matches, {result['wrong']} wrong or missing")
    ok = p99 < GOAL_P99_MS and errors == 0 and result["wrong"] == 0 and achieved >= 0.97 * args.rate
    log(f"goal: p99 < {GOAL_P99_MS:g} ms at {args.rate:g} requests/s, no errors, every planted match found: "
        f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
