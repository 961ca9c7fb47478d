"""Sign-in failures and refused access are logged, and no log line carries a password, a
one-time code, a recovery code, a case reference or a PIN."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.test_caseworker_support import PASSWORD, code_for, files, member, organisation, verified

pytestmark = pytest.mark.django_db


def test_nothing_secret_reaches_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    north, south = organisation("North"), organisation("South")
    sam = member(north, "sam")
    new = member(north, "newbie", enrolled=False)
    bob = member(south, "bob")
    secrets_seen: list[str] = [PASSWORD, "typo-password-777"]

    # A failed password (the username field holding a password, as people do), a failed code.
    client.post(reverse("caseworkers:sign_in"), {"username": "my-secret-in-username", "password": "typo-password-777"})
    secrets_seen.append("my-secret-in-username")
    client.post(reverse("caseworkers:sign_in"), {"username": "sam", "password": PASSWORD})
    right = code_for(sam.user)
    wrong = f"{(int(right) + 7) % 1_000_000:06d}"
    client.post(reverse("caseworkers:verify"), {"code": wrong})
    secrets_seen.append(wrong)

    # Enrolment and the recovery codes it shows.
    client.post(reverse("caseworkers:sign_in"), {"username": "newbie", "password": PASSWORD})
    client.get(reverse("caseworkers:enrol"))
    device = TOTPDevice.objects.get(user=new.user)
    enrol_code = f"{totp(device.bin_key):06d}"
    page = client.post(reverse("caseworkers:enrol"), {"code": enrol_code})
    secrets_seen += [enrol_code, device.key, *re.findall(r"<li><code>([a-z0-9]+)</code></li>", page.content.decode())]

    # An assisted case (reference and PIN) and another organisation trying to open it.
    verified(client, sam.user)
    body = json.dumps({"count": 2, "files": [{"fingerprints": f} for f in files(2)]})
    receipt = client.post(reverse("caseworkers:case_new_submit"), body, content_type="application/json").json()
    secrets_seen += [receipt["reference"], receipt["reference"].replace("-", ""), receipt["pin"]]
    verified(client, bob.user)
    client.get(receipt["case_url"])

    text = caplog.text
    assert "staff sign-in refused" in text and "second factor refused" in text
    assert "another organisation" in text
    for secret in secrets_seen:
        assert secret not in text, secret
