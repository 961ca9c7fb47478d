"""Partner API views: parse, authenticate through one accessor, call one function, answer.

Every signed document is returned as its exact signed bytes with `Feed-Key-Id` and
`Feed-Signature` headers, so a partner verifies before parsing. Errors are JSON:
`{"error": {"code": "...", "message": "..."}}` and change nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hashbank.api import ratelimit
from hashbank.api.auth import ApiError, partner_key_for, refuse_keys_in_url
from hashbank.api.openapi import openapi_document
from hashbank.feed import delivery, pages, progress
from hashbank.feed import evidence as feed_evidence
from hashbank.feed.checkpoint import checkpoint_current
from hashbank.feed.push import PushUrlError, push_endpoint_status
from hashbank.feed.signing import keyset_document
from hashbank.models import PartnerFeedback, PushEndpoint, Snapshot
from hashbank.services import (
    FeedbackConflict,
    FeedbackItem,
    partner_feedback_record,
    push_endpoint_remove,
    push_endpoint_set,
)

CURSOR_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")
LIMIT_RE = re.compile(r"^[1-9][0-9]{0,3}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9._:~-]{1,100}$")
FINGERPRINT_ID_RE = re.compile(r"^[0-9a-f]{20}$")
MAX_FEEDBACK_ITEMS = 100
MAX_INT64 = 2**63 - 1


def api(*methods: str, auth: bool = True, lookup_keys: bool = False) -> Callable:
    """`lookup_keys`: lookup-only keys may use the view too (the hosted lookup, and the partner's
    own evidence of its lookups); every other view refuses them."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(405, "method_not_allowed", f"use {' or '.join(methods)}",
                                   {"Allow": ", ".join(methods)})
                refuse_keys_in_url(request)
                decision = None
                if auth:
                    request.partner_key = partner_key_for(request, lookup_keys=lookup_keys)  # type: ignore[attr-defined]
                    # Charged already by PartnerRateLimitMiddleware (before the database was
                    # touched); here only if that middleware is not installed.
                    decision = getattr(request, "partner_rate", None)
                    if decision is None:
                        decision = ratelimit.take(request.partner_key.key_hash[:32],  # type: ignore[attr-defined]
                                                  kind=ratelimit.kind_for(request.path))
                        if not decision.allowed:
                            return ratelimit.refusal(decision)
                response = view(request, *args, **kwargs)
                if decision is not None:
                    response["RateLimit-Remaining"] = str(decision.remaining)
            except ApiError as error:
                response = JsonResponse({"error": {"code": error.code, "message": error.message}},
                                        status=error.status)
                for name, value in error.headers.items():
                    response[name] = value
            # Feed contents are sensitive (hashes leak a blurry picture): never cached on the way.
            response["Cache-Control"] = "no-store"
            return response

        return wrapper

    return decorate


