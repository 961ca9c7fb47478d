"""Partner API keys: shown once, stored hashed, header only, revocable, last use recorded."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from hashbank.apikeys import key_hash
from hashbank.models import Partner, PartnerKey
from hashbank.services import partner_create, partner_key_issue, partner_key_revoke
from tests.feed_helpers import auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued():
    return partner_key_issue(partner=partner_create(name="Platform"))


def test_key_is_stored_only_as_prefix_and_hash(issued):
    key = PartnerKey.objects.get()
    assert issued.secret.startswith(f"isk_{key.prefix}_") and len(issued.secret) == 4 + 8 + 1 + 32
    assert key.key_hash == key_hash(issued.secret)
    stored = " ".join(str(v) for v in PartnerKey.objects.values().get().values())
    assert issued.secret not in stored and issued.secret.split("_")[2] not in stored


def test_a_valid_key_works_and_last_use_is_recorded(client, issued):
    assert PartnerKey.objects.get().last_used_at is None
    response = client.get("/api/v1/checkpoint", **auth(issued.secret))
    assert response.status_code == 200
    assert PartnerKey.objects.get().last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(client, issued, monkeypatch):
    client.get("/api/v1/checkpoint", **auth(issued.secret))
    first = PartnerKey.objects.get().last_used_at
    client.get("/api/v1/checkpoint", **auth(issued.secret))
    assert PartnerKey.objects.get().last_used_at == first
    # Two minutes on (the key may be held in this process's key cache meanwhile: the touch
    # keeps the cached row's time current, so it still writes once a minute).
    later = first + timedelta(minutes=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    client.get("/api/v1/checkpoint", **auth(issued.secret))
    assert PartnerKey.objects.get().last_used_at == later
    client.get("/api/v1/checkpoint", **auth(issued.secret))
    assert PartnerKey.objects.get().last_used_at == later


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_key"),
        ("Basic dXNlcjpwYXNz", "missing_key"),
        ("Bearer", "missing_key"),
        ("Bearer not-a-key", "unknown_key"),
        ("Bearer isk_ABCDEFGH_" + "0" * 32, "unknown_key"),
    ],
)
def test_missing_or_unknown_keys_are_401(client, issued, header, code):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/feed", **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_right_prefix_wrong_secret_is_unknown(client, issued):
    forged = issued.secret[:-1] + ("0" if issued.secret[-1] != "0" else "1")
    response = client.get("/api/v1/feed", **auth(forged))
    assert response.status_code == 401 and response.json()["error"]["code"] == "unknown_key"


def test_revoked_key_is_refused_at_once(client, issued):
    partner_key_revoke(key=issued.key)
    response = client.get("/api/v1/feed", **auth(issued.secret))
    assert response.status_code == 401 and response.json()["error"]["code"] == "revoked_key"


def test_suspended_partner_is_403(client, issued):
    Partner.objects.update(is_active=False)
    response = client.get("/api/v1/feed", **auth(issued.secret))
    assert response.status_code == 403 and response.json()["error"]["code"] == "partner_inactive"


@pytest.mark.parametrize("param", ["api_key", "key", "token", "access_token"])
def test_a_key_in_the_url_is_refused_even_when_the_header_is_right(client, issued, param):
    response = client.get("/api/v1/feed", {param: issued.secret}, **auth(issued.secret))
    assert response.status_code == 400 and response.json()["error"]["code"] == "key_in_url"
    assert PartnerKey.objects.get().last_used_at is None


def test_a_key_in_any_query_value_is_refused(client, issued):
    response = client.get("/api/v1/feed", {"cursor": issued.secret})
    assert response.status_code == 400 and response.json()["error"]["code"] == "key_in_url"


def test_commands_create_issue_revoke_with_dry_run(capsys):
    call_command("partner_create", "Example Video", "--listed", "--public-name", "Example", "--dry-run")
    assert not Partner.objects.exists() and "dry run" in capsys.readouterr().out

    call_command("partner_create", "Example Video", "--listed", "--public-name", "Example", "--issue-key")
    out = capsys.readouterr().out
    partner = Partner.objects.get()
    assert partner.listed_publicly and partner.public_name == "Example"
    secret = out.strip().split()[-1]
    assert secret.startswith("isk_") and PartnerKey.objects.get().key_hash == key_hash(secret)

    call_command("partner_key_issue", "Example Video", "--dry-run")
    assert PartnerKey.objects.count() == 1
    call_command("partner_key_issue", "Example Video", "--label", "backup")
    assert PartnerKey.objects.count() == 2

    prefix = secret.split("_")[1]
    call_command("partner_key_revoke", prefix, "--dry-run")
    assert PartnerKey.objects.get(prefix=prefix).revoked_at is None
    call_command("partner_key_revoke", secret)  # the whole key works too, only its prefix is used
    assert PartnerKey.objects.get(prefix=prefix).revoked_at is not None

    with pytest.raises(CommandError, match="exists already"):
        call_command("partner_create", "Example Video")
    with pytest.raises(CommandError, match="no partner"):
        call_command("partner_key_issue", "Nobody")
    with pytest.raises(CommandError, match="no key"):
        call_command("partner_key_revoke", "ZZZZZZZZ")
