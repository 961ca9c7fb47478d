"""Reading the feed: signed pages. Only reads; the publisher is the only writer."""

from __future__ import annotations

from dataclasses import dataclass

from hashbank.feed import pagecache
from hashbank.feed.head import head_read
from hashbank.feed.signing import sign
from hashbank.feedformat.canonical import FORMAT_VERSION, PAGE_KIND
from hashbank.feedformat.chain import GENESIS
from hashbank.models import FeedEntry

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000


class CursorAhead(ValueError):
    """The cursor is past the head: the partner's state is from another feed, or ours rolled back."""


class CursorExpired(ValueError):
    """The cursor is older than the feed keeps: start again from the latest snapshot."""


@dataclass(frozen=True)
class SignedPage:
    body: bytes
    kid: str
    signature: str
    next_cursor: int
    count: int


def page_end(cursor: int, limit: int) -> int:
    """The last position a page from `cursor` may hold: the next multiple of `limit` above
    the cursor. A partner whose cursor is not on a boundary gets a shorter first page
    (`"more": true`, as a page from a lagging server would be) and from then on the same pages
    as every other partner, which is what lets them be cached (hashbank.feed.pagecache)."""
    return (cursor // limit + 1) * limit


def page_signed(*, cursor: int, limit: int) -> SignedPage:
    """The entries after `cursor` up to page_end(cursor, limit), as signed bytes.

    The body is assembled from the stored canonical lines without parsing them again, so the
    bytes hashed into the chain are the bytes served, and a page costs one indexed range scan;
    a full page near the head comes from the page cache once one process has built it.
    """
    head = head_read()
    if cursor > head.position:
        raise CursorAhead(f"cursor {cursor} is past the head of the feed ({head.position})")
    if cursor < head.floor_position:
        raise CursorExpired(
            f"cursor {cursor} is older than the oldest position kept ({head.floor_position}); "
            "start again from the latest snapshot"
        )
    end = page_end(cursor, limit)
    cacheable = pagecache.enabled(end=end, head_position=head.position)
    if cacheable:
        page = _cached(cursor=cursor, limit=limit, end=end, kid=head.checkpoint_kid)
        if page is not None:
            return page
    # One range scan: the entry at the cursor carries the chain digest the page continues from.
    low = cursor if cursor > head.floor_position else cursor + 1
    rows = list(
        FeedEntry.objects.filter(position__gte=low, position__lte=end)
        .order_by("position")
        .values_list("position", "line", "chain")
    )
    if cursor == 0:
        prev_digest = GENESIS
    elif cursor == head.floor_position:
        prev_digest = head.floor_digest
    else:
        prev_digest = rows.pop(0)[2]
    next_cursor = rows[-1][0] if rows else cursor
    digest = rows[-1][2] if rows else prev_digest
    more = next_cursor < head.position or len(rows) == limit
    # The layout is fixed (docs/feed.md): the page is JSON, and also one line for the
    # envelope, then one line per entry, then "]}". A consumer checks the signature over
    # the bytes, then hashes each entry line exactly as received, with no re-serialising.
    entries = ",\n".join(line for _, line, _ in rows)
    body = (
        f'{{"cursor":{cursor},"digest":"{digest}","format":{FORMAT_VERSION},"kind":"{PAGE_KIND}",'
        f'"more":{"true" if more else "false"},"next_cursor":{next_cursor},"prev_digest":"{prev_digest}",'
        f'"entries":[\n' + entries + ("\n" if entries else "") + "]}"
    ).encode("ascii")
    kid, signature = sign(body, kid=head.checkpoint_kid)
    if cacheable and next_cursor == end:
        pagecache.cached_write(fmt=FORMAT_VERSION, kid=kid, cursor=cursor, limit=limit, body=body,
                               signature=signature, digest=digest, count=len(rows))
    return SignedPage(body=body, kid=kid, signature=signature, next_cursor=next_cursor, count=len(rows))


def _cached(*, cursor: int, limit: int, end: int, kid: str) -> SignedPage | None:
    """The cached page, if there is one and its last entry's chain digest is still the one
    in the database (hashbank.feed.pagecache says why that is enough)."""
    found = pagecache.cached_read(fmt=FORMAT_VERSION, kid=kid, cursor=cursor, limit=limit)
    if found is None:
        return None
    digest = found["digest"].decode("ascii")
    if FeedEntry.objects.filter(position=end).values_list("chain", flat=True).first() != digest:
        return None
    return SignedPage(body=found["body"], kid=kid, signature=found["signature"].decode("ascii"),
                      next_cursor=end, count=int(found["count"]))
