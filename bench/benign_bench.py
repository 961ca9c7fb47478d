"""Benign-list benchmark: what checking submissions against the list of pictures marked "not
intimate image abuse" adds to each submission (issue 12, item 3; goal: under 5 ms at the
median with 10,000 listed and 100,000 fingerprints submitted).

It fills the list with 10,000 PDQ hashes, then checks submissions shaped like the browser's
(per photograph: 8 PDQ hashes, the dihedral variants, plus phash, dhash, ahash, md5 and sha256:
13 fingerprints) until 100,000 fingerprints have been checked, through the same function
case_create calls (hashbank.benign.files_close_to_list: the "has the list changed?" query and
the search in the project's PDQ index). One submission in a hundred is an edited copy of a
listed picture (a few bits flipped) and must be found; the rest are unrelated and must not.
Then, for context, a smaller sample of whole case_create calls with the list and without.

    BENIGN_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/benignbench \\
        .venv/bin/python bench/benign_bench.py [--listed 10000] [--fingerprints 100000]

It uses (and empties the bank's tables of) a database of its own, created if missing; it
refuses a database whose name does not end in "bench".
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_MS = 5.0
PER_PHOTO = 13


def _database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    if not name.endswith("bench"):
        raise SystemExit(f"refusing {name!r}: the benchmark empties its database; use a name ending in 'bench'")
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def flipped(value: str, rng: random.Random, bits: int) -> str:
    number = int(value, 16)
    for bit in rng.sample(range(256), bits):
        number ^= 1 << bit
    return f"{number:064x}"


def photo_submission(rng: random.Random, near: str | None) -> list[list[tuple[str, str]]]:
    pdq = [f"{rng.getrandbits(256):064x}" for _ in range(8)]
    if near is not None:
        pdq[0] = flipped(near, rng, rng.randint(1, 12))  # an edited copy of a listed picture
    others = [("phash", f"{rng.getrandbits(64):016x}"), ("dhash", f"{rng.getrandbits(64):016x}"),
              ("ahash", f"{rng.getrandbits(64):016x}"), ("md5", f"{rng.getrandbits(128):032x}"),
              ("sha256", f"{rng.getrandbits(256):064x}")]
    return [[("pdq", value) for value in pdq] + others]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listed", type=int, default=10_000)
    parser.add_argument("--fingerprints", type=int, default=100_000)
    parser.add_argument("--whole", type=int, default=150, help="whole case_create calls per side, for context")
    args = parser.parse_args()
    url = os.environ.get("BENIGN_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/benignbench")
    _database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("JOBS_IN_PROCESS", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from hashbank import benign
    from hashbank.models import BenignFingerprint, Case
    from hashbank.services import case_create

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE hashbank_benignfingerprint, hashbank_feedoutbox, hashbank_case CASCADE")
    rng = random.Random(12)
    now = timezone.now()
    listed = [f"{rng.getrandbits(256):064x}" for _ in range(args.listed)]
    BenignFingerprint.objects.bulk_create(
        [BenignFingerprint(signal_type="pdq", value=v, reason="bench", marked_by="bench", marked_at=now)
         for v in listed], batch_size=5000)

    started = time.perf_counter()
    benign.forget_cache()
    benign.files_close_to_list([[("pdq", listed[0])]])
    build = time.perf_counter() - started

    timings: list[float] = []
    checked = found = missed = false_hits = 0
    while checked < args.fingerprints:
        near = listed[rng.randrange(len(listed))] if rng.random() < 0.01 else None
        files = photo_submission(rng, near)
        t0 = time.perf_counter()
        close = benign.files_close_to_list(files)
        timings.append((time.perf_counter() - t0) * 1000)
        checked += sum(len(f) for f in files)
        if near is not None:
            found += bool(close)
            missed += not close
        else:
            false_hits += bool(close)

    def whole(n: int) -> list[float]:
        out = []
        for _ in range(n):
            files = [[{"signal_type": t, "value": v, **({"quality": 90} if t == "pdq" else {})}
                      for t, v in photo_submission(rng, None)[0]]]
            t0 = time.perf_counter()
            case_create(files=files)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    with_list = whole(args.whole)
    BenignFingerprint.objects.all().delete()
    without_list = whole(args.whole)
    cases = Case.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE hashbank_benignfingerprint, hashbank_feedoutbox, hashbank_case CASCADE")

    median = statistics.median(timings)
    print(f"benign-list benchmark: {args.listed:,} listed PDQ hashes, PostgreSQL {urlparse(url).path[1:]}, "
          f"{os.cpu_count()} CPUs")
    print(f"index build (first check after a change): {build * 1000:.0f} ms")
    print(f"checked {checked:,} fingerprints in {len(timings):,} submissions of {PER_PHOTO} (one photograph each)")
    print(f"time added per submission: median {median:.2f} ms, p99 {pct(timings, 0.99):.2f} ms, "
          f"max {max(timings):.2f} ms (goal: median < {GOAL_MS:g} ms)")
    print(f"edited copies of listed pictures found {found}, missed {missed}; unrelated photographs held {false_hits}")
    print(f"whole case_create ({cases} cases, Argon2 PIN included): median {statistics.median(with_list):.1f} ms "
          f"with the list, {statistics.median(without_list):.1f} ms without")
    ok = median < GOAL_MS and missed == 0 and false_hits == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
