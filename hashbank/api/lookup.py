"""POST /api/v1/lookup: which active fingerprints match these hashes (issue 16).

For services too small to hold the list (docs/platforms.md, "A small forum"): up to 100 hashes a
request, validated by the fingerprint library (hashbank.platform.lookup) before anything is
asked, answered by the lookup process over loopback (hashbank.lookup.client) or, in the embedded
mode, by an index of the database in this process (hashbank.lookup.embedded). The answer names
fingerprint ids, distances and origins, never a stored value and nothing about cases. Every
answered lookup is counted for the partner's evidence (hashbank.lookup.tally); the hashes are
kept nowhere.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from hashbank.api.auth import ApiError
from hashbank.api.views import api, read_json_body
from hashbank.lookup.client import LookupUnavailable, lookup_remote
from hashbank.lookup.tally import lookup_counted
from hashbank.platform.lookup import MAX_HASHES, Lookup, LookupRefused, answer, parse_lookup


@api("POST", lookup_keys=True)
def lookup(request: HttpRequest) -> HttpResponse:
    try:
        asked = parse_lookup(read_json_body(request), max_hashes=MAX_HASHES)
    except LookupRefused as refused:
        raise ApiError(400, refused.code, refused.message) from None
    try:
        body, matched = _answer(asked)
    except LookupUnavailable as error:
        raise ApiError(503, error.code, error.message, {"Retry-After": str(error.retry_after)}) from None
    lookup_counted(partner_id=request.partner_key.partner_id, hashes=len(asked.queries),  # type: ignore[attr-defined]
                   matched=matched)
    return HttpResponse(body, content_type="application/json")


def _answer(asked: Lookup) -> tuple[bytes, int]:
    """The answer's JSON and how many hashes matched."""
    if settings.LOOKUP_URL:
        return lookup_remote(asked.as_json())
    if settings.JOBS_IN_PROCESS:
        from hashbank.lookup.embedded import embedded_view

        found, matched = answer(embedded_view(), asked)
        return json.dumps(found, separators=(",", ":")).encode("ascii"), matched
    raise LookupUnavailable("lookup_unavailable", "the hosted lookup is not set up on this server (LOOKUP_URL)",
                            retry_after=60)
