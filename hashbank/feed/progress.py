"""How far each partner has read the feed: kept as pages and checkpoints are served, for its
evidence document (hashbank.feed.evidence, GET /api/v1/evidence).

Counting follows what was actually served: a page adds to the partner's counters only its
entries beyond the furthest position that partner was served before, so a page fetched twice,
two overlapping pages, or two identical requests at the same moment never count an entry
twice. Entries a partner loaded from a snapshot file are not counted: only feed pages are.

Bookkeeping must never cost a partner its page: any fault here is logged and swallowed (the
page has been built and signed already). And it must stay cheap: a partner paging on from
where it stopped (the usual case) costs one conditional UPDATE of its progress row and one
ranged UPDATE of the sampled entries' first_fetched_at (none for an empty page); a page fetched again
costs that UPDATE and one read; only a first page, or one that overlaps or skips past what was
served, takes the row lock to work out what is new.

`position_at` (the evidence's "last page") is when a page last continued from the partner's
position: one that moved it on, or an empty page at the head confirming it was current.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from hashbank.feed import delivery
from hashbank.feed.pages import SignedPage
from hashbank.models import FeedEntry, FeedHead, Partner, PartnerKey, PartnerProgress

logger = logging.getLogger(__name__)

_ADD = b'"op":"add"'
_WITHDRAW = b'"op":"withdraw"'


def page_served(partner: Partner, page: SignedPage, *, key: PartnerKey | None = None) -> None:
    """Record that `partner` was served `page` (never raises). With `key` (the key it used),
    the page's delivery too (hashbank.feed.delivery), in the same transaction: one commit, so
    one flush of the database's log, a page rather than one per statement (three commits cost
    a fetch-only full sync 15% of its speed; bench/feed_bench.py). A fault loses both records
    of that page, never the page."""
    try:
        with transaction.atomic():
            _page_served(partner, page)
            if key is not None:
                delivery.page_record(key, cursor=page.next_cursor - page.count, next_cursor=page.next_cursor)
    except Exception:
        logger.exception("partner progress not recorded for partner %s (page to %s)", partner.pk, page.next_cursor)


def checkpoint_served(partner: Partner, head: FeedHead) -> None:
    """Record that `partner` fetched the checkpoint of `head` (never raises)."""
    try:
        _checkpoint_served(partner, head)
    except Exception:
        logger.exception("partner checkpoint not recorded for partner %s (version %s)", partner.pk,
                         head.checkpoint_version)


def count_ops(body: bytes, *, skip: int = 0) -> tuple[int, int]:
    """(additions, withdrawals) among a page's entries after the first `skip`, read from the
    signed bytes without parsing them. Safe as a substring test: the page is canonical JSON,
    so a quote inside any value is escaped and `"op":"add"` can only be an entry's own op."""
    if skip <= 0:
        return body.count(_ADD), body.count(_WITHDRAW)
    # The fixed layout (docs/feed.md): the envelope line, one entry a line, then "]}".
    lines = body.split(b"\n")[1:-1][skip:]
    return sum(1 for line in lines if _ADD in line), sum(1 for line in lines if _WITHDRAW in line)


def _page_served(partner: Partner, page: SignedPage) -> None:
    now = timezone.now()
    # Positions on a page are dense (cursor+1 .. next_cursor), so its cursor is implied.
    cursor = page.next_cursor - page.count
    additions, withdrawals = count_ops(page.body)
    # The usual case: the partner continues exactly where it stopped, so every entry on the
    # page is new to it. The condition on `position` makes this one statement safe on its own:
    # of two identical requests at once, the second re-reads the row after the first commits,
    # no longer matches, and goes the careful way below.
    moved = PartnerProgress.objects.filter(partner=partner, position=cursor).update(
        position=page.next_cursor,
        position_at=now,
        additions_fetched=F("additions_fetched") + additions,
        withdrawals_fetched=F("withdrawals_fetched") + withdrawals,
        first_fetch_at=Coalesce(F("first_fetch_at"), Value(now, output_field=DateTimeField())),
    )
    # Our own internal reader (the hosted lookup's index) is not a partner: the transparency
    # figures' "time to the first partner fetch" must not be its second.
    stamps = not partner.is_internal
    if moved:
        if page.count and stamps:
            _first_fetched(low=cursor, high=page.next_cursor, now=now)
        return
    # A page fetched again: nothing on it is new, and since a position only grows that stays
    # true whatever runs meanwhile, so no lock is needed to leave it there.
    known = PartnerProgress.objects.filter(partner=partner).values_list("position", flat=True).first()
    if known is not None and known >= page.next_cursor:
        return
    with transaction.atomic():
        # The first page ever, or one that overlaps or skips past what was served before
        # (after a snapshot): lock the row (two requests of one partner at once queue here) and
        # count only what lies beyond the furthest position served so far.
        progress, _ = PartnerProgress.objects.select_for_update().get_or_create(partner=partner)
        changed = []
        if progress.first_fetch_at is None:
            progress.first_fetch_at = now
            changed.append("first_fetch_at")
        if page.next_cursor > progress.position:
            low = max(progress.position, cursor)
            new_additions, new_withdrawals = count_ops(page.body, skip=low - cursor)
            progress.additions_fetched += new_additions
            progress.withdrawals_fetched += new_withdrawals
            progress.position, progress.position_at = page.next_cursor, now
            changed += ["additions_fetched", "withdrawals_fetched", "position", "position_at"]
            if stamps:
                _first_fetched(low=low, high=page.next_cursor, now=now)
        elif cursor == progress.position:
            # An empty page from where it stands (the first, on an empty feed): it was current.
            progress.position_at = now
            changed.append("position_at")
        if changed:
            progress.save(update_fields=changed)


#: first_fetched_at is stamped on one entry in this many (positions divisible by it). It only
#: feeds a median (the transparency figures' time to first fetch), for which a sample chosen by
#: position, independent of timing, is as good as all; stamping every entry rewrote each
#: 1,000-entry page's rows and took the first partner's full sync from 70,000 to 42,000
#: entries a second (bench/feed_bench.py; issue 5's goal is 50,000).
FIRST_FETCH_SAMPLE = 16


def _first_fetched(*, low: int, high: int, now) -> None:
    """Stamp when a partner first received the sampled entries in (low, high]: one ranged
    UPDATE on the primary key; entries another partner received first keep their time."""
    from django.db.models import F

    FeedEntry.objects.alias(rest=F("position") % FIRST_FETCH_SAMPLE).filter(
        position__gt=low, position__lte=high, rest=0, first_fetched_at__isnull=True
    ).update(first_fetched_at=now)


def _checkpoint_served(partner: Partner, head: FeedHead) -> None:
    now = timezone.now()
    fields = {"checkpoint_version": head.checkpoint_version, "checkpoint_head": head.position, "checkpoint_at": now}
    # Only ever forward: a slower request carrying an older checkpoint must not move it back.
    newer = PartnerProgress.objects.filter(partner=partner, checkpoint_version__lte=head.checkpoint_version)
    if newer.update(**fields):
        return
    with transaction.atomic():
        progress, _ = PartnerProgress.objects.select_for_update().get_or_create(partner=partner)
        if progress.checkpoint_version <= head.checkpoint_version:
            for name, value in fields.items():
                setattr(progress, name, value)
            progress.save(update_fields=list(fields))
