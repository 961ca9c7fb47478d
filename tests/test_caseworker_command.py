"""`manage.py caseworker_create`: creates an account without a password and prints the
one-time welcome link; --dry-run checks and changes nothing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from portal.caseworkers.models import Membership, Organisation

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("caseworker_create", *args, stdout=out)
    return out.getvalue()


def test_dry_run_changes_nothing():
    output = run("--organisation", "North", "--create-organisation", "--username", "sam", "--dry-run")
    assert "dry run" in output
    assert not Organisation.objects.exists() and not get_user_model().objects.exists()


def test_creates_a_lead_with_a_welcome_link(client):
    output = run("--organisation", "North", "--create-organisation", "--username", "sam", "--role", "lead")
    membership = Membership.objects.get(user__username="sam")
    assert membership.is_lead and membership.organisation.name == "North"
    assert not membership.user.has_usable_password()
    link = output.strip().splitlines()[-1]
    assert "/caseworkers/welcome/?k=" in link
    assert client.get(link[link.index("/caseworkers/") :], follow=True).status_code == 200


def test_the_link_uses_the_public_address_with_its_port(settings):
    settings.PUBLIC_BASE_URL = "https://shield.example.org:8443"
    output = run("--organisation", "West", "--create-organisation", "--username", "kim", "--role", "lead")
    assert output.strip().splitlines()[-1].startswith("https://shield.example.org:8443/caseworkers/welcome/?k=")


def test_refuses_unknown_organisations_and_taken_usernames():
    with pytest.raises(CommandError):
        run("--organisation", "Nowhere", "--username", "sam")
    run("--organisation", "North", "--create-organisation", "--username", "sam")
    with pytest.raises(CommandError):
        run("--organisation", "North", "--username", "sam")


def test_reset_removes_password_and_second_factor_and_ends_sessions(client):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.test_caseworker_support import member, organisation, verified

    membership = member(organisation(), "sam")
    verified(client, membership.user)
    assert client.get("/caseworkers/account/").status_code == 200
    out = io.StringIO()
    call_command("caseworker_reset", "--username", "sam", "--dry-run", stdout=out)
    assert "dry run" in out.getvalue() and TOTPDevice.objects.filter(user=membership.user).exists()
    assert client.get("/caseworkers/account/").status_code == 200

    out = io.StringIO()
    call_command("caseworker_reset", "--username", "sam", stdout=out)
    membership.user.refresh_from_db()
    assert not membership.user.has_usable_password()
    assert not TOTPDevice.objects.filter(user=membership.user).exists()
    # The open session is over (Django ties sessions to the password hash, which changed).
    assert client.get("/caseworkers/account/").status_code == 302
    link = out.getvalue().strip().splitlines()[-1]
    assert client.get(link[link.index("/caseworkers/") :], follow=True).status_code == 200
    with pytest.raises(CommandError):
        call_command("caseworker_reset", "--username", "nobody", stdout=io.StringIO())
