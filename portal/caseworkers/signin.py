"""The two steps of a staff sign-in, and what the session remembers between them.

A correct password alone does not sign anyone in: it only marks the session "password
checked" for a few minutes. Django's login() runs after the second factor, so no part of the
site ever sees an authenticated but unverified staff session.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django_otp import devices_for_user, verify_token
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

logger = logging.getLogger(__name__)

PENDING_KEY = "caseworkers_pending"
STARTED_KEY = "caseworkers_started_at"
SEEN_KEY = "caseworkers_last_seen_at"
ENDED_KEY = "caseworkers_ended"
RECOVERY_CODES = 10
RECOVERY_DEVICE_NAME = "recovery codes"


def axes_client_str(username: str, ip_address: str, user_agent: str, path_info: str, request: Any) -> str:
    """Axes' description of a client in its log lines: address and path, never the username
    field, because people sometimes type their password into it."""
    return f"{{ip_address: {ip_address!r}, path_info: {path_info!r}}}"


def pending_start(request: HttpRequest, user: AbstractBaseUser) -> None:
    # A fresh session key at the privilege change, so a planted session id is worthless.
    request.session.cycle_key()
    request.session[PENDING_KEY] = {"user": user.pk, "at": time.time(), "backend": user.backend}


def pending_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The user whose password was checked in this session a moment ago, if any."""
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return None
    if time.time() - pending["at"] > settings.CASEWORKER_PENDING_SIGN_IN.total_seconds():
        request.session.pop(PENDING_KEY, None)
        return None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is not None:
        user.backend = pending["backend"]
    return user


def totp_device(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def enrolment_device(user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator being set up. Reloading the page shows the same secret, so a code
    from an app that already scanned it still works."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
    return device


def second_factor_check(user: AbstractBaseUser, code: str) -> Device | None:
    """The confirmed device (authenticator or recovery code) that accepts `code`, if any.
    Each device throttles its own failures, so guessing six digits is not a way in."""
    code = "".join(code.split())
    for device in devices_for_user(user, confirmed=True):
        verified = verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified
    return None


def recovery_codes_issue(user: AbstractBaseUser) -> list[str]:
    """New one-time recovery codes; any older ones stop working. Shown once. django-otp keeps
    them as plain text (as it keeps the authenticator secret), so they are exactly as safe as
    the database; each one works once."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE_NAME)
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    device.confirmed = True
    device.save()
    return codes


def recovery_codes_left(user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=RECOVERY_DEVICE_NAME).count()


def complete(request: HttpRequest, user: AbstractBaseUser, device: Device) -> None:
    """Both factors passed: sign in, mark the session verified, and start its clocks."""
    request.session.pop(PENDING_KEY, None)
    login(request, user, backend=user.backend)
    otp_login(request, device)
    now = time.time()
    request.session[STARTED_KEY] = now
    request.session[SEEN_KEY] = now
    logger.info("staff sign-in completed (user id %s, second factor %s)", user.pk, type(device).__name__)
