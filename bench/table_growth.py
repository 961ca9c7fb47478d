"""How the database's largest tables grow: bytes a row (heap, indexes and TOAST) measured on
real PostgreSQL with rows shaped as the service writes them, and what that makes at
10,000,000 fingerprints and 500 partners (docs/scaling.md).

    TABLE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tablebench \\
        .venv/bin/python bench/table_growth.py [--rows 200000]

It uses (and empties) a database of its own, created if missing; it refuses one whose name
does not end in "bench". Rows go in through the ORM's bulk_create (the feed's entries through
the publisher's own entry_line and chain_step), then VACUUM ANALYZE, then
pg_total_relation_size divided by the row count.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FINGERPRINTS = 10_000_000
PARTNERS = 500
#: Signals a photo gives (pdq, phash, dhash, ahash, md5, sha256) and what a file costs.
FINGERPRINTS_A_FILE = 6
#: HMA polls every 240 s; a key's pages within FEED_DELIVERY_MARK_SECONDS share one mark, so
#: a partner polling a busy feed writes at most one mark a poll (a quiet poll writes none).
MARKS_A_DAY_HMA = 24 * 3600 // 240


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows to write into each table measured")
    return parser.parse_args()


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.endswith("bench"):
        raise SystemExit(f"refusing database {name!r}: the benchmark empties it; use a name ending in 'bench'")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def size_per_row(model) -> tuple[float, int]:
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("SELECT pg_total_relation_size(%s), (SELECT count(*) FROM " + table + ")", [table])
        size, count = cursor.fetchone()
    return size / max(1, count), count


def main() -> None:
    args = parse_args()
    url = os.environ.get("TABLE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tablebench")
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from hashbank.feed.publish import entry_line
    from hashbank.feedformat import GENESIS, chain_step, format_time
    from hashbank.models import (
        Case,
        CaseEvent,
        CaseFile,
        DeliveryMark,
        FeedEntry,
        FeedOutbox,
        Fingerprint,
        Partner,
        PartnerFeedback,
        PartnerKey,
    )
    from hashbank.services import partner_create, partner_key_issue

    with connection.cursor() as cursor:
        for model in (DeliveryMark, PartnerFeedback, FeedEntry, CaseEvent, Fingerprint, CaseFile, Case, PartnerKey,
                      Partner):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
    rows = args.rows
    now = timezone.now()
    started = time.perf_counter()

    # Cases of 2 files each, 6 fingerprints a file (a photo's signals), values as submitted.
    files_wanted = rows // FINGERPRINTS_A_FILE
    cases = Case.objects.bulk_create(
        Case(feed_token=secrets.token_hex(12), reference_digest=secrets.token_hex(32), pin_hash="$argon2id$" + "x" * 90,
             created_at=now, last_activity_at=now) for _ in range(files_wanted // 2))
    case_files = CaseFile.objects.bulk_create(
        CaseFile(case=cases[i // 2], public_id=secrets.token_hex(8), added_at=now) for i in range(len(cases) * 2))
    values = [("pdq", 64, 100), ("phash", 16, None), ("dhash", 16, None), ("ahash", 16, None), ("md5", 32, None),
              ("sha256", 64, None)]
    fingerprints = []
    for case_file in case_files:
        for signal, length, quality in values:
            fingerprints.append(Fingerprint(case_id=case_file.case_id, case_file=case_file,
                                            public_id=secrets.token_hex(10), signal_type=signal,
                                            value=secrets.token_hex(length // 2), quality=quality, created_at=now))
    Fingerprint.objects.bulk_create(fingerprints, batch_size=5000)
    CaseEvent.objects.bulk_create(
        [CaseEvent(case=case, kind=kind, at=now, data={"fingerprints": 12, "first": 1, "last": 12})
         for case in cases for kind in (CaseEvent.Kind.RECEIVED, CaseEvent.Kind.SHARED_WITH_PARTNERS)],
        batch_size=5000)

    # The feed: one addition a fingerprint, through the publisher's own line and chain.
    digest, time_text, entries = GENESIS, format_time(now), []
    for position, fingerprint in enumerate(fingerprints, start=1):
        row = FeedOutbox(fingerprint_key=fingerprint.public_id, op="add", signal_type=fingerprint.signal_type,
                         value=fingerprint.value, quality=fingerprint.quality, case_token=secrets.token_hex(12),
                         origin="survivor")
        line = entry_line(position=position, row=row, time=time_text)
        digest = chain_step(digest, line.encode("ascii"))
        entries.append(FeedEntry(position=position, fingerprint_key=row.fingerprint_key, op="add", line=line,
                                 chain=digest, published_at=now))
    FeedEntry.objects.bulk_create(entries, batch_size=5000)

    # Delivery marks and feedback of 50 partners (the per-row size does not depend on how many).
    partners = [partner_create(name=f"table-bench-{i}") for i in range(50)]
    keys = [PartnerKey.objects.get(prefix=partner_key_issue(partner=p).secret.split("_")[1]) for p in partners]
    DeliveryMark.objects.bulk_create(
        [DeliveryMark(key=keys[i % len(keys)], partner_id=keys[i % len(keys)].partner_id, run_start=0,
                      high=i + 1, at=now + timedelta(seconds=i), opened_at=now + timedelta(seconds=i))
         for i in range(rows)], batch_size=5000)
    PartnerFeedback.objects.bulk_create(
        [PartnerFeedback(partner=partners[i % len(partners)], fingerprint=fingerprints[i % len(fingerprints)],
                         outcome="blocked", idempotency_key=secrets.token_hex(12), received_at=now)
         for i in range(rows)], batch_size=5000)
    print(f"table growth: {rows:,} rows a table written in {time.perf_counter() - started:.0f} s, "
          f"PostgreSQL {connection.pg_version // 10000}, database {urlparse(url).path.lstrip('/')}")

    measured = {}
    for label, model in [("feed entry (hashbank_feedentry)", FeedEntry),
                         ("fingerprint (hashbank_fingerprint)", Fingerprint),
                         ("case file (hashbank_casefile)", CaseFile), ("case (hashbank_case)", Case),
                         ("timeline event (hashbank_caseevent)", CaseEvent),
                         ("delivery mark (hashbank_deliverymark)", DeliveryMark),
                         ("match report (hashbank_partnerfeedback)", PartnerFeedback)]:
        per_row, count = size_per_row(model)
        measured[model] = per_row
        print(f"  {label}: {per_row:,.0f} bytes a row ({count:,} rows)")

    files = FINGERPRINTS / FINGERPRINTS_A_FILE
    cases_n = files / 2
    gb = 1e9
    bank = (FINGERPRINTS * (measured[Fingerprint] + measured[FeedEntry]) + files * measured[CaseFile]
            + cases_n * (measured[Case] + 3 * measured[CaseEvent]))
    marks_year = PARTNERS * MARKS_A_DAY_HMA * 365 * measured[DeliveryMark]
    print(f"at {FINGERPRINTS:,} fingerprints ({files:,.0f} files, {cases_n:,.0f} cases, 3 events each): "
          f"{bank / gb:.1f} GB for the bank and its feed")
    print(f"delivery marks, {PARTNERS} partners polling a busy feed every 240 s: "
          f"{PARTNERS * MARKS_A_DAY_HMA:,} rows a day, {marks_year / gb:.1f} GB a year (at most)")
    print(f"match reports: {measured[PartnerFeedback]:,.0f} bytes each, "
          f"{1_000_000 * measured[PartnerFeedback] / gb:.2f} GB a million")


if __name__ == "__main__":
    main()
