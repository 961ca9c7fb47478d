"""The signed bytes of full feed pages near the head, kept in Redis for every web process.

Why: 500 partners polling a busy feed read the same recent pages; building one costs a range
scan of 1,000 rows, their assembly and an Ed25519 signature over about 450 KB (docs/scaling.md
has the figures, bench/page_cache_bench.py measures them). Django serves the cached bytes, so
every fetch is still recorded for the partner's evidence and the page's delivery
(hashbank.feed.progress): a cache in front of Django (nginx's proxy_cache) would skip both.

Why a cached page can never be wrong:
- Only full pages are kept: every position from the cursor to cursor + limit is published,
  and published entries never change. Pages end at multiples of their limit
  (hashbank.feed.pages), so partners whose cursors differ still ask for the same pages.
- Each is keyed by the signing key id, so a rotation never serves the old signature.
- Before a cached page is served, the chain digest of its last entry is read from the
  database (one row by primary key) and must equal the page's: the digest commits to every
  entry before it, so a feed restored from a backup and published differently since, or a
  Redis entry that is not ours, is never served: it is built again.
- Pages below the floor are refused (410) before the cache is asked.

Bounded: only pages that end within FEED_PAGE_CACHE_ENTRIES of the head are kept (a new
partner's full sync of old pages reads the database, not Redis' memory), each for
FEED_PAGE_CACHE_SECONDS. A Redis that fails is logged and skipped: the page is built as before.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "imageshield:feed-page:"


def enabled(*, end: int, head_position: int) -> bool:
    """Whether a full page ending at `end` may be cached now."""
    seconds = settings.FEED_PAGE_CACHE_SECONDS
    return (not settings.JOBS_IN_PROCESS and seconds > 0 and end <= head_position
            and head_position - end < settings.FEED_PAGE_CACHE_ENTRIES)


def _key(*, fmt: int, kid: str, cursor: int, limit: int) -> str:
    return f"{KEY_PREFIX}{fmt}:{kid}:{cursor}:{limit}"


def cached_read(*, fmt: int, kid: str, cursor: int, limit: int) -> dict[str, bytes] | None:
    """The cached fields of this page (body, signature, digest, count), or None."""
    from hashbank.queueing import redis_connection

    try:
        found = redis_connection().hgetall(_key(fmt=fmt, kid=kid, cursor=cursor, limit=limit))
    except Exception as error:
        logger.warning("feed page cache not read (Redis: %s: %s)", type(error).__name__, error)
        return None
    if not found or not {b"body", b"signature", b"digest", b"count"} <= set(found):
        return None
    return {name.decode("ascii"): value for name, value in found.items()}


def cached_write(*, fmt: int, kid: str, cursor: int, limit: int, body: bytes, signature: str, digest: str,
                 count: int) -> None:
    from hashbank.queueing import redis_connection

    key = _key(fmt=fmt, kid=kid, cursor=cursor, limit=limit)
    try:
        pipe = redis_connection().pipeline(transaction=True)
        pipe.hset(key, mapping={"body": body, "signature": signature, "digest": digest, "count": count})
        pipe.expire(key, int(settings.FEED_PAGE_CACHE_SECONDS))
        pipe.execute()
    except Exception as error:
        logger.warning("feed page cache not written (Redis: %s: %s)", type(error).__name__, error)
