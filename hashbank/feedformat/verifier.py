"""Verify the signed partner feed: pure Python, no Django, only `cryptography` for Ed25519.

Platforms use this to consume the feed safely, and our own tests use it; the server builds
its entries and chain with the same functions (hashbank.feedformat.canonical and .chain), so
the format has exactly one definition.

What is signed: every feed document (page, checkpoint, key set, snapshot manifest, a
partner's evidence) is sent as bytes with a detached Ed25519 signature over exactly those
bytes, in two headers: `Feed-Key-Id: <kid>` and `Feed-Signature: <base64 signature>`. Check
the signature first, then parse: nothing unverified is ever interpreted.

The chain (hashbank.feedformat.chain): every entry is one line of canonical JSON, hashed
exactly as served, so a consumer hashes the lines it received, re-serialising nothing.
A page says where it starts (`cursor`, `prev_digest`) and where it ends (`next_cursor`,
`digest`); a checkpoint signs the head (`head_position`, `head_digest`). So a dropped,
repeated, reordered or altered page cannot continue the chain, and a checkpoint older than
one already seen, or expired, is refused.

Typical use (see docs/feed.md for a full example)::

    v = FeedVerifier(trusted_keys={"k1...": "<base64 public key>"})
    v.accept_checkpoint(body, key_id, signature)
    while True:
        page = v.accept_page(body, key_id, signature)   # raises VerifyError on any fault
        apply(page.entries)    # additions: position, op "add", id, signal_type, value, quality, case, origin, time
                               # withdrawals: position, op "withdraw", id, time
        if not page.more: break
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hashbank.feedformat.canonical import (
    ADD_FIELDS,
    CHECKPOINT_KIND,
    EVIDENCE_KIND,
    EVIDENCE_SECTIONS,
    FORMAT_VERSION,
    KEYS_KIND,
    LEGACY_FIELDS,
    ORIGINS,
    PAGE_KIND,
    SNAPSHOT_KIND,
    WITHDRAW_FIELDS,
    entry_bytes,
    key_id,
    parse_time,
)
from hashbank.feedformat.chain import GENESIS

#: The shapes an entry may take. Withdrawals published before format 2 repeat the value; they
#: stay in the chain as they were signed (its bytes cannot change) until retention prunes
#: them, so they are still accepted.
_SHAPES: dict[str, tuple[frozenset[str], ...]] = {
    "add": (frozenset(ADD_FIELDS), frozenset(LEGACY_FIELDS)),
    "withdraw": (frozenset(WITHDRAW_FIELDS), frozenset(LEGACY_FIELDS)),
}


class VerifyError(Exception):
    """The document is not authentic, or does not continue what was verified before."""


def _check_shape(entry: dict[str, Any], where: str, *, ops: tuple[str, ...] = ("add", "withdraw")) -> None:
    op = entry.get("op")
    if op not in ops or entry.keys() not in _SHAPES[op]:  # type: ignore[index]
        kinds = "an addition or a withdrawal" if len(ops) > 1 else "an addition"
        raise VerifyError(f"{where} is not {kinds}")
    if "origin" in entry and entry["origin"] not in ORIGINS:
        # An origin this verifier does not know: refused rather than misread (a consumer that
        # applies a policy by origin must never file it under one it knows).
        raise VerifyError(f"{where} has an unknown origin {entry['origin']!r}")


# --- Signatures --------------------------------------------------------------------------------


def _public_key(raw: bytes | str):  # -> Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if isinstance(raw, str):
        raw = base64.b64decode(raw, validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(body: bytes, kid: str, signature: str, keys: Mapping[str, bytes | str]) -> None:
    """Raise VerifyError unless `signature` (base64) is `kid`'s signature over `body`."""
    from cryptography.exceptions import InvalidSignature

    if kid not in keys:
        raise VerifyError(f"signed by unknown key {kid!r}")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
        _public_key(keys[kid]).verify(raw_signature, body)
    except (InvalidSignature, binascii.Error, ValueError):
        raise VerifyError("signature does not match the bytes received") from None


