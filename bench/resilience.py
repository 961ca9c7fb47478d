"""Resilience benchmark (issue 11): survivors keep their case numbers and partners a whole feed
through worker kills, a Redis crash and a PostgreSQL restart, and one partner key cannot
starve survivors.


It starts its own loopback stack (a PostgreSQL cluster, redis-server, gunicorn and a worker
under a stand-in for systemd's Restart=always), then:

1. quiet: survivors submit (each from its own 127.0.0.x address); their case-creation
   latency is timed;
2. flood: the same while one partner key is read by many concurrent clients (200 vs 429);
3. faults, under a steady load of survivors and a verifying partner reader: SIGKILL of the
   worker mid-publish, SIGKILL mid-snapshot, Redis SIGKILL and restart, PostgreSQL restart.
   Recovery = from the kill (or the service's return) until /readyz is 200, a survivor's
   submission succeeds and everything accepted so far is in the feed;
4. settle, then audit the database directly and the whole feed through the API with the
   verifier: lost, duplicated, orphaned (committed with no receipt), gaps.

    .venv/bin/python bench/resilience.py [--quick] [--json] [--keep-logs DIR]

Exit status 1 when a goal is missed. Goals: 0 lost, 0 duplicated, 0 orphaned, 0 gaps,
each recovery under 5 s with no manual step, survivors' p50 under flood <= 1.5x quiet.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _stack import (  # noqa: E402
    Postgres,
    Redis,
    Stack,
    Supervisor,
    http_get,
    pick_port,
    start_gunicorn,
    systemd_seconds,
    tail,
    wait_for,
)

RECOVERY_GOAL = 5.0
FLOOD_RATIO_GOAL = 1.5
SIZES = {
    # quiet/flood seconds, survivor threads, flood readers, fault-phase survivor pause,
    # seconds a service stays down, settle timeout
    "quick": {"quiet": 12, "flood": 12, "survivors": 3, "readers": 16, "pause": 0.2, "down": 2.0, "settle": 40},
    "full": {"quiet": 40, "flood": 40, "survivors": 3, "readers": 24, "pause": 0.05, "down": 4.0, "settle": 60},
}
SIGNALS = [("pdq", 64), ("phash", 16), ("dhash", 16), ("md5", 32), ("sha256", 64)]


_SOURCES = itertools.cycle([f"127.0.0.{n}" for n in range(2, 251)])
_SOURCES_LOCK = threading.Lock()


def next_source() -> str:
    """Survivors' addresses in turn over 127.0.0.2-250, so per-address limits see a crowd of
    people rather than one script (a loopback /8 needs no set-up on Linux)."""
    with _SOURCES_LOCK:
        return next(_SOURCES)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Survivors ------------------------------------------------------------------------------------


def new_files(rng: random.Random) -> list[list[dict[str, Any]]]:
    """One or two photos' fingerprints, random (so every value names one submission) and valid."""
    from hashbank.fingerprints import validate

    files = []
    for _ in range(rng.choice((1, 1, 2))):
        prints = []
        for name, hex_chars in SIGNALS:
            value = secrets.token_hex(hex_chars // 2)
            quality = 90 if name == "pdq" else None
            validate(name, value, quality=quality)
            item: dict[str, Any] = {"signal_type": name, "value": value}
            if quality is not None:
                item["quality"] = quality
            prints.append(item)
        files.append(prints)
    return files


@dataclass
class Submission:
    phase: str
    source: str
    values: list[str]
    tries: list[str] = field(default_factory=list)  # "201", "500", "conn:ConnectionRefusedError", ...
    reference: str | None = None
    pin: str | None = None
    latency: float | None = None  # seconds of the case-creating POST that answered 201
    refused: str | None = None  # "429 rate_limited", ...
    started: float = 0.0


class Ledger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Submission] = []

    def add(self, item: Submission) -> None:
        with self.lock:
            self.items.append(item)

    def snapshot(self) -> list[Submission]:
        with self.lock:
            return list(self.items)


