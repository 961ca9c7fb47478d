"""Which feed positions each partner key has fetched, and so which partner platforms hold a
survivor's fingerprints, or their withdrawal (issue 14).

Recording (`page_record`, through hashbank.feed.progress.page_served in the same transaction
as the partner's evidence, and `snapshot_served`) happens as partner API responses are built and
must stay cheap: a key paging on from where it stopped costs one conditional UPDATE of its
newest mark (no new row while pages follow each other within FEED_DELIVERY_MARK_SECONDS); a
new mark is one INSERT. An empty page (a partner at the head) costs nothing. Like the
evidence bookkeeping beside it (hashbank.feed.progress), a fault here is logged and
swallowed: the page was built and signed already.

Reading (`reach`) answers, for ranges of positions, which active partner platforms have
fetched every position in the range and when: for each key, its first mark (by `high`)
reaching the range's top; the range is covered when that mark's run starts below the range.
One statement per range, a seek on (key, high) per key.

What a mark claims is never more than what happened: every position in (run_start, high] was
served to the key by `at`. In rare orders of events (a key that skipped ahead and later came
back for what it skipped, or two requests of one key racing) a fetch can go unrecorded, so the
page may say "not yet" a little longer; it never says "fetched" early.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from hashbank.models import DeliveryMark, Partner, PartnerKey

logger = logging.getLogger(__name__)


# --- Recording ---------------------------------------------------------------------------


def page_record(key: PartnerKey, *, cursor: int, next_cursor: int) -> None:
    """Record that `key` was served the positions (cursor, next_cursor]. Raises on a fault:
    the feed view calls it through hashbank.feed.progress.page_served, which records the
    partner's evidence in the same transaction and keeps any fault from the partner."""
    if next_cursor <= cursor or not settings.FEED_DELIVERY_RECORDING:
        return
    _served(key, low=cursor, high=next_cursor, fresh_run=False)


def page_served(key: PartnerKey, *, cursor: int, next_cursor: int) -> None:
    """`page_record` on its own (never raises)."""
    try:
        page_record(key, cursor=cursor, next_cursor=next_cursor)
    except Exception:
        logger.exception("delivery not recorded for key %s (page to %s)", key.pk, next_cursor)


def snapshot_served(key: PartnerKey, *, position: int) -> None:
    """Record that `key` downloaded the snapshot at `position` (never raises). A snapshot is
    the active set at its position, so a partner that loads it holds every addition still
    active there and none of those withdrawn before it: for a survivor, the same as having
    fetched every page up to it."""
    if position <= 0 or not settings.FEED_DELIVERY_RECORDING:
        return
    try:
        _served(key, low=0, high=position, fresh_run=True)
    except Exception:
        logger.exception("delivery not recorded for key %s (snapshot at %s)", key.pk, position)


_TABLE = DeliveryMark._meta.db_table
_EXTEND_SQL = (f"UPDATE {_TABLE} SET high = %s, at = %s "  # noqa: S608 (table name from the model)
               "WHERE key_id = %s AND high = %s AND opened_at >= %s")


def _served(key: PartnerKey, *, low: int, high: int, fresh_run: bool) -> None:
    now = timezone.now()
    window = now - timedelta(seconds=settings.FEED_DELIVERY_MARK_SECONDS)
    if not fresh_run:
        # The usual case: the page continues the key's newest mark, opened moments ago.
        # One prepared statement, not the ORM: building an UPDATE through the queryset costs
        # more Python than the database spends on it, on every page (bench/feed_bench.py).
        with connection.cursor() as cursor:
            cursor.execute(_EXTEND_SQL, [high, now, key.pk, low, window])
            if cursor.rowcount:
                return
    # A page fetched again (or an older snapshot): nothing new, and since `high` only grows
    # that stays true whatever runs meanwhile, so no lock is needed to leave it there.
    known = DeliveryMark.objects.filter(key_id=key.pk).order_by("-high").values_list("high", flat=True).first()
    if known is not None and known >= high:
        return
    with transaction.atomic():
        # Lock the key's row (two requests of one key at once queue here; its first mark has no
        # row to lock yet), then read afresh, after any wait: a mark is added only if this
        # reaches further than anything recorded, so `high` only grows.
        PartnerKey.objects.select_for_update().filter(pk=key.pk).values_list("pk", flat=True).first()
        last = DeliveryMark.objects.filter(key_id=key.pk).order_by("-high", "-pk").first()
        if last is not None and last.high >= high:
            return
        if fresh_run:
            run_start = 0
        elif last is not None and low <= last.high:
            run_start = last.run_start  # continues or overlaps the run before
        else:
            run_start = low  # skipped ahead: what lies before `low` was not served
        DeliveryMark.objects.create(key_id=key.pk, partner_id=key.partner_id, run_start=run_start, high=high,
                                    at=now, opened_at=now)


# --- Compaction --------------------------------------------------------------------------


