"""A staff session ends after 30 idle minutes and after 12 hours however busy it was."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from portal.caseworkers.signin import SEEN_KEY, STARTED_KEY
from tests.test_caseworker_support import member, organisation, verified

pytestmark = pytest.mark.django_db

ACCOUNT = reverse("caseworkers:account")


def shift(client, *, started_ago: float, seen_ago: float) -> None:
    session = client.session
    now = time.time()
    session[STARTED_KEY] = now - started_ago
    session[SEEN_KEY] = now - seen_ago
    session.save()


@pytest.fixture
def signed_in(client):
    verified(client, member(organisation(), "sam").user)
    return client


def test_activity_within_the_limits_keeps_the_session(signed_in):
    shift(signed_in, started_ago=11 * 3600, seen_ago=29 * 60)
    assert signed_in.get(ACCOUNT).status_code == 200
    # The request counted as activity: the idle clock starts again.
    assert time.time() - signed_in.session[SEEN_KEY] < 5


def test_thirty_idle_minutes_sign_out(signed_in):
    shift(signed_in, started_ago=3600, seen_ago=30 * 60 + 5)
    response = signed_in.get(ACCOUNT)
    assert response.status_code == 302 and response["Location"].startswith(reverse("caseworkers:sign_in"))
    assert "_auth_user_id" not in signed_in.session
    page = signed_in.get(reverse("caseworkers:sign_in"))
    assert "signed out after 30 minutes without activity" in page.content.decode()


def test_twelve_hours_sign_out_even_when_active(signed_in):
    shift(signed_in, started_ago=12 * 3600 + 5, seen_ago=10)
    response = signed_in.get(ACCOUNT)
    assert response.status_code == 302
    assert "_auth_user_id" not in signed_in.session
    assert "signed in for 12 hours" in signed_in.get(reverse("caseworkers:sign_in")).content.decode()


def test_the_admin_session_is_limited_too(client, django_user_model):
    from tests.test_caseworker_support import staff_user

    staff = staff_user()
    verified(client, staff)
    assert client.get("/admin/").status_code == 200
    shift(client, started_ago=60, seen_ago=31 * 60)
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_the_session_cookie_ends_with_the_browser(client):
    # A cookie with Expires or Max-Age outlives the browser (it lasted 14 days): none here.
    client.post("/start/", {"age": "adult", "pictured": "on", "consent": "on"})
    cookie = client.cookies["sessionid"]
    assert cookie.value
    assert not cookie["expires"] and not cookie["max-age"]