def signed(body: bytes, kid: str, signature: str, **headers: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/json")
    response["Feed-Key-Id"] = kid
    response["Feed-Signature"] = signature
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def int_param(request: HttpRequest, name: str, pattern: re.Pattern, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not pattern.fullmatch(raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"bad_{name}", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


@api("GET")
def feed(request: HttpRequest) -> HttpResponse:
    cursor = int_param(request, "cursor", CURSOR_RE, 0, 0, MAX_INT64)
    limit = int_param(request, "limit", LIMIT_RE, pages.DEFAULT_LIMIT, 1, pages.MAX_LIMIT)
    try:
        page = pages.page_signed(cursor=cursor, limit=limit)
    except pages.CursorAhead as exc:
        raise ApiError(400, "cursor_ahead", str(exc)) from None
    except pages.CursorExpired as exc:
        raise ApiError(410, "cursor_expired", str(exc)) from None
    key = request.partner_key  # type: ignore[attr-defined]
    progress.page_served(key.partner, page, key=key)  # the partner's evidence and the page's delivery
    return signed(page.body, page.kid, page.signature, Feed_Next_Cursor=str(page.next_cursor))


@api("GET")
def checkpoint(request: HttpRequest) -> HttpResponse:
    head = checkpoint_current()
    progress.checkpoint_served(request.partner_key.partner, head)  # type: ignore[attr-defined]
    return signed(bytes(head.checkpoint_body), head.checkpoint_kid, head.checkpoint_signature)


@api("GET", lookup_keys=True)
def evidence(request: HttpRequest) -> HttpResponse:
    """The calling partner's own evidence: the partner comes from the key, never from the URL.
    Lookup-only keys may fetch it too: its figures are the partner's own, not the list's."""
    try:
        period = feed_evidence.evidence_period(request.GET.get("from"), request.GET.get("to"))
    except feed_evidence.BadPeriod as exc:
        raise ApiError(400, "bad_period", str(exc)) from None
    partner = request.partner_key.partner  # type: ignore[attr-defined]
    if wants_csv(request):
        document = feed_evidence.evidence_document(partner=partner, period=period)
        response = HttpResponse(feed_evidence.evidence_csv(document), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="imageshield-evidence-{period.first.isoformat()}-{period.last.isoformat()}.csv"'
        )
        return response
    signed_evidence = feed_evidence.evidence_signed(partner=partner, period=period)
    return signed(signed_evidence.body, signed_evidence.kid, signed_evidence.signature)


def wants_csv(request: HttpRequest) -> bool:
    """`format=csv` (or `json`) decides; without it, an Accept header preferring text/csv."""
    fmt = request.GET.get("format")
    if fmt is not None:
        if fmt not in ("json", "csv"):
            raise ApiError(400, "bad_format", "format must be json or csv")
        return fmt == "csv"
    return request.get_preferred_type(["application/json", "text/csv"]) == "text/csv"


@api("GET", auth=False)
def keys(request: HttpRequest) -> HttpResponse:
    body, signatures = keyset_document()
    response = HttpResponse(body, content_type="application/json")
    response["Feed-Signatures"] = ", ".join(f"{kid}={sig}" for kid, sig in signatures.items())
    return response


@api("GET")
def snapshot_latest(request: HttpRequest) -> HttpResponse:
    snapshot = Snapshot.objects.order_by("-position").first()
    if snapshot is None:
        raise ApiError(404, "no_snapshot", "no snapshot has been made yet; follow the feed from cursor 0")
    return signed(bytes(snapshot.manifest_body), snapshot.kid, snapshot.signature)


@api("GET")
def snapshot_file(request: HttpRequest, position: int) -> HttpResponse:
    from hashbank.feed.snapshots import snapshot_path

    snapshot = Snapshot.objects.filter(position=position).first()
    path = snapshot_path(snapshot) if snapshot else None
    if path is None or not path.exists():
        raise ApiError(404, "no_snapshot", "no snapshot at this position; fetch /api/v1/snapshots/latest")
    delivery.snapshot_served(request.partner_key, position=snapshot.position)  # type: ignore[attr-defined]
    if settings.FEED_SNAPSHOT_ACCEL_PREFIX:
        # Behind nginx: it sends the file from its internal location (the snapshot directory
        # on disk, or an object store it proxies to), so a 740 MB snapshot never passes
        # through a web worker. The fetch is recorded above either way.
        response = HttpResponse(b"", content_type="application/gzip")
        response["X-Accel-Redirect"] = settings.FEED_SNAPSHOT_ACCEL_PREFIX + snapshot.file_name
        response["Content-Disposition"] = f'attachment; filename="{snapshot.file_name}"'
        return response
    return FileResponse(path.open("rb"), content_type="application/gzip", as_attachment=True,
                        filename=snapshot.file_name)


@api("POST")
def feedback(request: HttpRequest) -> HttpResponse:
    items = parse_feedback(read_json_body(request))
    try:
        statuses = partner_feedback_record(partner=request.partner_key.partner, items=items)  # type: ignore[attr-defined]
    except FeedbackConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from None
    return JsonResponse({"results": [{"idempotency_key": item.idempotency_key, "status": status}
                                     for item, status in zip(items, statuses, strict=True)]})


@api("GET", "PUT", "DELETE")
def push(request: HttpRequest) -> HttpResponse:
    """The calling partner's push endpoint (hashbank.feed.push): PUT registers or changes it
    (and resumes a paused one), DELETE forgets it, GET says how pushing to it goes. A feed key
    only (the default of `api`): a lookup-only key has no feed to be told about."""
    partner = request.partner_key.partner  # type: ignore[attr-defined]
    if request.method == "PUT":
        data = read_json_body(request)
        if not isinstance(data, dict) or set(data) != {"url"} or not isinstance(data["url"], str):
            raise ApiError(400, "bad_push", 'expected {"url": "https://..."}')
        try:
            endpoint = push_endpoint_set(partner=partner, url=data["url"])
        except PushUrlError as exc:
            raise ApiError(400, "bad_url", str(exc)) from None
        return JsonResponse(push_endpoint_status(endpoint))
    if request.method == "DELETE":
        push_endpoint_remove(partner=partner)
        return HttpResponse(status=204)
    endpoint = PushEndpoint.objects.filter(partner=partner).first()
    if endpoint is None:
        raise ApiError(404, "no_push_endpoint", 'no push URL registered: PUT /api/v1/push {"url": "https://..."}')
    return JsonResponse(push_endpoint_status(endpoint))


@api("GET", auth=False)
def openapi(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_document())


@api("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", auth=False)
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/v1/: the documented JSON error, never the site's HTML page."""
    raise ApiError(404, "not_found", "no such endpoint; see /api/v1/openapi.json")


def read_json_body(request: HttpRequest) -> Any:
    cap = settings.FEED_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > cap:
        raise ApiError(413, "body_too_large", f"request bodies are limited to {cap} bytes")
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    raw = request.read(cap + 1)
    if len(raw) > cap:
        raise ApiError(413, "body_too_large", f"request bodies are limited to {cap} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting thousands deep; a 400 like any other unreadable body.
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None


def parse_feedback(data: Any) -> list[FeedbackItem]:
    outcomes = set(PartnerFeedback.Outcome.values)
    if not isinstance(data, dict) or set(data) != {"feedback"} or not isinstance(data["feedback"], list):
        raise ApiError(400, "bad_feedback", 'expected {"feedback": [...]}')
    reports = data["feedback"]
    if not 1 <= len(reports) <= MAX_FEEDBACK_ITEMS:
        raise ApiError(400, "bad_feedback", f"send from 1 to {MAX_FEEDBACK_ITEMS} reports at a time")
    items = []
    for index, report in enumerate(reports):
        where = f"feedback[{index}]"
        if not isinstance(report, dict) or set(report) != {"id", "outcome", "idempotency_key"}:
            raise ApiError(400, "bad_feedback", f"{where}: expected exactly id, outcome and idempotency_key")
        fingerprint_id, outcome, key = report["id"], report["outcome"], report["idempotency_key"]
        if not isinstance(fingerprint_id, str) or not FINGERPRINT_ID_RE.fullmatch(fingerprint_id):
            raise ApiError(400, "bad_feedback", f"{where}.id: expected an entry id from the feed (20 hex digits)")
        if not isinstance(outcome, str) or outcome not in outcomes:
            raise ApiError(400, "bad_feedback", f"{where}.outcome: expected one of {', '.join(sorted(outcomes))}")
        if not isinstance(key, str) or not IDEMPOTENCY_KEY_RE.fullmatch(key):
            raise ApiError(400, "bad_feedback",
                           f"{where}.idempotency_key: 1 to 100 characters from A-Z a-z 0-9 . _ : ~ -")
        items.append(FeedbackItem(fingerprint_id=fingerprint_id, outcome=outcome, idempotency_key=key))
    return items
