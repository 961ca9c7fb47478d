"""The feed's canonical form: its format constants, entry bytes, key ids and times.

Everything here is shared, byte for byte, by the server that writes the feed
(hashbank.feed), the verifier that checks it (hashbank.feedformat.verifier) and the platform
tools that consume it (hashbank.platform), so a change to the format is a change in one place.
Pure Python, standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: 2: a withdrawal names only the fingerprint id (format 1 repeated its value, issue 11), and
#: an addition says where its case was made (`origin`, issue 12).
FORMAT_VERSION = 2
PAGE_KIND = "imageshield.feed.page"
CHECKPOINT_KIND = "imageshield.feed.checkpoint"
KEYS_KIND = "imageshield.feed.keys"
SNAPSHOT_KIND = "imageshield.feed.snapshot"
#: What a partner files to show which list it used and how fresh it was (GET /api/v1/evidence).
EVIDENCE_KIND = "imageshield.feed.evidence"
#: The fields of an addition: everything a platform needs to match, and `origin`: "survivor"
#: (made on the survivor's own device through the public pages) or "helpline" (made with a
#: caseworker of a member organisation, the client present).
ADD_FIELDS = ("case", "id", "op", "origin", "position", "quality", "signal_type", "time", "value")
ORIGINS = ("survivor", "helpline")
#: An addition published before origins were recorded (format 1): no `origin`.
LEGACY_FIELDS = ("case", "id", "op", "position", "quality", "signal_type", "time", "value")
#: The fields of a withdrawal (a tombstone): the id is enough, since the addition it withdraws
#: named the id with its value. A tombstone that repeated the value would keep a deleted case's
#: fingerprints in the feed, in our database and on every consumer's disk for the whole
#: retention period, for nothing.
WITHDRAW_FIELDS = ("id", "op", "position", "time")
#: Sections of an evidence document (docs/feed.md "Evidence for the regulator"), each an object.
EVIDENCE_SECTIONS = ("period", "checkpoint", "head", "behind", "fetched", "feedback", "list")


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one entry: what is served and what the chain hashes."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def key_id(public_key: bytes) -> str:
    """A key's id: 'ed25519:' and the first 16 hex digits of the SHA-256 of the raw key."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def origin_of(entry: Mapping[str, Any]) -> str:
    """An addition's origin: "survivor", "helpline", or "unrecorded" for one published
    before origins were (it carries no `origin` field)."""
    return str(entry.get("origin", "unrecorded"))
