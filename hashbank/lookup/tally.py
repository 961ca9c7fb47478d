"""Every answered lookup counted for the partner's evidence (LookupTally: requests, hashes and
matched hashes per partner and UTC day), and nothing else of it kept: never the hashes.

At 200 lookups a second an UPDATE of one row per request would make that row the busiest in
the database, so a lookup adds to a Redis hash instead (one atomic script, one round trip:
`imageshield:lookup-tally:<day>`, fields `<partner>:requests|hashes|matched`), and the sweep
(hashbank.maintenance, every minute) and the evidence view carry the totals into LookupTally
(`lookup_tally_flush`).

Why nothing is lost or counted twice:
- Redis holds the running total of the day, not an increment since the last flush, and the
  flush writes the larger of the database's figure and Redis' (GREATEST). Flushing twice, two
  sweeps at once, or a sweep killed between reading Redis and committing, all leave the same
  figures: there is no "counted, not yet cleared" window for a crash to double.
- A lookup is counted by one Lua script after its answer is computed: counted whole or not
  at all. A web worker killed afterwards loses nothing; one killed before was not answered.
- When Redis loses the day's hash (a restart without persistence), the next lookup starts it
  again from zero; the flush sees it has not been seeded from the database yet (no `:seeded`
  field) and adds the database's figure to it first, so the day goes on from what was saved.
  What Redis held since the last flush is lost with it (at most a minute): the evidence then
  undercounts, never overcounts. A hash restored from an older copy is raised to the database's
  figure for the same reason.
- While Redis is unreachable, counts wait in this process and are added with the next lookup
  that reaches it (lost only if the process ends before then).
In the embedded mode (no Redis) each lookup adds to its row directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from hashbank.models import LookupTally

logger = logging.getLogger(__name__)

KEY_PREFIX = "imageshield:lookup-tally:"
FIELDS = ("requests", "hashes", "matched")
#: A day's hash outlives the day by this long, so a sweep that was down still finds it.
KEEP_SECONDS = 3 * 24 * 3600

# KEYS[1] the day's hash; ARGV partner, requests, hashes, matched, seconds to keep.
_COUNT = """
redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':requests', ARGV[2])
redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':hashes', ARGV[3])
redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':matched', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS[1] the day's hash; ARGV partner and the database's requests, hashes, matched. Seeds a
# partner's fields with the database's figures once (see the module docstring); returns the
# totals afterwards.
_SEED = """
local p = ARGV[1]
local names = {'requests', 'hashes', 'matched'}
local fresh = redis.call('HSETNX', KEYS[1], p .. ':seeded', '1') == 1
for i, name in ipairs(names) do
  local saved = tonumber(ARGV[i + 1])
  if fresh then
    redis.call('HINCRBY', KEYS[1], p .. ':' .. name, saved)
  else
    local now = tonumber(redis.call('HGET', KEYS[1], p .. ':' .. name) or '0')
    if now < saved then redis.call('HINCRBY', KEYS[1], p .. ':' .. name, saved - now) end
  end
end
return redis.call('HMGET', KEYS[1], p .. ':requests', p .. ':hashes', p .. ':matched')
"""

_waiting_lock = threading.Lock()
#: (day, partner id) -> [requests, hashes, matched] not yet in Redis (it was unreachable).
_waiting: dict[tuple[date, int], list[int]] = {}


def today() -> date:
    return datetime.now(UTC).date()


def lookup_counted(*, partner_id: int, hashes: int, matched: int, day: date | None = None) -> None:
    """Count one answered lookup of `hashes` hashes, `matched` of which matched. Never raises."""
    day = day or today()
    if settings.JOBS_IN_PROCESS:
        try:
            _add_to_row(partner_id, day, (1, hashes, matched))
        except Exception:
            logger.exception("lookup not counted for partner %s", partner_id)
        return
    from hashbank.queueing import redis_connection

    with _waiting_lock:
        counts = {(day, partner_id): [1, hashes, matched]}
        for where, waiting in _waiting.items():
            total = counts.setdefault(where, [0, 0, 0])
            counts[where] = [a + b for a, b in zip(total, waiting, strict=True)]
        _waiting.clear()
    try:
        connection = redis_connection()
        while counts:
            (when, partner), figures = next(iter(counts.items()))
            connection.eval(_COUNT, 1, f"{KEY_PREFIX}{when.isoformat()}", partner, *figures, KEEP_SECONDS)
            del counts[(when, partner)]
    except Exception as error:
        logger.warning("lookup counts kept in this process until Redis answers (%s: %s)", type(error).__name__, error)
        with _waiting_lock:
            for where, figures in counts.items():
                total = _waiting.setdefault(where, [0, 0, 0])
                _waiting[where] = [a + b for a, b in zip(total, figures, strict=True)]


def lookup_tally_flush(*, partner_id: int | None = None) -> dict[str, int]:
    """Carry Redis' totals into LookupTally (all partners, or one). Safe to run any number of
    times, at once or killed halfway (see the module docstring). Raises when Redis does."""
    if settings.JOBS_IN_PROCESS:
        return {"days": 0, "rows": 0}
    from hashbank.queueing import redis_connection

    connection = redis_connection()
    days = rows = 0
    for key in connection.scan_iter(match=f"{KEY_PREFIX}*", count=100):
        name = key.decode() if isinstance(key, bytes) else key
        try:
            day = date.fromisoformat(name.removeprefix(KEY_PREFIX))
        except ValueError:
            continue
        days += 1
        for partner in sorted(_partners(connection.hkeys(key))):
            if partner_id is not None and partner != partner_id:
                continue
            saved = LookupTally.objects.filter(partner_id=partner, day=day).values_list(*FIELDS).first() or (0, 0, 0)
            totals = connection.eval(_SEED, 1, key, partner, *saved)
            _set_row_at_least(partner, day, tuple(int(value or 0) for value in totals))
            rows += 1
    return {"days": days, "rows": rows}


def _partners(fields: list[bytes | str]) -> Iterator[int]:
    seen = set()
    for field in fields:
        text = field.decode() if isinstance(field, bytes) else field
        head, _, _ = text.partition(":")
        if head.isdigit() and head not in seen:
            seen.add(head)
            yield int(head)


def _set_row_at_least(partner_id: int, day: date, totals: tuple[int, ...]) -> None:
    figures = dict(zip(FIELDS, totals, strict=True))
    update = {name: Greatest(F(name), Value(figure)) for name, figure in figures.items()}
    if LookupTally.objects.filter(partner_id=partner_id, day=day).update(**update):
        return
    try:
        with transaction.atomic():
            LookupTally.objects.create(partner_id=partner_id, day=day, **figures)
    except IntegrityError:
        # Made meanwhile by another flush (or the partner is gone, and this updates nothing).
        LookupTally.objects.filter(partner_id=partner_id, day=day).update(**update)


def _add_to_row(partner_id: int, day: date, figures: tuple[int, int, int]) -> None:
    update = {name: F(name) + figure for name, figure in zip(FIELDS, figures, strict=True)}
    if LookupTally.objects.filter(partner_id=partner_id, day=day).update(**update):
        return
    try:
        with transaction.atomic():
            LookupTally.objects.create(partner_id=partner_id, day=day, **dict(zip(FIELDS, figures, strict=True)))
    except IntegrityError:
        LookupTally.objects.filter(partner_id=partner_id, day=day).update(**update)
