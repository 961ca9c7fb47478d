"""Helpers shared by the caseworker tests (no tests here). Data is made by the real services;
a "verified" client is signed in exactly as the second-factor step leaves a session."""

from __future__ import annotations

import secrets
import time

from django.contrib.auth import get_user_model
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.caseworkers import services
from portal.caseworkers.models import Membership, Organisation, Role
from portal.caseworkers.signin import SEEN_KEY, STARTED_KEY

PASSWORD = "correct horse battery staple 42"


def organisation(name: str = "North Helpline") -> Organisation:
    return services.organisation_create(name=name)


def member(org: Organisation, username: str, role: str = Role.CASEWORKER, *, enrolled: bool = True) -> Membership:
    created = services.caseworker_create(
        username=username, email=f"{username}@example.org", organisation=org, role=role
    )
    user = created.user
    user.set_password(PASSWORD)
    user.save()
    if enrolled:
        TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
    return created.membership


def code_for(user, *, drift: int = 0) -> str:
    """The code the caseworker's authenticator app shows now (drift=1: the next one, which
    django-otp accepts too, so a test need not wait 30 seconds to sign in a second time)."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, drift):0{device.digits}d}"


def verified(client, user):
    """Sign `client` in as `user` with both factors, as signin.complete() does."""
    client.force_login(user)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[STARTED_KEY] = session[SEEN_KEY] = time.time()
    session.save()
    return client


def files(count: int = 2) -> list[list[dict]]:
    """What the browser sends for `count` files (exact digests are enough for the bank)."""
    return [
        [
            {"signal_type": "sha256", "value": secrets.token_hex(32)},
            {"signal_type": "md5", "value": secrets.token_hex(16)},
        ]
        for _ in range(count)
    ]


def assisted_case(membership: Membership, count: int = 2):
    return services.assisted_case_create(membership=membership, files=files(count))


def staff_user(username: str = "staffer"):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
    return user
