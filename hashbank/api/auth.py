"""The one accessor for partner requests: which partner key, if any, is asking."""

from __future__ import annotations

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
    key = PartnerKey.objects.select_related("partner").filter(prefix=prefix).first()
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
    return key
