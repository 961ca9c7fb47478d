"""The OpenAPI 3 description of the whole partner API, served at /api/v1/openapi.json and
used by the test suite to fuzz the API (schemathesis). Keep it in step with views.py."""

from __future__ import annotations

from typing import Any

from hashbank.feedformat.canonical import FORMAT_VERSION
from hashbank.fingerprints import SIGNAL_TYPES

HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SIGNED_HEADERS = {
    "Feed-Key-Id": {"description": "Id of the key that signed the body (see /keys).",
                    "schema": {"type": "string"}},
    "Feed-Signature": {"description": "Base64 Ed25519 signature over exactly the bytes of the body.",
                       "schema": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _signed(description: str, schema: str, extra_headers: dict | None = None) -> dict[str, Any]:
    return {
        "description": description + " Verify Feed-Signature over the raw body before parsing it.",
        "headers": {**SIGNED_HEADERS, **(extra_headers or {})},
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


PUSH_STATUS = {"$ref": "#/components/schemas/PushStatus"}

AUTH_ERRORS = {
    "400": _error("A key was put in the URL (never do this), or a parameter is malformed."),
    "401": _error("Missing, unknown or revoked key."),
    "403": _error("The partner's access is suspended (code partner_inactive), or a lookup-only key was used "
                  "anywhere but POST /lookup and GET /evidence (code lookup_only_key)."),
    "429": {
        "description": "This key is over its rate limit (code rate_limited): wait Retry-After seconds. A token "
                       "bucket per key: PARTNER_RATE_BURST requests at once, PARTNER_RATE_PER_SECOND on average.",
        "headers": {"Retry-After": {"description": "Whole seconds to wait, at least 1.",
                                    "schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


def _counts(names: list[str], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "required": [*names, "total"],
            "additionalProperties": False,
            "properties": {name: {"type": "integer", "minimum": 0} for name in [*names, "total"]}}


def _evidence_schema(fmt: dict[str, Any]) -> dict[str, Any]:
    """GET /evidence (hashbank.feed.evidence); kept in step with it by tests/test_partner_evidence.py."""
    from hashbank.feed.evidence import UNRECORDED
    from hashbank.models import FingerprintReview, PartnerFeedback

    count = {"type": "integer", "minimum": 0}
    when = {"type": "string", "nullable": True, "description": "UTC, YYYY-MM-DDTHH:MM:SSZ; null if never."}
    causes = [*FingerprintReview.Cause.values, UNRECORDED]

    def section(properties: dict[str, Any], description: str) -> dict[str, Any]:
        return {"type": "object", "description": description, "additionalProperties": False,
                "required": list(properties), "properties": properties}

    return section({
        "kind": {"type": "string", "enum": ["imageshield.feed.evidence"]},
        "format": fmt,
        "partner": {"type": "string", "description": "The calling key's partner."},
        "issued_at": {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SSZ."},
        "period": section({"from": {"type": "string"}, "to": {"type": "string"},
                           "days": {"type": "integer", "minimum": 1, "maximum": 366}},
                          "The days (UTC, both included) that feedback and list figures cover."),
        "checkpoint": section({"version": count, "head_position": count, "fetched_at": when},
                              "The newest checkpoint you fetched (0 and null: none yet)."),
        "head": section({"position": count, "checkpoint_version": count}, "The feed's head when issued."),
        "behind": section({"entries": count, "seconds_since_last_page": {**count, "nullable": True},
                           "oldest_unfetched_published_at": when},
                          "How far behind the head you are: entries not yet fetched, seconds since a page last "
                          "reached your position, and when the oldest entry you have not fetched was published."),
        "fetched": section({"position": count, "last_page_at": when, "first_fetch_at": when,
                            "additions": count, "withdrawals": count},
                           "What feed pages served you since your first fetch (not limited to the period; "
                           "entries loaded from a snapshot file are not counted)."),
        "feedback": _counts(list(PartnerFeedback.Outcome.values), "Your match reports in the period, by outcome."),
        "lookups": section({"requests": count, "hashes": count, "matched": count},
                           "Your hosted lookups (POST /lookup) on the days of the period: requests answered, hashes "
                           "asked about, and hashes that matched. Only counts: the hashes are never kept."),
        "list": section({
            "held": _counts(causes, "Holds in the period (fingerprints taken out of the feed for review), by cause."),
            "cleared": _counts(causes, "Holds cleared in the period (back in the feed), by the cause of the hold."),
            "removed": _counts(causes, "Fingerprints removed for good after review in the period, by cause."),
            "active_fingerprints": count,
        }, "The whole list's review figures for the period, and its active fingerprints when issued."),
    }, "Signed; one partner's own figures.")


def openapi_document() -> dict[str, Any]:
    common = {
        "position": {"type": "integer", "minimum": 1, "description": "Place in the feed; dense, from 1."},
        "id": {"type": "string", "pattern": "^[0-9a-f]{20}$",
               "description": "The fingerprint's id: key your records by it; quote it in feedback."},
        "time": {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SSZ: when it was published."},
    }
    matching = {
        "signal_type": {"type": "string", "enum": sorted(SIGNAL_TYPES),
                        "description": "python-threatexchange's signal type names."},
        "value": {"type": "string", "description": "Lowercase hex (vpdq: python-threatexchange's JSON list)."},
        "quality": {"type": "integer", "nullable": True, "minimum": 0, "maximum": 100},
        "case": {"type": "string", "description": "Opaque random token grouping one case's fingerprints."},
    }
    addition = {
        "type": "object",
        "additionalProperties": False,
        "description": "Start matching. Additions published before origins were recorded have no origin "
                       "(treat them as unrecorded).",
        "required": ["position", "op", "id", "signal_type", "value", "quality", "case", "origin", "time"],
        "properties": {**common, "op": {"type": "string", "enum": ["add"], "description": "Start matching."},
                       **matching,
                       "origin": {"type": "string", "enum": ["survivor", "helpline"],
                                  "description": "survivor: made on the survivor's own device through the public "
                                                 "pages; helpline: made with a caseworker of a member organisation, "
                                                 "the client present. See docs/feed.md for a suggested policy."}},
    }
    withdrawal = {
        "type": "object",
        "additionalProperties": False,
        "description": "A tombstone: stop matching the fingerprint this id named. It carries only the id (format 2); "
                       "withdrawals published before format 2 also repeat signal_type, value, quality and case, "
                       "which a consumer ignores.",
        "required": ["position", "op", "id", "time"],
        "properties": {**common, "op": {"type": "string", "enum": ["withdraw"]}, **matching},
    }
    entry = {"oneOf": [{"$ref": "#/components/schemas/Addition"}, {"$ref": "#/components/schemas/Withdrawal"}]}
    fmt = {"type": "integer", "enum": [FORMAT_VERSION]}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Image Shield partner feed",
            "version": "1",
            "description": (
                "A signed, append-only feed of fingerprints (additions and withdrawals) that survivors made of "
                "their own images, for platforms to block matching uploads after their own review. Every "
                "document is signed with Ed25519 over its exact bytes; pages form a hash chain; a signed "
                "checkpoint names the head. See docs/feed.md for the format and a worked example."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"partnerKey": []}],
        "paths": {
            "/feed": {
                "get": {
                    "operationId": "getFeedPage",
                    "summary": "Entries after a cursor, oldest first, as one signed page.",
                    "parameters": [
                        {"name": "cursor", "in": "query", "required": False,
                         "description": "The last position you applied (next_cursor of your last page); 0 to start.",
                         "schema": {"type": "string", "pattern": "^(0|[1-9][0-9]{0,18})$", "default": "0"}},
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000}},
                    ],
                    "responses": {
                        "200": _signed("A page.", "Page", {"Feed-Next-Cursor": {"schema": {"type": "string"}}}),
                        **AUTH_ERRORS,
                        "400": _error("A parameter is malformed, a key was put in the URL, or the cursor is "
                                      "beyond the head (code cursor_ahead: you hold positions this feed never "
                                      "published; restart from the latest snapshot)."),
                        "410": _error("The cursor is older than the feed keeps: load the latest snapshot."),
                    },
                }
            },
            "/checkpoint": {
                "get": {
                    "operationId": "getCheckpoint",
                    "summary": "The signed head: refuse one older than the last you accepted, or expired.",
                    "responses": {"200": _signed("The checkpoint.", "Checkpoint"), **AUTH_ERRORS},
                }
            },
            "/keys": {
                "get": {
                    "operationId": "getKeys",
                    "summary": "Published signing keys, signed by every one of them (for rotation).",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The key set.",
                            "headers": {"Feed-Signatures": {
                                "description": "kid=base64 signature pairs, comma-separated, one per published key.",
                                "schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KeySet"}}},
                        },
                        "400": AUTH_ERRORS["400"],
                    },
                }
            },
            "/snapshots/latest": {
                "get": {
                    "operationId": "getLatestSnapshot",
                    "summary": "The signed manifest of the newest full snapshot.",
                    "responses": {"200": _signed("The manifest.", "SnapshotManifest"), **AUTH_ERRORS,
                                  "404": _error("No snapshot yet.")},
                }
            },
            "/snapshots/{position}/file": {
                "get": {
                    "operationId": "getSnapshotFile",
                    "summary": "The snapshot: gzipped NDJSON, one canonical entry a line; check its sha256.",
                    "parameters": [{"name": "position", "in": "path", "required": True,
                                    "schema": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807}}],
                    "responses": {
                        "200": {"description": "The file.",
                                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}},
                        **AUTH_ERRORS,
                        "404": _error("No snapshot at this position."),
                    },
                }
            },
            "/feedback": {
                "post": {
                    "operationId": "postFeedback",
                    "summary": "Report what happened when an upload matched (idempotent per idempotency_key).",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}},
                    },
                    "responses": {
                        "200": {"description": "One status per report: recorded, duplicate (a retry: nothing "
                                               "changed) or unknown_fingerprint (withdrawn and erased).",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/FeedbackResponse"}}}},
                        **AUTH_ERRORS,
                        "409": _error("An idempotency_key was already used for a different report; nothing stored."),
                        "413": _error("Body over the size limit (64 KiB)."),
                        "415": _error("Not application/json."),
                    },
                }
            },
            "/evidence": {
                "get": {
                    "operationId": "getEvidence",
                    "summary": "Your own evidence: the newest checkpoint you fetched, how far behind the head you "
                               "are, what you fetched, your feedback and the list's review figures for a period.",
                    "description": "What a platform files to show which list it used and how fresh it was. The "
                                   "JSON is signed like every feed document (check it with python -m "
                                   "hashbank.feedformat); the CSV holds the same figures for people and "
                                   "is not signed. Only the calling key's partner: there is no way to ask for "
                                   "another's.",
                    "parameters": [
                        {"name": "from", "in": "query", "required": False,
                         "description": "First day (UTC, included), YYYY-MM-DD. Default: 29 days before `to`.",
                         "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
                        {"name": "to", "in": "query", "required": False,
                         "description": "Last day (UTC, included), YYYY-MM-DD, not after today. Default: today. "
                                        "At most 366 days from `from` to `to`.",
                         "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
                        {"name": "format", "in": "query", "required": False,
                         "description": "json (signed, the default) or csv (for people, not signed); without it, "
                                        "Accept: text/csv also gives the CSV.",
                         "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "The signed evidence document (JSON), or with format=csv a CSV: a header "
                                           "row section,name,value, then one figure a row. Verify Feed-Signature "
                                           "over the raw JSON body before parsing it.",
                            "headers": {name: {**header, "description": header["description"] + " (JSON only.)"}
                                        for name, header in SIGNED_HEADERS.items()},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Evidence"}},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        **AUTH_ERRORS,
                        "400": _error("A key was put in the URL, format is not json or csv (code bad_format), or "
                                      "the period cannot be answered (code bad_period): a date not written "
                                      "YYYY-MM-DD or not in the calendar, from after to, to after today (UTC), or "
                                      "more than 366 days."),
                    },
                }
            },
            "/lookup": {
                "post": {
                    "operationId": "postLookup",
                    "summary": "Which active fingerprints match these hashes (the hosted lookup, for services "
                               "that do not hold the list).",
                    "description": "Up to 100 hashes a request, each validated by the fingerprint library first "
                                   "(a malformed one is a 400 naming it, and nothing is looked up or counted). PDQ "
                                   "matches within the threshold (default 31) and needs its quality: under 50 it is "
                                   "skipped, as flat images match unrelated pictures. md5 and sha256 match exactly. "
                                   "vpdq is answered per hash with unsupported_signal_type for now. Answers give "
                                   "fingerprint ids, distances and origins, never a stored hash and nothing about "
                                   "cases. Lookup-only keys may use it (and GET /evidence), nothing else. Its own "
                                   "rate limit per key: LOOKUP_RATE_BURST at once, LOOKUP_RATE_PER_SECOND on "
                                   "average.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LookupRequest"}}},
                    },
                    "responses": {
                        "200": {"description": "One result per hash, in the order asked.",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/LookupResponse"}}}},
                        **AUTH_ERRORS,
                        "400": _error("A hash is malformed (code bad_hash, naming it: hashes[3].value: ...), more "
                                      "than 100 hashes (too_many_hashes), a bad threshold, the body is not the "
                                      "expected object, or a key was put in the URL."),
                        "413": _error("Body over the size limit (64 KiB)."),
                        "415": _error("Not application/json."),
                        "503": {
                            "description": "The lookup index is not running, starting, or could not follow the feed "
                                           "for a minute (codes lookup_unavailable, lookup_starting, lookup_stale): "
                                           "wait Retry-After seconds and ask again. Never a partial answer.",
                            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        },
                    },
                }
            },
            "/push": {
                "description": "Your push endpoint: an HTTPS URL we POST the signed checkpoint to (exactly the body "
                               "and Feed-Key-Id / Feed-Signature headers GET /checkpoint answers) when new entries "
                               "are published, so you sync at once instead of polling. Verify it with the keys you "
                               "trust, then run your usual verified sync; never use its body otherwise. Every "
                               "delivery resolves your host and refuses private, loopback, link-local and other "
                               "non-public addresses; redirects are not followed; answer 2xx within a few seconds "
                               "(sync after answering). See docs/feed.md, Push.",
                "get": {
                    "operationId": "getPush",
                    "summary": "How pushing to your endpoint goes: its URL, state, last success, failures in a row.",
                    "responses": {
                        "200": {"description": "The endpoint's status.",
                                "content": {"application/json": {"schema": PUSH_STATUS}}},
                        **AUTH_ERRORS,
                        "404": _error("No push endpoint registered (code no_push_endpoint)."),
                    },
                },
                "put": {
                    "operationId": "putPush",
                    "summary": "Register or change your push endpoint; registering again resumes a paused one.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}},
                    },
                    "responses": {
                        "200": {"description": "Registered; a first push follows within seconds.",
                                "content": {"application/json": {"schema": PUSH_STATUS}}},
                        **AUTH_ERRORS,
                        "400": _error('The body is not {"url": "https://..."} (code bad_push), or the URL cannot '
                                      "be used (code bad_url: not https, credentials in it, a local name or a "
                                      "non-public IP address, over 500 characters), or a key was put in the URL."),
                        "413": _error("Body over the size limit (64 KiB)."),
                        "415": _error("Not application/json."),
                    },
                },
                "delete": {
                    "operationId": "deletePush",
                    "summary": "Forget your push endpoint (nothing more is pushed; polling works as before).",
                    "responses": {"204": {"description": "Forgotten (or there was none)."}, **AUTH_ERRORS},
                },
            },
            "/openapi.json": {
                "get": {"operationId": "getOpenApi", "summary": "This description.", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3 document.",
                                              "content": {"application/json": {"schema": {"type": "object"}}}},
                                      "400": AUTH_ERRORS["400"]}}
            },
        },
        "components": {
            "securitySchemes": {
                "partnerKey": {"type": "http", "scheme": "bearer",
                               "description": "Authorization: Bearer isk_<prefix>_<secret>. Never in a URL."}
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"],
                                             "properties": {"code": {"type": "string"},
                                                            "message": {"type": "string"}}}},
                },
                "Entry": entry,
                "Addition": addition,
                "Withdrawal": withdrawal,
                "Page": {
                    "type": "object",
                    "required": ["kind", "format", "cursor", "prev_digest", "entries", "next_cursor", "digest",
                                 "more"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["imageshield.feed.page"]},
                        "format": fmt,
                        "cursor": {"type": "integer", "minimum": 0},
                        "prev_digest": HEX64,
                        "entries": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/Entry"}},
                        "next_cursor": {"type": "integer", "minimum": 0},
                        "digest": HEX64,
                        "more": {"type": "boolean"},
                    },
                },
                "Checkpoint": {
                    "type": "object",
                    "required": ["kind", "format", "version", "head_position", "head_digest", "floor_position",
                                 "floor_digest", "issued_at", "expires_at"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["imageshield.feed.checkpoint"]},
                        "format": fmt,
                        "version": {"type": "integer", "minimum": 1},
                        "head_position": {"type": "integer", "minimum": 0},
                        "head_digest": HEX64,
                        "floor_position": {"type": "integer", "minimum": 0},
                        "floor_digest": HEX64,
                        "issued_at": {"type": "string"},
                        "expires_at": {"type": "string"},
                    },
                },
                "KeySet": {
                    "type": "object", "required": ["kind", "format", "version", "keys", "issued_at"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["imageshield.feed.keys"]},
                        "format": fmt,
                        "version": {"type": "integer"},
                        "issued_at": {"type": "string"},
                        "keys": {"type": "array", "items": {
                            "type": "object", "required": ["kid", "alg", "public_key", "status"],
                            "properties": {"kid": {"type": "string"}, "alg": {"type": "string", "enum": ["Ed25519"]},
                                           "public_key": {"type": "string"},
                                           "status": {"type": "string", "enum": ["active", "retiring"]},
                                           "retire_after": {"type": "string", "nullable": True}}}},
                    },
                },
                "SnapshotManifest": {
                    "type": "object",
                    "required": ["kind", "format", "position", "head_digest", "count", "sha256", "size",
                                 "created_at", "download"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["imageshield.feed.snapshot"]},
                        "format": fmt,
                        "position": {"type": "integer", "minimum": 0},
                        "head_digest": HEX64,
                        "count": {"type": "integer", "minimum": 0},
                        "sha256": HEX64,
                        "size": {"type": "integer", "minimum": 0},
                        "created_at": {"type": "string"},
                        "download": {"type": "string"},
                    },
                },
                "Evidence": _evidence_schema(fmt),
                "FeedbackRequest": {
                    "type": "object", "additionalProperties": False, "required": ["feedback"],
                    "properties": {"feedback": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
                        "type": "object", "additionalProperties": False,
                        "required": ["id", "outcome", "idempotency_key"],
                        "properties": {
                            "id": {"type": "string", "pattern": "^[0-9a-f]{20}$"},
                            "outcome": {"type": "string",
                                        "enum": ["pending_review", "blocked", "not_blocked", "false_match"]},
                            "idempotency_key": {"type": "string", "pattern": "^[A-Za-z0-9._:~-]{1,100}$"},
                        }}}},
                },
                "LookupRequest": {
                    "type": "object", "additionalProperties": False, "required": ["hashes"],
                    "properties": {
                        "hashes": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
                            "type": "object", "additionalProperties": False, "required": ["signal_type", "value"],
                            "properties": {
                                "signal_type": {"type": "string", "enum": sorted(SIGNAL_TYPES),
                                                "description": "pdq, md5 and sha256 are looked up; vpdq is "
                                                               "answered with unsupported_signal_type for now."},
                                "value": {"type": "string", "description": "Hex, as the fingerprint library "
                                                                           "writes it (case and spaces at the ends "
                                                                           "do not matter)."},
                                "quality": {"type": "integer", "nullable": True, "minimum": 0, "maximum": 100,
                                            "description": "Required for pdq (as pdqhash returns it); absent for "
                                                           "the others."},
                            }}},
                        "threshold": {"type": "integer", "minimum": 0, "maximum": 31, "default": 31,
                                      "description": "Largest PDQ distance reported."},
                    },
                },
                "LookupResponse": {
                    "type": "object", "required": ["position", "results"],
                    "properties": {
                        "position": {"type": "integer", "minimum": 0,
                                     "description": "The feed position the lookup index was at."},
                        "results": {"type": "array", "items": {
                            "type": "object", "required": ["index", "matches"],
                            "properties": {
                                "index": {"type": "integer", "minimum": 0,
                                          "description": "The hash's place in the request."},
                                "matches": {"type": "array", "items": {
                                    "type": "object", "required": ["id", "distance", "origin", "signal_type"],
                                    "properties": {
                                        "id": common["id"],
                                        "distance": {"type": "integer", "minimum": 0, "maximum": 31},
                                        "origin": {"type": "string",
                                                   "enum": ["survivor", "helpline", "unrecorded"]},
                                        "signal_type": {"type": "string", "enum": ["pdq", "md5", "sha256"]},
                                    }}},
                                "skipped": {"$ref": "#/components/schemas/Reason"},
                                "error": {"$ref": "#/components/schemas/Reason"},
                            }}},
                    },
                },
                "Reason": {
                    "type": "object", "required": ["code", "message"],
                    "description": "skipped: not looked up (low_quality); error: not answered for this hash "
                                   "(unsupported_signal_type).",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
                "PushRequest": {
                    "type": "object", "additionalProperties": False, "required": ["url"],
                    "properties": {"url": {"type": "string", "maxLength": 500, "pattern": "^https://",
                                           "description": "https only; a public host name or IP address, any "
                                                          "port, a path and query of your choice; no user name or "
                                                          "password."}},
                },
                "PushStatus": {
                    "type": "object",
                    "required": ["url", "state", "message", "pushed_version", "last_success_at", "last_failure_at",
                                 "failures", "last_error", "next_attempt_at", "pause_after_failures"],
                    "properties": {
                        "url": {"type": "string"},
                        "state": {"type": "string", "enum": ["active", "retrying", "paused", "off"],
                                  "description": "active: pushes are on; retrying: the last push failed and is tried "
                                                 "again at next_attempt_at (backoff doubling to an hour); paused: "
                                                 "pause_after_failures pushes failed in a row, PUT the URL again to "
                                                 "resume; off: switched off (PUT the URL again)."},
                        "message": {"type": "string", "description": "The state in words."},
                        "pushed_version": {"type": "integer", "minimum": 0,
                                           "description": "The newest checkpoint version your endpoint accepted."},
                        "last_success_at": {"type": "string", "nullable": True},
                        "last_failure_at": {"type": "string", "nullable": True},
                        "failures": {"type": "integer", "minimum": 0, "description": "Failed pushes in a row."},
                        "last_error": {"type": "string",
                                       "description": "What went wrong last (empty after a success)."},
                        "next_attempt_at": {"type": "string", "nullable": True},
                        "pause_after_failures": {"type": "integer", "minimum": 1},
                    },
                },
                "FeedbackResponse": {
                    "type": "object", "required": ["results"],
                    "properties": {"results": {"type": "array", "items": {
                        "type": "object", "required": ["idempotency_key", "status"],
                        "properties": {"idempotency_key": {"type": "string"},
                                       "status": {"type": "string",
                                                  "enum": ["recorded", "duplicate", "unknown_fingerprint"]}}}}},
                },
            },
        },
    }
