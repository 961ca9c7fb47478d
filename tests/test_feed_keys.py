"""Signing keys: stored encrypted, made on first use, rotated with an overlap that partners can follow."""

import base64
import json

import pytest
from django.core.management import call_command

from hashbank.feed import checkpoint, signing
from hashbank.feedformat import FeedVerifier, VerifyError, verify_keyset
from hashbank.models import SigningKey
from hashbank.services import case_create, partner_create, partner_key_issue
from tests.feed_helpers import auth, one_file, publish

pytestmark = pytest.mark.django_db


def keyset(client):
    response = client.get("/api/v1/keys")
    signatures = dict(pair.strip().split("=", 1) for pair in response["Feed-Signatures"].split(","))
    return response.content, signatures


def test_first_use_makes_one_key_stored_encrypted():
    assert not SigningKey.objects.exists()
    kid, _ = signing.sign(b"x")
    key = SigningKey.objects.get()
    assert key.kid == kid and key.status == "active"
    private = signing._private(key)
    raw = private.private_bytes_raw()
    assert base64.b64encode(raw).decode() not in key.private_key_encrypted
    assert raw.hex() not in key.private_key_encrypted


def test_a_different_key_secret_cannot_use_the_stored_key(settings):
    signing.sign(b"x")
    signing._private_cache.clear()
    settings.FEED_KEY_SECRET = "another secret"
    from cryptography.fernet import InvalidToken

    with pytest.raises(InvalidToken):
        signing.sign(b"x")
    signing._private_cache.clear()


def test_rotation_overlaps_and_a_partner_follows_it(client):
    secret = partner_key_issue(partner=partner_create(name="P")).secret
    case_create(files=[one_file()])
    publish()
    body, signatures = keyset(client)
    old_keys = {k["kid"]: k["public_key"] for k in json.loads(body)["keys"]}
    verifier = FeedVerifier(old_keys)

    call_command("signing_key_rotate", "--dry-run")
    assert SigningKey.objects.count() == 1
    call_command("signing_key_rotate", "--overlap-days", "7")
    new = SigningKey.objects.get(status="active")
    assert SigningKey.objects.get(status="retiring").retire_after is not None

    body, signatures = keyset(client)
    assert set(signatures) == set(old_keys) | {new.kid}
    verifier.accept_keyset(body, signatures)
    assert set(verifier.keys) == set(old_keys) | {new.kid}

    response = client.get("/api/v1/feed", **auth(secret))
    assert response["Feed-Key-Id"] == new.kid
    verifier.accept_page(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
    response = client.get("/api/v1/checkpoint", **auth(secret))
    assert response["Feed-Key-Id"] == new.kid
    verifier.accept_checkpoint(response.content, response["Feed-Key-Id"], response["Feed-Signature"])


def test_a_key_set_needs_a_trusted_signature_and_one_from_each_new_key(client):
    signing.sign(b"x")
    body, signatures = keyset(client)
    trusted = {k["kid"]: k["public_key"] for k in json.loads(body)["keys"]}
    checkpoint.signing_key_rotate()
    body, signatures = keyset(client)
    new_kid = next(kid for kid in signatures if kid not in trusted)

    with pytest.raises(VerifyError, match="not signed by any key already trusted"):
        verify_keyset(body, {new_kid: signatures[new_kid]}, trusted)
    only_old = {kid: sig for kid, sig in signatures.items() if kid in trusted}
    with pytest.raises(VerifyError, match="adds a key that did not sign it"):
        verify_keyset(body, only_old, trusted)
    with pytest.raises(VerifyError, match="signature"):
        verify_keyset(body.replace(b'"version"', b'"versio\\u006e"'), signatures, trusted)
    version, keys = verify_keyset(body, signatures, trusted)
    assert version == 2 and new_kid in keys
    with pytest.raises(VerifyError, match="older"):
        verify_keyset(body, signatures, trusted, previous_version=3)
