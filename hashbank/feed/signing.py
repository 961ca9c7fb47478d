"""Ed25519 signing keys for the feed.

Storage: private keys live in the database, encrypted (Fernet) under a key derived with HKDF
from FEED_KEY_SECRET (which defaults to SECRET_KEY). So `make run` needs no set-up: the first
signature generates a key. In production set FEED_KEY_SECRET to its own secret, so rotating
SECRET_KEY (sessions) does not lock the feed out of its keys; a database dump alone does not
give the signing keys away.

Rotation overlaps: `signing_key_rotate` (in hashbank.feed.checkpoint, since it re-signs the
checkpoint, which needs this module) makes a new active key and leaves the old one
published as "retiring" for FEED_KEY_OVERLAP_DAYS. The key set (`/api/v1/keys`) is signed by
every published key, so a partner that trusts the old key accepts the new one (the verifier
requires a trusted signature plus one from each new key).
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from hashbank.feed.head import head_lock
from hashbank.feedformat.canonical import FORMAT_VERSION, KEYS_KIND, format_time, key_id
from hashbank.models import SigningKey

_private_cache: dict[str, Ed25519PrivateKey] = {}


def _fernet() -> Fernet:
    secret = settings.FEED_KEY_SECRET.encode("utf-8")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"imageshield feed signing keys v1").derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def signing_key_generate() -> SigningKey:
    """A new key, not yet saved (the caller decides its status)."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    public = _raw_public(private)
    return SigningKey(
        kid=key_id(public),
        public_key=base64.b64encode(public).decode("ascii"),
        private_key_encrypted=_fernet().encrypt(raw_private).decode("ascii"),
        status=SigningKey.Status.ACTIVE,
        created_at=timezone.now(),
    )


def _private(key: SigningKey) -> Ed25519PrivateKey:
    private = _private_cache.get(key.kid)
    if private is None:
        raw = _fernet().decrypt(key.private_key_encrypted.encode("ascii"))
        private = Ed25519PrivateKey.from_private_bytes(raw)
        if _raw_public(private) != base64.b64decode(key.public_key):
            raise RuntimeError(f"signing key {key.kid} does not decrypt to its public key")
        _private_cache[key.kid] = private
    return private


def signing_key_active() -> SigningKey:
    """The key that signs now; the first call on an empty database creates one."""
    key = SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).order_by("-created_at", "-pk").first()
    if key is not None:
        return key
    with transaction.atomic():
        head_lock()  # one creator at a time, across processes
        key = SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).order_by("-created_at", "-pk").first()
        if key is None:
            key = signing_key_generate()
            key.save()
        return key


def keys_published() -> list[SigningKey]:
    """Active and retiring keys whose overlap has not ended, oldest first."""
    now = timezone.now()
    signing_key_active()
    return list(
        SigningKey.objects.filter(
            Q(status=SigningKey.Status.ACTIVE)
            | Q(status=SigningKey.Status.RETIRING, retire_after__gt=now)
        ).order_by("created_at", "pk")
    )


def sign(body: bytes, *, kid: str | None = None) -> tuple[str, str]:
    """(kid, base64 signature) over exactly `body`.

    `kid` is a hint: the key that signed the current checkpoint (read with the head anyway).
    When this process already holds that key, a page costs no query for the key; a kid is a
    digest of its public key, so a cached key under that kid is that key. Otherwise (first
    use, or the key changed) the active key is looked up."""
    private = _private_cache.get(kid) if kid else None
    if private is None:
        key = signing_key_active()
        kid, private = key.kid, _private(key)
    return kid, base64.b64encode(private.sign(body)).decode("ascii")


def keyset_document() -> tuple[bytes, dict[str, str]]:
    """The published key set and one signature per published key."""
    keys = keys_published()
    body = json.dumps(
        {
            "format": FORMAT_VERSION,
            "kind": KEYS_KIND,
            # Grows with every key ever made, so a consumer can refuse an older set.
            "version": SigningKey.objects.count(),
            "issued_at": format_time(timezone.now()),
            "keys": [
                {"kid": k.kid, "alg": "Ed25519", "public_key": k.public_key, "status": k.status,
                 "retire_after": format_time(k.retire_after) if k.retire_after else None}
                for k in keys
            ],
        },
        sort_keys=True, separators=(",", ":"),
    ).encode("ascii")
    return body, {k.kid: base64.b64encode(_private(k).sign(body)).decode("ascii") for k in keys}
