"""Staff sign-in: a password alone signs nobody in; the second factor (authenticator code or a
one-time recovery code) completes it; a first sign-in enrols an authenticator from a QR code."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.caseworkers.signin import PENDING_KEY
from tests.test_caseworker_support import PASSWORD, code_for, member, organisation

pytestmark = pytest.mark.django_db

SIGN_IN = reverse("caseworkers:sign_in")
VERIFY = reverse("caseworkers:verify")
ENROL = reverse("caseworkers:enrol")
CASES = reverse("caseworkers:cases")
ACCOUNT = reverse("caseworkers:account")


def password_step(client, username: str, password: str = PASSWORD):
    return client.post(SIGN_IN, {"username": username, "password": password}, REMOTE_ADDR="10.0.0.1")


def test_password_alone_does_not_sign_in(client):
    member(organisation(), "sam")
    response = password_step(client, "sam")
    assert response.status_code == 302 and response["Location"] == VERIFY
    assert "_auth_user_id" not in client.session
    # Still signed out everywhere: the staff pages send the visitor to sign in.
    page = client.get(ACCOUNT)
    assert page.status_code == 302 and page["Location"].startswith(SIGN_IN)


def test_password_then_authenticator_code_signs_in_verified(client):
    membership = member(organisation(), "sam")
    password_step(client, "sam")
    response = client.post(VERIFY, {"code": code_for(membership.user)})
    assert response.status_code == 302 and response["Location"] == CASES
    assert client.session["_auth_user_id"] == str(membership.user.pk)
    page = client.get(ACCOUNT)
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]


def test_next_page_is_kept_through_both_steps_but_only_on_this_site(client):
    membership = member(organisation(), "sam")
    client.post(SIGN_IN + "?next=" + ACCOUNT, {"username": "sam", "password": PASSWORD})
    assert client.post(VERIFY, {"code": code_for(membership.user)})["Location"] == ACCOUNT
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})
    client.post(SIGN_IN + "?next=https://evil.example/", {"username": "sam", "password": PASSWORD})
    assert client.post(VERIFY, {"code": code_for(membership.user, drift=1)})["Location"] == CASES


def test_wrong_password_gives_one_answer_for_unknown_and_known_accounts(client):
    member(organisation(), "sam")
    wrong = password_step(client, "sam", "not the password at all")
    unknown = password_step(client, "nobody", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    message = "That username and password did not match an account."
    assert message in wrong.content.decode() and message in unknown.content.decode()
    assert PENDING_KEY not in client.session


def test_wrong_code_is_refused_and_the_device_throttles_guessing(client):
    membership = member(organisation(), "sam")
    password_step(client, "sam")
    right = code_for(membership.user)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post(VERIFY, {"code": wrong})
    assert response.status_code == 200 and "That code did not work" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # django-otp now makes the device wait before it accepts anything, even the right code.
    device = TOTPDevice.objects.get(user=membership.user)
    assert device.throttling_failure_count == 1
    assert client.post(VERIFY, {"code": right}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_code_cannot_be_replayed(client, django_user_model):
    membership = member(organisation(), "sam")
    code = code_for(membership.user)
    password_step(client, "sam")
    assert client.post(VERIFY, {"code": code}).status_code == 302
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})
    password_step(client, "sam")
    assert client.post(VERIFY, {"code": code}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_password_step_expires_after_five_minutes(client):
    membership = member(organisation(), "sam")
    password_step(client, "sam")
    session = client.session
    session[PENDING_KEY] = {**session[PENDING_KEY], "at": time.time() - 301}
    session.save()
    response = client.post(VERIFY, {"code": code_for(membership.user)})
    assert response.status_code == 302 and response["Location"] == SIGN_IN
    assert "_auth_user_id" not in client.session


def test_verify_and_enrol_pages_need_the_password_step_first(client):
    assert client.get(VERIFY)["Location"] == SIGN_IN
    assert client.get(ENROL)["Location"] == SIGN_IN


def test_first_sign_in_enrols_an_authenticator_with_a_qr_code(client):
    membership = member(organisation(), "new", enrolled=False)
    user = membership.user
    response = password_step(client, "new")
    assert response["Location"] == ENROL
    page = client.get(ENROL)
    html = page.content.decode()
    assert "<svg" in html and "QR code for your authenticator app" in html
    assert ' style="' not in html  # the strict CSP forbids inline styles
    uri = re.search(r"data-totp-uri>([^<]+)<", html).group(1).replace("&amp;", "&")
    assert uri.startswith("otpauth://totp/Image%20Shield%3Anew?") and "issuer=Image%20Shield" in uri
    # Reloading shows the same secret (an app that scanned it keeps working).
    assert uri in client.get(ENROL).content.decode().replace("&amp;", "&")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"
    done = client.post(ENROL, {"code": code})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert TOTPDevice.objects.get(user=user).confirmed
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(ACCOUNT).status_code == 200
    # Enrolment is over: the page now sends the user to the code step instead.
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})
    password_step(client, "new")
    assert client.get(ENROL)["Location"] == VERIFY


def test_a_wrong_enrolment_code_does_not_confirm_the_device(client):
    member(organisation(), "new", enrolled=False)
    password_step(client, "new")
    client.get(ENROL)
    response = client.post(ENROL, {"code": "000000"})
    assert response.status_code == 200 and "That code did not match" in response.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_works_once(client):
    membership = member(organisation(), "new", enrolled=False)
    password_step(client, "new")
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=membership.user)
    done = client.post(ENROL, {"code": f"{totp(device.bin_key):06d}"})
    recovery = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())[0]
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})

    password_step(client, "new")
    response = client.post(VERIFY, {"code": recovery}, follow=True)
    assert response.redirect_chain[-1][0] == CASES or client.session["_auth_user_id"] == str(membership.user.pk)
    assert "9 are left" in response.content.decode()
    assert not StaticToken.objects.filter(token=recovery).exists()
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})

    password_step(client, "new")
    assert client.post(VERIFY, {"code": recovery}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_sign_out_is_a_post_and_ends_the_session(client):
    membership = member(organisation(), "sam")
    password_step(client, "sam")
    client.post(VERIFY, {"code": code_for(membership.user)})
    assert client.get(reverse("caseworkers:sign_out")).status_code == 405
    client.post(reverse("caseworkers:sign_out"), {"sign_out": "1"})
    assert "_auth_user_id" not in client.session
    assert client.get(ACCOUNT)["Location"].startswith(SIGN_IN)


def test_an_inactive_account_cannot_sign_in(client):
    membership = member(organisation(), "gone")
    membership.user.is_active = False
    membership.user.save()
    response = password_step(client, "gone")
    assert response.status_code == 200 and PENDING_KEY not in client.session
