"""The one accessor for partner requests: which partner key, if any, is asking.

Keys are cached in this process (see hashbank.keygeneration for why that is safe): a cached
row is used only while the partner keys' generation that the rate limit read from Redis in
the same request is the one it was read under, and for at most PARTNER_KEY_CACHE_SECONDS. The
secret is checked against the row's hash on every request, cached or not, and only rows the
database returned are cached (an unknown prefix is never), so the cache cannot be filled by
guessing.
"""

from __future__ import annotations

import copy
import threading
import time

from django.conf import settings
from django.http import HttpRequest

from hashbank.apikeys import KEY_RE, key_matches, key_prefix
from hashbank.models import PartnerKey
from hashbank.services import partner_key_touch

#: Query parameters that would mean someone put a key into a URL (where proxies log it).
KEY_PARAMS = {"key", "api_key", "apikey", "token", "access_token", "authorization"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def refuse_keys_in_url(request: HttpRequest) -> None:
    for name, values in request.GET.lists():
        if name.lower() in KEY_PARAMS or any(KEY_RE.match(v.strip()) for v in values):
            raise ApiError(400, "key_in_url", "API keys go in the Authorization header, never in a URL; "
                           "this key may now be in logs: revoke it and issue a new one")


def partner_key_for(request: HttpRequest, *, lookup_keys: bool = False) -> PartnerKey:
    """The active key that authenticates this request, or ApiError(401/403). One condition a line.

    A lookup-only key (PartnerKey.Scope.LOOKUP) authenticates only where `lookup_keys` is true
    (POST /api/v1/lookup, GET /api/v1/evidence): everywhere else it is refused, so it can never
    read the feed."""
    header = request.headers.get("Authorization", "")
    challenge = {"WWW-Authenticate": 'Bearer realm="partner feed"'}
    if not header:
        raise ApiError(401, "missing_key", "send your key as 'Authorization: Bearer isk_...'", challenge)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing_key", "send your key as 'Authorization: Bearer isk_...'", challenge)
    prefix = key_prefix(token)
    if prefix is None:
        raise ApiError(401, "unknown_key", "this is not a partner key", challenge)
    key = _key_read(prefix, getattr(getattr(request, "partner_rate", None), "generation", None))
    if key is None or not key_matches(token, key.key_hash):
        raise ApiError(401, "unknown_key", "no such key", challenge)
    if key.revoked_at is not None:
        raise ApiError(401, "revoked_key", f"key isk_{prefix}_… was revoked", challenge)
    if not key.partner.is_active:
        raise ApiError(403, "partner_inactive", "this partner's access is suspended")
    if key.scope == PartnerKey.Scope.LOOKUP and not lookup_keys:
        raise ApiError(403, "lookup_only_key", "this key may only use POST /api/v1/lookup and GET "
                       "/api/v1/evidence; reading the feed needs a feed key")
    partner_key_touch(key=key)
    # A copy: the cached row (whose last_used_at the touch keeps current) is shared by threads.
    return copy.copy(key)


#: Most keys held: far above any deployment's partner count; past it the cache starts afresh.
_CACHE_MAX = 10_000
_cache_lock = threading.Lock()
#: prefix -> (generation it was read under, time.monotonic() when read, the row with its partner)
_cache: dict[str, tuple[str, float, PartnerKey]] = {}


def _key_read(prefix: str, generation: str | None) -> PartnerKey | None:
    """The key row with this prefix, from this process's cache when `generation` (read from
    Redis in this request) is the one it was cached under; otherwise from the database."""
    seconds = settings.PARTNER_KEY_CACHE_SECONDS
    if generation is not None and seconds > 0:
        held = _cache.get(prefix)
        if held is not None and held[0] == generation and time.monotonic() - held[1] < seconds:
            return held[2]
    key = PartnerKey.objects.select_related("partner").filter(prefix=prefix).first()
    if key is not None and generation is not None and seconds > 0:
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[prefix] = (generation, time.monotonic(), key)
    return key


def key_cache_clear() -> None:
    """Forget every cached key (tests; the cache is otherwise kept right by the generation)."""
    with _cache_lock:
        _cache.clear()
