"""Where a push may go (hashbank.feed.push): https only, no credentials, and never an address
inside a network: checked when the URL is registered and again, after DNS resolution, at every
delivery. The resolver is replaced here, never the check, and any attempt to connect fails the
test, so a refusal that did not happen could never send a packet anywhere."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from hashbank.feed import push
from hashbank.feed.push import PushUrlError, Signed, address_refusal, deliver, push_url_parse

SIGNED = Signed(version=1, body=b"{}", kid="ed25519:0000000000000000", signature="c2ln")


@pytest.fixture
def no_connections(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted to {args[0]!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)


def config(allow: tuple = ()) -> push.PushConfig:
    import ssl

    return push.PushConfig(timeout=1.0, allow=allow, context=ssl.create_default_context())


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1",                      # loopback
    "10.0.0.5", "172.16.4.4", "192.168.1.1", "fc00::1",    # private
    "169.254.169.254", "fe80::1",                          # link-local (cloud metadata)
    "224.0.0.1", "ff02::1",                                # multicast
    "0.0.0.0", "::",                                       # unspecified
    "240.0.0.1", "100.64.0.1", "198.18.0.1", "192.0.2.1",  # reserved, shared, benchmarking, documentation
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:a00:1::1", "64:ff9b::a00:1", "64:ff9b::7f00:1",  # 6to4 and NAT64 of private and loopback
])
def test_addresses_inside_a_network_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:93.184.215.14",
                                     "64:ff9b::5db8:d70e"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_lets_a_loopback_receiver_through_and_nothing_else():
    allow = (ipaddress.ip_network("127.0.0.0/8"),)
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allow) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), allow) is not None


@pytest.mark.parametrize(("url", "why"), [
    ("http://push.example.org/hook", "https://"),
    ("ftp://push.example.org/hook", "https://"),
    ("push.example.org/hook", "https://"),
    ("https://user:secret@push.example.org/hook", "password"),
    ("https://token@push.example.org/hook", "password"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://[::1]:8443/hook", "loopback"),
    ("https://10.0.0.8/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[::ffff:10.0.0.8]/hook", "private"),
    ("https://localhost/hook", "public host name"),
    ("https://printer.local/hook", "local name"),
    ("https://db.internal/hook", "local name"),
    ("https://push.example.org:0/hook", "port"),
    ("https://push.example.org:99999/hook", "not a URL"),
    ("https://push.example.org/hook#part", "fragment"),
    ("https://push.example.org/a b", "printable ASCII"),
    ("https://push.example.org/a\r\nHost: evil", "printable ASCII"),
    ("https://pūsh.example.org/", "printable ASCII"),
    ("https://push.example.org/" + "a" * 480, "longer than 500"),
    ("https://[fe80::1%25eth0]/hook", "link-local"),
    ("https://0x7f000001/hook", "public host name"),
    ("https:///hook", "no host"),
    ("https://[/hook", "not a URL"),
])
def test_urls_that_cannot_be_registered(url, why):
    with pytest.raises(PushUrlError, match=why):
        push_url_parse(url, allow=())


def test_a_public_url_with_a_port_path_and_query_is_taken_as_written():
    target = push_url_parse("https://Push.Example.org:8443/hooks/shield?partner=7", allow=())
    assert (target.host, target.port, target.path, target.host_header) == (
        "push.example.org", 8443, "/hooks/shield?partner=7", "push.example.org:8443")
    assert push_url_parse("https://push.example.org", allow=()).path == "/"
    assert push_url_parse("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", allow=()).host_header == (
        "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]")


@pytest.mark.parametrize("answers", [["10.0.0.5"], ["127.0.0.1"], ["169.254.169.254"], ["::ffff:192.168.0.10"],
                                     ["93.184.215.14", "10.0.0.5"]])
def test_a_name_that_resolves_inside_a_network_is_refused_at_delivery(monkeypatch, no_connections, answers):
    asked = []

    def resolver(host, port):
        asked.append((host, port))
        return answers

    monkeypatch.setattr(push, "resolve", resolver)
    # A public name, accepted when registered: only its answer at delivery time gives it away.
    push_url_parse("https://push.partner.example/hook", allow=())
    result = deliver("https://push.partner.example/hook", SIGNED, config())
    assert not result.ok
    assert result.error.startswith("refused: push.partner.example resolves to "), result.error
    assert asked == [("push.partner.example", 443)]


def test_a_name_is_resolved_again_at_every_delivery(monkeypatch, no_connections):
    """DNS rebinding: a name that was public at the last push and private now is refused now."""
    answers = iter([["93.184.215.14"], ["10.0.0.5"]])
    monkeypatch.setattr(push, "resolve", lambda host, port: next(answers))
    assert push.vetted_addresses(push_url_parse("https://push.partner.example/", allow=()), ()) == ["93.184.215.14"]
    result = deliver("https://push.partner.example/", SIGNED, config())
    assert result.error == "refused: push.partner.example resolves to 10.0.0.5, which is a private address"


def test_an_address_url_registered_before_the_rules_is_refused_at_delivery(no_connections):
    assert deliver("https://10.0.0.5/hook", SIGNED, config()).error.startswith("refused: 10.0.0.5 is a private")
    assert deliver("http://93.184.215.14/hook", SIGNED, config()).error == (
        "refused: push URLs must start with https://")