def marks_compact(*, older_than_days: int | None = None, dry_run: bool = False) -> int:
    """Merge each key's marks older than FEED_DELIVERY_COMPACT_DAYS into one a UTC day (run
    daily by `manage.py feed_prune`); returns how many rows were (or would be) removed.

    Within one key, one run and one day, the mark reaching furthest is kept: it was served
    last, so its time is the latest of the day, and everything the merged marks covered is in
    its run. What is lost is only the time of day of old fetches, which the status pages then
    show as a date (portal.survivor.presenters): 500 partners polling every 240 s write up to
    180,000 marks a day (10 GB a year, bench/table_growth.py); compacted, 500 a day.
    Marks that new pages extend are minutes old, so this never races the recording."""
    days = settings.FEED_DELIVERY_COMPACT_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    rows = (DeliveryMark.objects.filter(opened_at__lt=cutoff).order_by("key_id", "high", "pk")
            .values_list("pk", "key_id", "run_start", "at").iterator(chunk_size=10_000))
    doomed: list[int] = []
    previous: tuple | None = None
    for pk, key_id, run_start, at in rows:
        group = (key_id, run_start, at.date())
        if previous is not None and previous[1] == group:
            doomed.append(previous[0])
        previous = (pk, group)
    if not dry_run:
        for start in range(0, len(doomed), 5000):
            DeliveryMark.objects.filter(pk__in=doomed[start:start + 5000]).delete()
    return len(doomed)


def exact_time(at: datetime | None) -> bool:
    """Whether a delivery time is to the minute (marks of that age are not compacted yet)."""
    return at is not None and at >= timezone.now() - timedelta(days=settings.FEED_DELIVERY_COMPACT_DAYS)


# --- Reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """How many of the active partner platforms have fetched a set of positions."""

    fetched: int
    platforms: int
    # When the first and the last of those that fetched it did (None when none has).
    first_at: datetime | None
    last_at: datetime | None
    # Of those that fetched it, the ones that agreed to be named publicly.
    named: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.platforms > 0 and self.fetched == self.platforms


def platform_keys() -> dict[int, list[int]]:
    """{partner id: its feed key ids} for the platforms counted: active partners with at least
    one unrevoked feed key (a partner cannot fetch without one). Not our own internal reader
    (the hosted lookup's index), and not a partner that only uses the hosted lookup: neither
    holds a list. Marks of a partner's revoked keys still count for it: what they fetched was
    delivered."""
    active = (Partner.objects.filter(is_active=True, is_internal=False)
              .filter(keys__revoked_at__isnull=True, keys__scope=PartnerKey.Scope.FEED).distinct())
    keys: dict[int, list[int]] = {}
    for key_id, partner_id in (PartnerKey.objects.filter(partner__in=active, scope=PartnerKey.Scope.FEED)
                               .values_list("pk", "partner_id")):
        keys.setdefault(partner_id, []).append(key_id)
    return keys


def reach(groups: Sequence[Iterable[tuple[int, int]]]) -> list[Reach | None]:
    """For each group of (first, last) position ranges (inclusive), which platforms have
    fetched every position of every range, and when the last of them did; None for a group
    with no range (nothing of it was published). A group is one file's fingerprints (which
    may have been published at different times) or one withdrawal."""
    keys = platform_keys()
    groups = [sorted(set(ranges)) for ranges in groups]
    times = {r: _partner_times(*r, keys) for r in {r for group in groups for r in group}}
    names = _names(keys)
    out: list[Reach | None] = []
    for group in groups:
        if not group:
            out.append(None)
            continue
        partners = set(keys)
        when: dict[int, datetime] = {}
        for r in group:
            partners &= set(times[r])
            for partner, at in times[r].items():
                when[partner] = max(when.get(partner, at), at)
        out.append(Reach(fetched=len(partners), platforms=len(keys),
                         first_at=min((when[p] for p in partners), default=None),
                         last_at=max((when[p] for p in partners), default=None),
                         named=tuple(sorted(names[p] for p in partners if p in names))))
    return out


def _names(keys: dict[int, list[int]]) -> dict[int, str]:
    if not keys:
        return {}
    return {pk: public or name for pk, public, name in
            Partner.objects.filter(pk__in=keys, listed_publicly=True).values_list("pk", "public_name", "name")}


def _partner_times(first: int, last: int, keys: dict[int, list[int]]) -> dict[int, datetime]:
    """{partner id: when it had fetched every position in [first, last]} for those that have."""
    if not keys:
        return {}
    covering = DeliveryMark.objects.filter(key_id=OuterRef("pk"), high__gte=last).order_by("high", "pk")
    rows = (
        PartnerKey.objects.filter(pk__in=[k for ks in keys.values() for k in ks])
        .annotate(mark_at=Subquery(covering.values("at")[:1]), mark_run=Subquery(covering.values("run_start")[:1]))
        .filter(Q(mark_run__lt=first))
        .values_list("partner_id", "mark_at")
    )
    times: dict[int, datetime] = {}
    for partner_id, at in rows:
        # A partner with several keys: the first of them to have it.
        times[partner_id] = min(times.get(partner_id, at), at)
    return times
