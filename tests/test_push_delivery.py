"""One push delivery (hashbank.feed.push.deliver) against real TLS servers on loopback, made for
each test: what arrives, which certificates are accepted, redirects never followed, and a
server that stalls, drips or never speaks TLS costing the job no more than its deadline."""

from __future__ import annotations

import ipaddress
import ssl

import pytest

from hashbank.feed import push
from hashbank.feed.push import PushConfig, Signed, deliver
from tests.push_helpers import TEST_HOST, Endpoint, closed_port, make_certificate

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
SIGNED = Signed(version=7, body=b'{"kind":"imageshield.feed.checkpoint","version":7}',
                kid="ed25519:3174287a2e6d00a9", signature="c2lnbmF0dXJl")


@pytest.fixture
def cert(tmp_path):
    return make_certificate(tmp_path / "tls")


@pytest.fixture
def endpoints(cert):
    made: list[Endpoint] = []

    def make(mode: str = "ok", certificate=None) -> Endpoint:
        endpoint = Endpoint(*(certificate or cert), mode=mode)
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.close()


def config(ca: object = None, *, timeout: float = 2.0, allow=LOOPBACK) -> PushConfig:
    return PushConfig(timeout=timeout, allow=allow, context=ssl.create_default_context(cafile=ca and str(ca)))


def test_the_checkpoint_arrives_as_signed_with_its_headers(cert, endpoints):
    endpoint = endpoints()
    result = deliver(endpoint.url("/hooks/shield?partner=7"), SIGNED, config(cert[0]))
    assert result.ok and result.status == 202, result
    [request] = endpoint.received
    assert request.request_line == "POST /hooks/shield?partner=7 HTTP/1.1"
    assert request.body == SIGNED.body
    assert request.headers["content-type"] == "application/json"
    assert request.headers["feed-key-id"] == SIGNED.kid
    assert request.headers["feed-signature"] == SIGNED.signature
    assert request.headers["host"] == f"127.0.0.1:{endpoint.port}"
    assert request.headers["content-length"] == str(len(SIGNED.body))


def test_a_name_connects_to_its_vetted_address_and_the_certificate_is_checked_for_the_name(
        monkeypatch, cert, endpoints, tmp_path):
    looked_up = []

    def resolver(host, port):
        looked_up.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(push, "resolve", resolver)
    endpoint = endpoints()
    assert deliver(endpoint.url(host=TEST_HOST), SIGNED, config(cert[0])).ok
    assert endpoint.received[0].headers["host"] == f"{TEST_HOST}:{endpoint.port}"
    # A certificate for another name, trusted as a CA: the name in the URL is what must match.
    other = make_certificate(tmp_path / "other", names=("other.example",), addresses=())
    wrong = endpoints(certificate=other)
    result = deliver(wrong.url(host=TEST_HOST), SIGNED, config(other[0]))
    assert not result.ok and result.error.startswith("TLS certificate not accepted"), result.error
    assert "match" in result.error
    assert wrong.received == []
    assert looked_up == [TEST_HOST, TEST_HOST]


def test_an_untrusted_certificate_is_refused(endpoints):
    endpoint = endpoints()
    result = deliver(endpoint.url(), SIGNED, config(None))  # the system's trust store
    assert not result.ok and result.error.startswith("TLS certificate not accepted"), result.error
    assert endpoint.received == []


def test_loopback_needs_the_test_allow_list(cert, endpoints):
    endpoint = endpoints()
    result = deliver(endpoint.url(), SIGNED, config(cert[0], allow=()))
    assert result.error.startswith("refused: 127.0.0.1 is a loopback address"), result.error
    assert endpoint.connections == 0


def test_a_redirect_is_not_followed(cert, endpoints):
    endpoint = endpoints("status:302")
    result = deliver(endpoint.url(), SIGNED, config(cert[0]))
    assert not result.ok and result.status == 302
    assert "redirects are not followed" in result.error
    assert [r.request_line for r in endpoint.received] == ["POST /push HTTP/1.1"]  # never /elsewhere


def test_an_error_answer_is_a_failure(cert, endpoints):
    result = deliver(endpoints("status:503").url(), SIGNED, config(cert[0]))
    assert (result.ok, result.status, result.error) == (False, 503, "answered 503")


@pytest.mark.parametrize(("mode", "error"), [
    ("silent", "timed out: could not get an answer within 0.5 s"),
    # One byte every 0.2 s would renew a per-read timeout for ever: the deadline is for the whole answer.
    ("drip", "timed out: could not get an answer within 0.5 s"),
    # TCP accepted, TLS never started: the handshake is inside the connect deadline.
    ("no-tls", "timed out: could not connect within 0.5 s"),
])
def test_a_stalling_endpoint_costs_no_more_than_its_deadline(cert, endpoints, mode, error):
    endpoint = endpoints(mode)
    result = deliver(endpoint.url(), SIGNED, config(cert[0], timeout=0.5))
    assert (result.ok, result.error) == (False, error)


def test_nothing_listening_is_a_failure_not_an_exception(cert):
    result = deliver(f"https://127.0.0.1:{closed_port()}/push", SIGNED, config(cert[0]))
    assert not result.ok and result.error.startswith("could not connect"), result.error
