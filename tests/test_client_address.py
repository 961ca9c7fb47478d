"""One client-address function for every throttle (portal.clientaddr): X-Forwarded-For is
believed only from TRUSTED_PROXIES and only where it parses, IPv6 counts by /64, and
django-axes counts the real client rather than the proxy."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.clientaddr import client_address


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1", "10.1.0.0/16"]
    return settings


def test_directly_exposed_the_peer_is_the_client_whatever_it_writes(rf, settings):
    settings.BEHIND_TLS_PROXY = False
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_address(request) == "192.0.2.1"


def test_behind_the_proxy_the_entry_our_proxy_appended_is_the_client(rf, behind_proxy):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.5")
    assert client_address(request) == "203.0.113.5"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right(rf, behind_proxy):
    # client -> load balancer 10.1.2.3 -> local proxy 127.0.0.1 -> us
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4, 10.1.2.3")
    assert client_address(request) == "198.51.100.4"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(rf, behind_proxy):
    request = rf.get("/", REMOTE_ADDR="198.51.100.77", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_address(request) == "198.51.100.77"


@pytest.mark.parametrize("header", ["X", "X, Y", "203.0.113.5:443", "::ffff:zz", "", " , "])
def test_garbage_is_never_taken_as_an_address(rf, behind_proxy, header):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=header)
    # Nothing usable was appended by a trusted hop: the proxy itself is all we can vouch for.
    assert client_address(request) == "127.0.0.1"


def test_a_forged_entry_left_of_a_good_one_stops_the_walk(rf, behind_proxy):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="X, 10.1.0.9")
    # 10.1.0.9 is a trusted proxy, so its left neighbour would be the client, but that is
    # garbage: the last address a trusted hop vouched for is used.
    assert client_address(request) == "10.1.0.9"


def test_ipv6_clients_count_by_their_64(rf, behind_proxy):
    a = rf.get("/", REMOTE_ADDR="::1", HTTP_X_FORWARDED_FOR="2001:db8:1:2:aaaa::1")
    b = rf.get("/", REMOTE_ADDR="::1", HTTP_X_FORWARDED_FOR="2001:db8:1:2:ffff:1:2:3")
    c = rf.get("/", REMOTE_ADDR="::1", HTTP_X_FORWARDED_FOR="2001:db8:1:3::1")
    assert client_address(a) == client_address(b) == "2001:db8:1:2::"
    assert client_address(c) != client_address(a)


def test_ipv4_mapped_addresses_are_ipv4(rf, settings):
    settings.BEHIND_TLS_PROXY = False
    assert client_address(rf.get("/", REMOTE_ADDR="::ffff:192.0.2.8")) == "192.0.2.8"


def test_a_bad_trusted_proxies_setting_stops_start_up():
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "TRUSTED_PROXIES": "127.0.0.1,not-a-network"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr and "not-a-network" in result.stderr


def _wrong_password(client: Client, address: str):
    return client.post("/caseworkers/sign-in/", {"username": "sam", "password": "not-the-password-1"},
                       REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=address)


@pytest.mark.django_db
def test_failures_from_one_client_behind_the_proxy_do_not_lock_out_everyone(behind_proxy):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="alex", password="An-untypical-passphrase-41")
    for _ in range(behind_proxy.AXES_FAILURE_LIMIT + 1):
        _wrong_password(Client(), "203.0.113.66")
    # The attacker's address is locked out...
    locked = Client().post("/caseworkers/sign-in/", {"username": "alex", "password": "An-untypical-passphrase-41"},
                           REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert locked.status_code == 429
    # ...another caseworker, behind the same proxy, signs in (to the second-factor step).
    other = Client().post("/caseworkers/sign-in/", {"username": "alex", "password": "An-untypical-passphrase-41"},
                          REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert other.status_code == 302, other.content[:300]


@pytest.mark.django_db
def test_the_per_username_limit_still_holds_across_addresses(behind_proxy):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="sam", password="An-untypical-passphrase-42")
    for i in range(behind_proxy.AXES_FAILURE_LIMIT + 1):
        _wrong_password(Client(), f"203.0.113.{i}")
    response = Client().post("/caseworkers/sign-in/", {"username": "sam", "password": "An-untypical-passphrase-42"},
                             REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.21")
    assert response.status_code == 429