class Survivor:
    """One person in one browser session: eligibility and consent, then the case POST."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source = port, source
        self.cookies: dict[str, str] = {}

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
                 ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20, source_address=(self.source, 0))
        try:
            all_headers = dict(headers or {})
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    jar = SimpleCookie()
                    jar.load(value)
                    for key, morsel in jar.items():
                        self.cookies[key] = morsel.value
            return response.status, data
        finally:
            conn.close()

    def consent(self) -> int:
        status, _ = self._request("GET", "/start/")
        if status != 200:
            return status
        form = urlencode({"age": "adult", "pictured": "on", "consent": "on",
                          "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
        status, _ = self._request("POST", "/start/", form.encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        return 200 if status == 302 else status

    def create(self, files: list[list[dict[str, Any]]]) -> tuple[int, dict[str, Any], float]:
        body = json.dumps({"count": len(files), "files": [{"fingerprints": f} for f in files]}).encode()
        start = time.perf_counter()
        status, data = self._request("POST", "/api/survivor/cases", body,
                                     {"Content-Type": "application/json",
                                      "X-CSRFToken": self.cookies.get("csrftoken", "")})
        elapsed = time.perf_counter() - start
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = {}
        return status, parsed if isinstance(parsed, dict) else {}, elapsed


def refusal_reason(status: int, body: dict[str, Any]) -> str:
    error = body.get("error")
    code = body.get("code") or (error.get("code") if isinstance(error, dict) else None)
    return f"{status} {code or 'refused'}"


def submit(port: int, source: str, rng: random.Random, ledger: Ledger, phase: str, *, tries: int = 3,
           retry_pause: float = 1.0) -> Submission:
    """A survivor's submission. On a server error or a dropped connection they try again, as
    a person would (the same session, the same fingerprints); a 4xx they accept as an answer."""
    files = new_files(rng)
    item = Submission(phase=phase, source=source, values=[f["value"] for fs in files for f in fs],
                      started=time.monotonic())
    ledger.add(item)
    survivor = Survivor(port, source)
    consented = False
    for attempt in range(tries):
        if attempt:
            time.sleep(retry_pause)
        try:
            if not consented:
                status = survivor.consent()
                if status != 200:
                    item.tries.append(f"consent {status}")
                    if status < 500:
                        item.refused = f"consent {status}"
                        return item
                    continue
                consented = True
            status, body, elapsed = survivor.create(files)
        except OSError as error:
            item.tries.append(f"conn {type(error).__name__}")
            continue
        item.tries.append(str(status))
        if status == 201:
            item.reference, item.pin, item.latency = body.get("reference"), body.get("pin"), elapsed
            return item
        if status < 500:
            item.refused = refusal_reason(status, body)
            return item
    return item


class SurvivorLoad:
    """`threads` survivors submitting one after another until stopped."""

    def __init__(self, port: int, ledger: Ledger, phase: str, threads: int, pause: float, seed: int) -> None:
        self.port, self.ledger, self.phase, self.pause = port, ledger, phase, pause
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(seed + i,), daemon=True) for i in range(threads)]

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            submit(self.port, next_source(), rng, self.ledger, self.phase)
            self.stop.wait(self.pause)

    def __enter__(self) -> SurvivorLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


# --- Partners -------------------------------------------------------------------------------------


class Flood:
    """Many concurrent readers on one partner key (bench/_flood.py, in a process of its own),
    looping on the feed and the checkpoint."""

    def __init__(self, port: int, key: str, readers: int, nice: int = 0) -> None:
        self.argv = [sys.executable, str(ROOT / "bench" / "_flood.py"), str(port), key, str(readers)]
        if nice:
            # The flooder is another machine's load: on this one its client CPU is only lent.
            self.argv = ["nice", "-n", str(nice), *self.argv]
        self.statuses: Counter[str] = Counter()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Flood:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "started"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        out, _ = self.proc.communicate(timeout=60)  # closes its stdin: it stops and reports
        self.statuses = Counter(json.loads(out.strip().splitlines()[-1]))


class FeedReader:
    """A partner following the feed with the verifier, as a platform would; every page is
    verified against the signed checkpoint. Counts verification failures (gaps, forks)."""

    def __init__(self, port: int, key: str, trusted: dict[str, str]) -> None:
        from hashbank.feedformat import FeedVerifier

        self.port, self.headers = port, {"Authorization": f"Bearer {key}"}
        self.verifier = FeedVerifier(trusted)
        self.entries: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.errors: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _get(self, path: str) -> tuple[bytes, dict[str, str]] | None:
        try:
            status, body, headers = http_get(self.port, path, timeout=20, headers=self.headers)
        except OSError as error:
            self.errors[f"conn {type(error).__name__}"] += 1
            return None
        if status != 200:
            self.errors[str(status)] += 1
            if status == 429:
                time.sleep(min(5.0, float(headers.get("retry-after", "1") or 1)))
            return None
        return body, headers

    def sync_once(self) -> bool:
        """Checkpoint, then pages up to its head. True when the head was reached."""
        from hashbank.feedformat import VerifyError

        got = self._get("/api/v1/checkpoint")
        if got is None:
            return False
        try:
            checkpoint = self.verifier.accept_checkpoint(got[0], got[1]["feed-key-id"], got[1]["feed-signature"])
        except VerifyError as error:
            self.failures.append(f"checkpoint: {error}")
            return False
        while self.verifier.position < checkpoint.head_position:
            got = self._get(f"/api/v1/feed?cursor={self.verifier.position}&limit=1000")
            if got is None:
                return False
            try:
                page = self.verifier.accept_page(got[0], got[1]["feed-key-id"], got[1]["feed-signature"])
            except VerifyError as error:
                self.failures.append(f"page at {self.verifier.position}: {error}")
                return False
            self.entries.extend(page.entries)
            if not page.entries:
                break
        return self.verifier.position >= checkpoint.head_position

    def _run(self) -> None:
        while not self.stop.is_set():
            self.sync_once()
            self.stop.wait(0.5)

    def __enter__(self) -> FeedReader:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


# --- The database, read directly ---------------------------------------------------------------------


class Db:
    """psycopg on the bench's database; reconnects after PostgreSQL restarts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = None

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        import psycopg

        for attempt in range(2):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                return self.conn.execute(sql, params or []).fetchall()
            except psycopg.OperationalError:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def unpublished(self, values: list[str]) -> int:
        """How many of these accepted values have no 'add' entry in the feed yet."""
        rows = self.query(
            "SELECT count(*) FROM unnest(%s::text[]) AS v(value) LEFT JOIN ("
            " SELECT DISTINCT f.value FROM hashbank_fingerprint f JOIN hashbank_feedentry e"
            " ON e.fingerprint_key = f.public_id AND e.op = 'add') p USING (value) WHERE p.value IS NULL",
            [values])
        return rows[0][0]


