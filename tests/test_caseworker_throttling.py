"""Sign-in is throttled by django-axes: five wrong passwords lock further tries for a while,
from that address and for that account; the lock does not depend on guessing right."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.test_caseworker_support import PASSWORD, code_for, member, organisation

pytestmark = pytest.mark.django_db

SIGN_IN = reverse("caseworkers:sign_in")


def attempt(client, username: str, password: str, address: str):
    return client.post(SIGN_IN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_failures_from_one_address_lock_it_out_even_with_the_right_password(client):
    member(organisation(), "sam")
    for _ in range(5):
        attempt(client, "sam", "wrong password here", "10.1.1.1")
    locked = attempt(client, "sam", PASSWORD, "10.1.1.1")
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert "caseworkers_pending" not in client.session


def test_failures_spread_over_addresses_lock_the_account(client):
    member(organisation(), "sam")
    for n in range(5):
        attempt(client, "sam", "wrong password here", f"10.2.0.{n}")
    assert attempt(client, "sam", PASSWORD, "10.2.0.99").status_code == 429


def test_other_accounts_from_other_addresses_are_unaffected(client):
    org = organisation()
    member(org, "sam")
    member(org, "kim")
    for _ in range(5):
        attempt(client, "sam", "wrong password here", "10.3.0.1")
    response = attempt(client, "kim", PASSWORD, "10.3.0.2")
    assert response.status_code == 302 and response["Location"] == reverse("caseworkers:verify")


def test_a_password_alone_does_not_reset_the_count(client):
    member(organisation(), "sam")
    for _ in range(4):
        attempt(client, "sam", "wrong password here", "10.4.0.1")
    # The right password alone is not a sign-in: the count stands...
    assert attempt(client, "sam", PASSWORD, "10.4.0.1").status_code == 302
    attempt(client, "sam", "wrong password here", "10.4.0.1")
    assert attempt(client, "sam", PASSWORD, "10.4.0.1").status_code == 429


def test_after_a_complete_sign_in_the_count_starts_again(client):
    membership = member(organisation(), "sam")
    for _ in range(4):
        attempt(client, "sam", "wrong password here", "10.4.0.2")
    attempt(client, "sam", PASSWORD, "10.4.0.2")
    client.post(reverse("caseworkers:verify"), {"code": code_for(membership.user)}, REMOTE_ADDR="10.4.0.2")
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})
    for _ in range(4):
        attempt(client, "sam", "wrong password here", "10.4.0.2")
    assert attempt(client, "sam", PASSWORD, "10.4.0.2").status_code == 302


def test_the_admin_login_is_throttled_too(client):
    from tests.test_caseworker_support import staff_user

    staff_user("ops")
    for _ in range(5):
        client.post("/admin/login/", {"username": "ops", "password": "wrong password here"}, REMOTE_ADDR="10.5.0.1")
    assert (
        client.post("/admin/login/", {"username": "ops", "password": PASSWORD}, REMOTE_ADDR="10.5.0.1").status_code
        == 429
    )