def _load(body: bytes, kind: str) -> dict[str, Any]:
    """Parse a document whose signature has already been checked, and check its kind (so a
    signed page cannot be passed off as a checkpoint)."""
    try:
        document = json.loads(body)
    except ValueError:
        raise VerifyError("signed document is not JSON") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise VerifyError(f"expected a {kind} document")
    if document.get("format") != FORMAT_VERSION:
        raise VerifyError(f"unsupported format {document.get('format')!r}; this verifier reads {FORMAT_VERSION}")
    return document


# --- Documents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    version: int
    head_position: int
    head_digest: str
    floor_position: int
    floor_digest: str
    issued_at: datetime
    expires_at: datetime
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Page:
    cursor: int
    prev_digest: str
    next_cursor: int
    digest: str
    more: bool
    entries: list[dict[str, Any]]
    #: The chain digest after each entry (hex), in order.
    chain: list[str] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class SnapshotManifest:
    position: int
    head_digest: str
    count: int
    sha256: str
    size: int
    created_at: datetime
    download: str


def verify_checkpoint(
    body: bytes,
    kid: str,
    signature: str,
    keys: Mapping[str, bytes | str],
    *,
    previous: Checkpoint | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """A checkpoint is accepted only if signed, unexpired, and not older than `previous`:
    its version never goes down, its head never moves back, and one version never names two
    different heads."""
    verify_signature(body, kid, signature, keys)
    d = _load(body, CHECKPOINT_KIND)
    try:
        checkpoint = Checkpoint(
            version=int(d["version"]), head_position=int(d["head_position"]), head_digest=str(d["head_digest"]),
            floor_position=int(d["floor_position"]), floor_digest=str(d["floor_digest"]),
            issued_at=parse_time(d["issued_at"]), expires_at=parse_time(d["expires_at"]), body=body,
        )
    except (KeyError, TypeError, ValueError):
        raise VerifyError("checkpoint is missing fields") from None
    if checkpoint.expires_at <= (now or datetime.now(UTC)):
        raise VerifyError("checkpoint has expired: the feed may be frozen or replayed")
    if previous is not None:
        if checkpoint.version < previous.version:
            raise VerifyError(f"checkpoint version {checkpoint.version} is older than {previous.version} (rollback)")
        if checkpoint.version == previous.version and checkpoint.body != previous.body:
            raise VerifyError("two different checkpoints carry the same version")
        if checkpoint.head_position < previous.head_position:
            raise VerifyError("checkpoint head moved backwards (rollback)")
    return checkpoint


def verify_page(
    body: bytes, kid: str, signature: str, keys: Mapping[str, bytes | str], *, cursor: int, prev_digest: str
) -> Page:
    """A page is accepted only if signed and it continues exactly from (`cursor`,
    `prev_digest`): positions follow on with no gap and the recomputed chain gives its digest."""
    verify_signature(body, kid, signature, keys)
    # The page's fixed layout: the envelope on the first line (ending in `"entries":[`), one
    # entry per line (each but the last followed by a comma), and "]}" alone on the last.
    lines = body.split(b"\n")
    if len(lines) < 2 or lines[-1] != b"]}" or not lines[0].endswith(b'"entries":['):
        raise VerifyError("page does not have the page layout")
    d = _load(body, PAGE_KIND)
    try:
        page = Page(cursor=int(d["cursor"]), prev_digest=str(d["prev_digest"]), next_cursor=int(d["next_cursor"]),
                    digest=str(d["digest"]), more=bool(d["more"]), entries=d["entries"])
    except (KeyError, TypeError, ValueError):
        raise VerifyError("page is missing fields") from None
    if page.cursor != cursor:
        raise VerifyError(f"page starts after {page.cursor}, expected {cursor}")
    if page.prev_digest != prev_digest:
        raise VerifyError("page does not continue the chain (a page was dropped, repeated or reordered)")
    entry_lines = lines[1:-1]
    if not isinstance(page.entries, list) or len(page.entries) != len(entry_lines):
        raise VerifyError("page must hold exactly one entry per line")
    digest = bytes.fromhex(prev_digest)
    position = cursor
    last = len(entry_lines) - 1
    sha256 = hashlib.sha256
    for index, (line, entry) in enumerate(zip(entry_lines, page.entries, strict=True)):
        if index < last:
            if not line.endswith(b","):
                raise VerifyError(f"entry line {index + 1} does not end with a comma")
            line = line[:-1]
        if not (line.startswith(b"{") and line.endswith(b"}")):
            raise VerifyError(f"entry line {index + 1} is not one entry")
        # The chain hashes each entry's bytes exactly as served (one entry a line, so the
        # entry parsed from the page is the one whose bytes were hashed).
        digest = sha256(digest + line).digest()
        page.chain.append(digest.hex())
        position += 1
        if not isinstance(entry, dict) or entry.get("position") != position:
            raise VerifyError(f"expected the entry at position {position}")
        _check_shape(entry, f"entry at position {position}")
    if page.next_cursor != position or page.digest != digest.hex():
        raise VerifyError("page digest does not match its entries")
    return page


def verify_keyset(
    body: bytes, signatures: Mapping[str, str], trusted: Mapping[str, bytes | str], *, previous_version: int = 0
) -> tuple[int, dict[str, str]]:
    """Accept a new key set: it must be signed by a key already trusted AND by every key it
    adds (so a stolen old key alone cannot introduce a new key, and nobody can publish a key
    they do not hold). Returns (version, {kid: base64 public key}) to trust from now on."""
    # Only a trusted key's signature lets us parse; then each new key must have signed too.
    trusted_signers = [kid for kid in signatures if kid in trusted]
    if not trusted_signers:
        raise VerifyError("key set is not signed by any key already trusted")
    for kid in trusted_signers:
        verify_signature(body, kid, signatures[kid], trusted)
    d = _load(body, KEYS_KIND)
    offered: dict[str, str] = {}
    try:
        for item in d["keys"]:
            public = base64.b64decode(item["public_key"], validate=True)
            if key_id(public) != item["kid"]:
                raise VerifyError(f"key id {item['kid']!r} does not match its key")
            offered[item["kid"]] = item["public_key"]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise VerifyError("key set is malformed") from None
    for kid in set(offered) - set(trusted):
        if kid not in signatures:
            raise VerifyError("key set adds a key that did not sign it")
        verify_signature(body, kid, signatures[kid], offered)
    version = int(d["version"])
    if version < previous_version:
        raise VerifyError(f"key set version {version} is older than {previous_version} (rollback)")
    return version, offered


def verify_snapshot_manifest(
    body: bytes, kid: str, signature: str, keys: Mapping[str, bytes | str]
) -> SnapshotManifest:
    verify_signature(body, kid, signature, keys)
    d = _load(body, SNAPSHOT_KIND)
    try:
        return SnapshotManifest(position=int(d["position"]), head_digest=str(d["head_digest"]), count=int(d["count"]),
                                sha256=str(d["sha256"]), size=int(d["size"]), created_at=parse_time(d["created_at"]),
                                download=str(d["download"]))
    except (KeyError, TypeError, ValueError):
        raise VerifyError("snapshot manifest is missing fields") from None


def verify_evidence(body: bytes, kid: str, signature: str, keys: Mapping[str, bytes | str]) -> dict[str, Any]:
    """An evidence document, accepted only if signed by a published key and of the evidence
    kind and this format (so no other signed document can be filed as evidence). Returns it
    parsed; its figures are the service's statement about one partner on `issued_at`."""
    verify_signature(body, kid, signature, keys)
    d = _load(body, EVIDENCE_KIND)
    try:
        if not isinstance(d["partner"], str) or not all(isinstance(d[name], dict) for name in EVIDENCE_SECTIONS):
            raise TypeError
        parse_time(d["issued_at"])
        datetime.strptime(d["period"]["from"], "%Y-%m-%d")
        datetime.strptime(d["period"]["to"], "%Y-%m-%d")
    except (KeyError, TypeError, ValueError):
        raise VerifyError("evidence document is missing fields") from None
    return d


def read_snapshot(manifest: SnapshotManifest, data: bytes) -> Iterator[dict[str, Any]]:
    """The entries of a snapshot file (gzipped NDJSON, one canonical entry a line), after
    checking the file against its signed manifest. After loading them, continue the feed
    from cursor `manifest.position` with prev_digest `manifest.head_digest`."""
    if len(data) != manifest.size or hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise VerifyError("snapshot file does not match its signed manifest")
    count = 0
    for line in gzip.decompress(data).splitlines():
        if not line:
            continue
        entry = json.loads(line)
        if entry_bytes(entry) != line:
            raise VerifyError("snapshot line is not canonical")
        _check_shape(entry, f"snapshot line {count + 1}", ops=("add",))
        count += 1
        yield entry
    if count != manifest.count:
        raise VerifyError(f"snapshot holds {count} entries, its manifest says {manifest.count}")


# --- A consumer's state ------------------------------------------------------------------------


class FeedVerifier:
    """What a consumer keeps between requests: trusted keys, the newest checkpoint, and how
    far along the chain it has verified. Persist `state()` with your records; rebuild with
    `FeedVerifier(trusted_keys, **state)`."""

    def __init__(
        self,
        trusted_keys: Mapping[str, bytes | str],
        *,
        position: int = 0,
        digest: str = GENESIS,
        keyset_version: int = 0,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.keys: dict[str, bytes | str] = dict(trusted_keys)
        self.position = position
        self.digest = digest
        self.keyset_version = keyset_version
        self.checkpoint = checkpoint

    def accept_keyset(self, body: bytes, signatures: Mapping[str, str]) -> None:
        self.keyset_version, self.keys = verify_keyset(body, signatures, self.keys,
                                                       previous_version=self.keyset_version)

    def accept_checkpoint(self, body: bytes, kid: str, signature: str, *, now: datetime | None = None) -> Checkpoint:
        checkpoint = verify_checkpoint(body, kid, signature, self.keys, previous=self.checkpoint, now=now)
        if self.position < checkpoint.floor_position:
            raise VerifyError("our position is older than the feed keeps: start again from the latest snapshot")
        if self.position == checkpoint.head_position and self.digest != checkpoint.head_digest:
            raise VerifyError("checkpoint head digest differs from the chain we verified (a fork)")
        self.checkpoint = checkpoint
        return checkpoint

    def accept_page(self, body: bytes, kid: str, signature: str) -> Page:
        page = verify_page(body, kid, signature, self.keys, cursor=self.position, prev_digest=self.digest)
        # Where the page passes the checkpoint's head, the chain must arrive at its digest.
        checkpoint = self.checkpoint
        if checkpoint is not None and page.cursor < checkpoint.head_position <= page.next_cursor:
            if page.chain[checkpoint.head_position - page.cursor - 1] != checkpoint.head_digest:
                raise VerifyError("the chain does not reach the checkpoint's head digest (a fork)")
        # A freeze attack (TUF's term): a stale but validly signed page saying "nothing more"
        # below the head we verified. A cache or a hostile network could hold back new entries,
        # withdrawals among them, while every run said OK. The page's entries are not applied
        # either: the consumer stays where it was and tries again.
        if checkpoint is not None and not page.more and page.next_cursor < checkpoint.head_position:
            raise VerifyError(
                f"page ends at position {page.next_cursor} with nothing more, but the verified checkpoint's head "
                f"is {checkpoint.head_position}: entries are being withheld (a stale or replayed page)"
            )
        self.position, self.digest = page.next_cursor, page.digest
        return page

    def accept_snapshot(self, manifest: SnapshotManifest, data: bytes) -> list[dict[str, Any]]:
        entries = list(read_snapshot(manifest, data))
        self.position, self.digest = manifest.position, manifest.head_digest
        return entries

    def state(self) -> dict[str, Any]:
        return {"position": self.position, "digest": self.digest, "keyset_version": self.keyset_version}