# --- Faults and recovery ---------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    detail: str = ""
    recovery: float | None = None  # seconds; None = not recovered within the bound
    readyz: float | None = None
    submission: float | None = None
    published: float | None = None
    landed: bool = True  # the kill hit inside the step it aimed at
    downtime: float = 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.size = SIZES["quick" if args.quick else "full"]
        self.ledger = Ledger()
        self.rng = random.Random(11)
        self.notes: list[str] = []
        self.faults: list[Fault] = []

    # -- the stack --
    def start(self) -> None:
        self.stack = stack = Stack(prefix="imageshield-resilience-")
        self.faultdir = stack.dir / "faults"
        self.faultdir.mkdir()
        self.pg = Postgres(stack, pick_port(55432))
        self.pg.start()
        self.db_url = self.pg.create_database("imageshield")
        self.db = Db(self.db_url)
        self.redis = Redis(stack, pick_port(56379))
        self.redis.start()
        self.web_port = pick_port(58000)
        snapshots = stack.dir / "snapshots"
        snapshots.mkdir()
        self.snapshot_dir = snapshots
        secret = secrets.token_urlsafe(40)
        ours = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        inherited = {k: v for k, v in os.environ.items() if k not in ours}
        self.env = {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": self.db_url, "REDIS_URL": self.redis.url(0), "SECRET_KEY": secret,
            "FEED_KEY_SECRET": secret + "-feed", "ALLOWED_HOSTS": "127.0.0.1,localhost", "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0", "BEHIND_TLS_PROXY": "0",
            "FEED_SNAPSHOT_DIR": str(snapshots), "LOG_LEVEL": "WARNING",
            # DEBUG=0 serves hashed static names from a manifest: collected once, below.
            "STATIC_ROOT": str(stack.dir / "static"),
            # Past the total a case is held for review, not refused: the bench's own volume
            # is not a flood, so the total is set out of reach (per-address limits stay).
            "SURVIVOR_CASES_TOTAL_PER_HOUR": os.environ.get("SURVIVOR_CASES_TOTAL_PER_HOUR", "1000000"),
            "BENCH_FAULT_DIR": str(self.faultdir), "BENCH_FAULT_SLEEP": "0.4",
            "PYTHONUNBUFFERED": "1",
        }
        self._django()
        workers = self.args.web_workers
        self.web = start_gunicorn(stack, self.web_port, self.env, workers, self.args.web_threads)
        # The partner API's own pool, as deployed (nginx sends /api/v1/ to it; its unit runs
        # at Nice=10): partners' load, a flood included, cannot take the survivors' workers or
        # their CPU. --partner-workers 0 serves partners from the survivors' pool instead.
        self.partner_port = self.web_port
        if self.args.partner_workers:
            self.partner_port = pick_port(self.web_port + 1)
            self.partner_web = start_gunicorn(stack, self.partner_port, self.env, self.args.partner_workers,
                                              self.args.web_threads, nice=10, log="gunicorn-partner.log")
        self._worker()
        self._sweep()
        log(f"stack up in {stack.dir}: PostgreSQL :{self.pg.port}, Redis :{self.redis.port}, "
            f"gunicorn :{self.web_port} ({workers} workers x {self.args.web_threads} threads), "
            f"worker: {' '.join(self.worker_cmd)}")

    def _django(self) -> None:
        """Migrate and create partners from this process (Django on the bench's database)."""
        for key in ("DATABASE_URL", "SECRET_KEY", "FEED_KEY_SECRET", "FEED_SNAPSHOT_DIR", "DJANGO_SETTINGS_MODULE",
                    "STATIC_ROOT"):
            os.environ[key] = self.env[key]
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from hashbank.feed.signing import keys_published
        from hashbank.services import partner_create, partner_key_issue

        self.reader_key = partner_key_issue(partner=partner_create(name="bench-reader")).secret
        self.flood_key = partner_key_issue(partner=partner_create(name="bench-flooder")).secret
        self.trusted = {k.kid: k.public_key for k in keys_published()}
        from django.db import connections

        connections.close_all()

    def _worker(self) -> None:
        commands = ROOT / "hashbank" / "management" / "commands"
        portal_commands = ROOT / "portal" / "management" / "commands"
        resilient = (commands / "worker.py").exists() or (portal_commands / "worker.py").exists()
        self.worker_cmd = ["worker"] if resilient else ["rqworker", "default"]
        self.resilient_worker = resilient
        unit = ROOT / "deploy" / "systemd" / "imageshield-worker@.service"
        self.restart_sec, from_unit = systemd_seconds(unit, "RestartSec", 1.0)
        self.notes.append(f"worker: `manage.py {' '.join(self.worker_cmd)}`"
                          + ("" if resilient else " (fallback: `manage.py worker` not present)")
                          + f", restarted {self.restart_sec:g} s after any exit like systemd Restart=always"
                          + (f" (RestartSec from {unit.relative_to(ROOT)})" if from_unit else
                             " (no unit file: RestartSec 1 s assumed)"))
        env = {**self.env, "LOG_LEVEL": "INFO"}
        self.supervisor = Supervisor(self.stack, [sys.executable, str(ROOT / "bench" / "_slow_worker.py"),
                                                  *self.worker_cmd], env, self.restart_sec, "worker.log")
        self.supervisor.start()

    def _sweep(self) -> None:
        """Run `manage.py feed_sweep` on its timer's interval, as systemd would, if both exist."""
        timer = ROOT / "deploy" / "systemd" / "imageshield-sweep.timer"
        commands = [ROOT / app / "management" / "commands" / "feed_sweep.py" for app in ("hashbank", "portal")]
        self.sweep_runs = 0
        if not (timer.exists() and any(c.exists() for c in commands)):
            self.notes.append("sweep: no feed_sweep timer/command; none run")
            return
        interval, _ = systemd_seconds(timer, "OnUnitActiveSec", 60.0)
        self.notes.append(f"sweep: `manage.py feed_sweep` every {interval:g} s (from {timer.relative_to(ROOT)})")
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                proc = self.stack.spawn([sys.executable, str(ROOT / "manage.py"), "feed_sweep"], log="sweep.log",
                                        env=self.env)
                try:
                    proc.wait(timeout=max(30.0, interval))
                except Exception:
                    pass
                self.sweep_runs += 1

        threading.Thread(target=loop, daemon=True).start()
        self.stack.on_close(stop.set)

    def readyz(self) -> int | None:
        try:
            return http_get(self.web_port, "/readyz", timeout=3)[0]
        except OSError:
            return None

    # -- phases --
    def latency_phase(self, name: str, seconds: float, flood: bool) -> tuple[list[float], Counter[str]]:
        before = len(self.ledger.snapshot())
        statuses: Counter[str] = Counter()
        if flood:
            with Flood(self.partner_port, self.flood_key, self.size["readers"], self.args.flood_nice) as f:
                time.sleep(1.0)  # the flood first, then survivors arrive into it
                with SurvivorLoad(self.web_port, self.ledger, name, self.size["survivors"], 0.0, seed=8):
                    time.sleep(seconds)
            statuses = Counter(f.statuses)
        else:
            with SurvivorLoad(self.web_port, self.ledger, name, self.size["survivors"], 0.0, seed=7):
                time.sleep(seconds)
        items = self.ledger.snapshot()[before:]
        return sorted(i.latency for i in items if i.latency is not None), statuses

    def recover(self, fault: Fault, t0: float, bound: float = 60.0) -> None:
        """Time from t0 until /readyz is 200, a survivor's submission succeeds and everything
        accepted so far is in the feed (each measured from t0; recovery is the last)."""
        deadline = t0 + bound
        has_readyz = self.readyz_present
        while time.monotonic() < deadline:
            now = time.monotonic()
            if fault.readyz is None and (not has_readyz or self.readyz() == 200):
                fault.readyz = now - t0
            if fault.readyz is not None and fault.submission is None:
                item = submit(self.web_port, next_source(), self.rng, self.ledger,
                              "probe", tries=1)
                if item.reference:
                    fault.submission = time.monotonic() - t0
            if fault.submission is not None:
                accepted = [v for i in self.ledger.snapshot() if i.reference for v in i.values]
                try:
                    if self.db.unpublished(accepted) == 0:
                        fault.published = time.monotonic() - t0
                        break
                except Exception:
                    pass
            time.sleep(0.1)
        if fault.published is not None:
            fault.recovery = max(fault.readyz or 0.0, fault.submission or 0.0, fault.published)
        log(f"{fault.name}: {fault.detail}; readyz {fault.readyz}, submission {fault.submission}, "
            f"in feed {fault.published}")

    def wait_marker(self, step: str, timeout: float) -> bool:
        return wait_for(lambda: (self.faultdir / f"in-{step}").exists(), timeout, 0.01)

    def kill_mid(self, name: str, step: str, trigger: Any) -> Fault:
        fault = Fault(name)
        arm = self.faultdir / f"arm-{step}"
        arm.touch()
        try:
            trigger()
            landed = self.wait_marker(step, 30)
        finally:
            arm.unlink(missing_ok=True)
        t0 = time.monotonic()
        pid = self.supervisor.kill()
        fault.landed = landed
        where = f"inside {step}" if landed else f"({step} not reached in 30 s)"
        fault.detail = f"SIGKILL worker group {pid} {where}"
        self.recover(fault, t0)
        return fault

    def fault_phase(self) -> None:
        import redis as redis_lib
        from rq import Queue

        down = self.size["down"]
        reader = FeedReader(self.partner_port, self.reader_key, self.trusted)
        self.reader = reader
        with reader, SurvivorLoad(self.web_port, self.ledger, "faults", 2, self.size["pause"], seed=99):
            time.sleep(3)
            # 1. mid-publish: the survivors' load keeps the publisher busy.
            self.faults.append(self.kill_mid("worker SIGKILL mid-publish", "entries_written", lambda: None))
            time.sleep(2)

            # 2. mid-snapshot: ask for one, as the schedule would.
            def enqueue_snapshot() -> None:
                connection = redis_lib.Redis.from_url(self.redis.url(0))
                Queue("default", connection=connection).enqueue("hashbank.jobs.feed_snapshot", True)

            self.faults.append(self.kill_mid("worker SIGKILL mid-snapshot", "snapshot_file_written", enqueue_snapshot))
            time.sleep(2)

            # 3. Redis crash (SIGKILL, no persistence: queued jobs and flags are gone) and restart.
            fault = Fault("Redis SIGKILL + restart")
            self.redis.crash()
            time.sleep(down)
            self.redis.start()
            t0 = time.monotonic()
            fault.downtime = down
            fault.detail = f"down {down:g} s, timed from its restart"
            self.recover(fault, t0)
            self.faults.append(fault)
            time.sleep(2)

            # 4. PostgreSQL restart (fast shutdown, down, start).
            fault = Fault("PostgreSQL restart")
            stopped = time.monotonic()
            self.pg.stop("fast")
            time.sleep(down)
            self.pg.start()
            t0 = time.monotonic()
            fault.downtime = t0 - stopped
            fault.detail = f"down {fault.downtime:.1f} s (fast shutdown), timed from its start"
            self.recover(fault, t0)
            self.faults.append(fault)
            time.sleep(2)

    def settle(self) -> float:
        """Wait (bounded) until everything accepted is published and the outbox is empty."""
        start = time.monotonic()
        accepted = [v for i in self.ledger.snapshot() if i.reference for v in i.values]

        def done() -> bool:
            outbox = self.db.query("SELECT count(*) FROM hashbank_feedoutbox")[0][0]
            return self.db.unpublished(accepted) == 0 and outbox == 0

        ok = wait_for(done, self.size["settle"], 0.5)
        if not ok:
            self.notes.append(f"settle: outbox not empty / accepted not all published after {self.size['settle']} s")
        return time.monotonic() - start

    # -- the audit --
    def audit(self) -> dict[str, Any]:
        from hashbank.references import reference_digest, reference_normalise

        items = self.ledger.snapshot()
        accepted = [i for i in items if i.reference]
        receipts = {reference_digest(reference_normalise(i.reference) or ""): i for i in accepted}
        by_value = {v: i for i in items for v in i.values}

        cases = dict(self.db.query("SELECT id, reference_digest FROM hashbank_case"))
        orphan_ids = {cid for cid, digest in cases.items() if digest not in receipts}
        prints = self.db.query("SELECT value, status, case_id, public_id FROM hashbank_fingerprint")
        db_by_value: dict[str, list[tuple[str, int, str]]] = {}
        for value, status, case_id, public_id in prints:
            db_by_value.setdefault(value, []).append((status, case_id, public_id))
        orphan_items = {id(by_value[v]) for v, rows in db_by_value.items() if v in by_value
                        for _, cid, _ in rows if cid in orphan_ids}
        db_dupes = [v for v, rows in db_by_value.items() if len(rows) > 1]
        case_ids_by_digest = {d: c for c, d in cases.items()}

        # The whole feed, from 0, through the API and the verifier.
        final = FeedReader(self.partner_port, self.reader_key, self.trusted)
        synced = wait_for(final.sync_once, 30, 0.5)
        active: dict[str, str] = {}
        feed_dupes = 0
        value_ids: dict[str, set[str]] = {}
        for entry in final.entries:
            if entry["op"] == "add":
                if entry["id"] in active:
                    feed_dupes += 1
                active[entry["id"]] = entry["value"]
                value_ids.setdefault(entry["value"], set()).add(entry["id"])
            else:
                active.pop(entry["id"], None)
        feed_values = set(active.values())
        feed_value_dupes = sum(1 for ids in value_ids.values() if len(ids) > 1)

        lost_db = lost_feed = held = 0
        for item in accepted:
            digest = reference_digest(reference_normalise(item.reference) or "")
            case_id = case_ids_by_digest.get(digest)
            for value in item.values:
                rows = [r for r in db_by_value.get(value, []) if r[1] == case_id]
                if any(r[0] == "held" for r in rows):
                    held += 1
                    continue
                if not any(r[0] == "active" for r in rows):
                    lost_db += 1
                elif value not in feed_values:
                    lost_feed += 1

        positions = self.db.query("SELECT count(*), coalesce(min(position), 0), coalesce(max(position), 0) "
                                  "FROM hashbank_feedentry")[0]
        head = self.db.query("SELECT position FROM hashbank_feedhead")
        contiguous = positions[0] == positions[2] and positions[1] in (0, 1) and (head and head[0][0] == positions[2])
        gaps = len(final.failures) + len(self.reader.failures) + (0 if contiguous else 1) + (0 if synced else 1)

        leftovers = sorted(p.name for p in self.snapshot_dir.iterdir() if p.suffix == ".tmp" or ".tmp" in p.name)
        started = self._started_jobs()
        return {
            "accepted": len(accepted), "lost_db": lost_db, "lost_feed": lost_feed, "held": held,
            "lost": lost_db + lost_feed,
            "duplicated": len(db_dupes) + feed_dupes + feed_value_dupes,
            "duplicated_detail": {"db_values_twice": len(db_dupes), "feed_id_added_twice": feed_dupes,
                                  "feed_value_under_two_ids": feed_value_dupes},
            "orphaned": len(orphan_ids), "orphaned_submissions": len(orphan_items),
            "gaps": gaps,
            "gaps_detail": {"final_sync_failures": final.failures, "live_reader_failures": self.reader.failures,
                            "positions_contiguous": bool(contiguous), "final_sync_reached_head": synced},
            "feed_entries": len(final.entries), "feed_active": len(active), "db_cases": len(cases),
            "snapshot_leftovers": leftovers, "rq_started_jobs": started,
            "live_reader_errors": dict(self.reader.errors),
        }

    def _started_jobs(self) -> list[str]:
        try:
            import redis as redis_lib
            from rq.registry import StartedJobRegistry

            registry = StartedJobRegistry("default", connection=redis_lib.Redis.from_url(self.redis.url(0)))
            return list(registry.get_job_ids())
        except Exception as error:
            return [f"unreadable: {error}"]

    def run(self) -> int:
        started = time.monotonic()
        self.start()
        status = self.readyz()
        self.readyz_present = status is not None and status != 404
        if not self.readyz_present:
            self.notes.append("/readyz absent: recovery measured by a survivor's submission and the feed only")
        if not wait_for(lambda: self.readyz() in (200, 404), 30, 0.3):
            self.notes.append("/readyz never became 200 before the run")
        # warm-up: connections, caches, the first publish and snapshot
        for _ in range(4):
            submit(self.web_port, next_source(), self.rng, self.ledger, "warm-up")
        log("quiet phase")
        quiet, _ = self.latency_phase("quiet", self.size["quiet"], flood=False)
        log("flood phase")
        flooded, flood_statuses = self.latency_phase("flood", self.size["flood"], flood=True)
        log("fault phase")
        self.fault_phase()
        log("settling")
        settle = self.settle()
        log("audit")
        audit = self.audit()
        report = self.report(quiet, flooded, flood_statuses, audit, settle, time.monotonic() - started)
        return report

    # -- output --
    def report(self, quiet: list[float], flooded: list[float], flood_statuses: Counter[str],
               audit: dict[str, Any], settle: float, elapsed: float) -> int:
        items = self.ledger.snapshot()
        refused = Counter(i.refused for i in items if i.refused)
        errors = [i for i in items if not i.reference and not i.refused]
        error_kinds = Counter(t for i in items for t in i.tries if not t.isdigit() or int(t) >= 500)

        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            return values[min(len(values) - 1, int(len(values) * q))] * 1000

        q50, q99 = (statistics.median(quiet) * 1000 if quiet else None), pct(quiet, 0.99)
        f50, f99 = (statistics.median(flooded) * 1000 if flooded else None), pct(flooded, 0.99)
        ratio = (f50 / q50) if q50 and f50 else None
        figures = {
            "submissions": {"attempted": len(items), "accepted": sum(1 for i in items if i.reference),
                            "refused": sum(refused.values()), "refused_reasons": dict(refused),
                            "no_receipt_after_retries": len(errors), "server_errors_by_kind": dict(error_kinds),
                            "by_phase": dict(Counter(i.phase for i in items))},
            "audit": audit,
            "faults": [vars(f) for f in self.faults],
            "latency_ms": {"quiet": {"n": len(quiet), "p50": q50, "p99": q99},
                           "flood": {"n": len(flooded), "p50": f50, "p99": f99, "ratio_p50": ratio,
                                     "partner_statuses": dict(flood_statuses), "readers": self.size["readers"]}},
            "settle_s": settle, "elapsed_s": elapsed, "notes": self.notes,
            "worker_restarts": self.supervisor.starts - 1, "sweep_runs": self.sweep_runs,
        }
        goals = [
            ("0 lost", audit["lost"] == 0, str(audit["lost"])),
            ("0 duplicated", audit["duplicated"] == 0, str(audit["duplicated"])),
            ("0 orphaned", audit["orphaned"] == 0, str(audit["orphaned"])),
            ("0 gaps", audit["gaps"] == 0, str(audit["gaps"])),
        ]
        for f in self.faults:
            ok = f.recovery is not None and f.recovery < RECOVERY_GOAL
            goals.append((f"recover < {RECOVERY_GOAL:g} s: {f.name}", ok,
                          "not recovered in 60 s" if f.recovery is None else f"{f.recovery:.2f} s"))
        goals.append((f"flood p50 <= {FLOOD_RATIO_GOAL:g}x quiet", ratio is not None and ratio <= FLOOD_RATIO_GOAL,
                      "n/a" if ratio is None else f"{ratio:.2f}x"))
        figures["goals"] = [{"goal": g, "pass": ok, "value": v} for g, ok, v in goals]
        failed = [g for g, ok, _ in goals if not ok]
        if failed or error_kinds:
            figures["log_excerpts"] = {
                name: tail(self.stack.logs / name, 40, r"Traceback|Error|ERROR|CRITICAL|quitting|Exception")
                for name in ("gunicorn.log", "gunicorn-partner.log", "worker.log", "sweep.log")
            }
        if self.args.json:
            print(json.dumps(figures, indent=2, default=str))
        else:
            self.print_table(figures, goals)
        return 1 if failed else 0

    def print_table(self, figures: dict[str, Any], goals: list[tuple[str, bool, str]]) -> None:
        s, a, lat = figures["submissions"], figures["audit"], figures["latency_ms"]

        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0f} ms"

        print(f"\nresilience benchmark ({'quick' if self.args.quick else 'full'}, {os.cpu_count()} CPUs, "
              f"{figures['elapsed_s']:.0f} s)")
        for note in self.notes:
            print(f"  - {note}")
        print("\nsubmissions")
        print(f"  attempted {s['attempted']}, accepted {s['accepted']}, refused {s['refused']}, "
              f"no receipt after retries {s['no_receipt_after_retries']}")
        if s["refused_reasons"]:
            print("  refused: " + ", ".join(f"{k} x{v}" for k, v in s["refused_reasons"].items()))
        if s["server_errors_by_kind"]:
            print("  failed tries (5xx / connection): "
                  + ", ".join(f"{k} x{v}" for k, v in s["server_errors_by_kind"].items()))
        print("  by phase: " + ", ".join(f"{k} {v}" for k, v in s["by_phase"].items()))
        print("\naudit (database read directly; feed synced from 0 through the API and verified)")
        print(f"  lost {a['lost']} (not active in DB {a['lost_db']}, not in feed {a['lost_feed']}), "
              f"held for review {a['held']}")
        print(f"  duplicated {a['duplicated']} {a['duplicated_detail']}")
        print(f"  orphaned {a['orphaned']} cases committed without a receipt "
              f"({a['orphaned_submissions']} submissions)")
        print(f"  gaps {a['gaps']}  (feed entries {a['feed_entries']}, active {a['feed_active']}, "
              f"DB cases {a['db_cases']})")
        if a["gaps"]:
            print(f"  gap detail: {a['gaps_detail']}")
        print(f"  snapshot .tmp leftovers {len(a['snapshot_leftovers'])}, RQ jobs left STARTED "
              f"{len(a['rq_started_jobs'])}, worker restarts by the supervisor {figures['worker_restarts']}, "
              f"sweep runs {figures['sweep_runs']}, settle {figures['settle_s']:.1f} s")
        print("\nfaults (recovery = /readyz 200 + a survivor's submission 201 + everything accepted in the feed)")
        print(f"  {'fault':32} {'readyz':>8} {'submit':>8} {'in feed':>8} {'recovery':>9}  detail")
        for f in figures["faults"]:
            def sec(v: float | None) -> str:
                return "-" if v is None else f"{v:.2f}s"
            print(f"  {f['name']:32} {sec(f['readyz']):>8} {sec(f['submission']):>8} {sec(f['published']):>8} "
                  f"{sec(f['recovery']):>9}  {f['detail']}")
        q, fl = lat["quiet"], lat["flood"]
        print("\nsurvivors' case creation (POST /api/survivor/cases)")
        print(f"  quiet: n {q['n']}, p50 {ms(q['p50'])}, p99 {ms(q['p99'])}")
        print(f"  flood ({fl['readers']} readers on one key): n {fl['n']}, p50 {ms(fl['p50'])}, p99 {ms(fl['p99'])}; "
              "partner answers " + ", ".join(f"{k} x{v}" for k, v in sorted(fl["partner_statuses"].items())))
        print("\ngoals")
        for goal, ok, value in goals:
            print(f"  {'PASS' if ok else 'FAIL'}  {goal}: {value}")
        for name, excerpt in figures.get("log_excerpts", {}).items():
            if excerpt:
                print(f"\n--- {name} (errors, last lines) ---\n{excerpt}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (about 1-2 minutes)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers (deploy/gunicorn.conf.py: 4)")
    parser.add_argument("--web-threads", type=int, default=2, help="threads per worker (deploy/gunicorn.conf.py: 2)")
    parser.add_argument("--flood-nice", type=int, default=0,
                        help="niceness of the flood's client process (it stands in for another machine; 0: not)")
    parser.add_argument("--partner-workers", type=int, default=2,
                        help="workers of the partner API's own pool at nice 10 (0: partners share the survivors' pool)")
    parser.add_argument("--keep-logs", type=Path, help="copy the stack's logs here at the end")
    parser.add_argument("--timeout", type=int, default=0, help="hard limit in seconds (default 240 quick, 480 full)")
    args = parser.parse_args()

    def on_alarm(*_: object) -> None:
        raise SystemExit("resilience benchmark: time limit reached, stopping")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout or (240 if args.quick else 480))
    bench = Bench(args)
    try:
        return bench.run()
    finally:
        signal.alarm(0)
        if hasattr(bench, "stack"):
            if args.keep_logs:
                shutil.copytree(bench.stack.logs, args.keep_logs, dirs_exist_ok=True)
            bench.stack.close()


if __name__ == "__main__":
    sys.exit(main())
