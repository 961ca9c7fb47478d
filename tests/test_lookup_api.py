"""POST /api/v1/lookup in front of the index (issue 16): every hash validated by the fingerprint
library before anything is asked or counted; the answer's shape; the embedded mode's own index;
503 with Retry-After, quickly, when the lookup process is not there; a bucket of its own.
The real lookup process is in tests/test_lookup_process.py."""

from __future__ import annotations

import hashlib
import json
import socket
import time

import pytest
from django.test import Client

from hashbank.fingerprints import SIGNAL_TYPES
from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.models import Fingerprint, LookupTally
from hashbank.services import case_create, case_withdraw, partner_create
from tests.feed_helpers import auth, pdq_value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True  # publish on commit; the in-process index, counts in the row
    settings.LOOKUP_URL = ""
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


@pytest.fixture
def secret() -> str:
    return partner_lookup_key_issue(partner=partner_create(name="Small Forum")).secret


def post(client, secret, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/v1/lookup", data, content_type=extra.pop("content_type", "application/json"),
                       **auth(secret), **extra)


def flip(value: str, bits: int) -> str:
    number = int(value, 16)
    for bit in range(bits):
        number ^= 1 << (bit * 7)
    return f"{number:064x}"


def tallied() -> tuple[int, int, int]:
    row = LookupTally.objects.values_list("requests", "hashes", "matched").first()
    return row or (0, 0, 0)


def submitted(pdq: str, photo: bytes, *, origin: str = "survivor"):
    receipt = case_create(files=[[
        {"signal_type": "pdq", "value": pdq, "quality": 90},
        {"signal_type": "md5", "value": hashlib.md5(photo).hexdigest(), "quality": None},
        {"signal_type": "sha256", "value": hashlib.sha256(photo).hexdigest(), "quality": None},
    ]], origin=origin)
    return receipt, dict(Fingerprint.objects.filter(case=receipt.case).values_list("signal_type", "public_id"))


@pytest.mark.django_db(transaction=True)
def test_pdq_within_31_md5_and_sha256_exact_and_nothing_for_the_unrelated(secret):
    client, photo, pdq = Client(), b"the photo's bytes", pdq_value()
    _, ids = submitted(pdq, photo, origin="helpline")
    answer = post(client, secret, {"hashes": [
        {"signal_type": "pdq", "value": flip(pdq, 4), "quality": 90},
        {"signal_type": "pdq", "value": flip(pdq, 31), "quality": 90},
        {"signal_type": "pdq", "value": flip(pdq, 32), "quality": 90},
        {"signal_type": "md5", "value": hashlib.md5(photo).hexdigest().upper()},
        {"signal_type": "sha256", "value": hashlib.sha256(photo).hexdigest()},
        {"signal_type": "md5", "value": hashlib.md5(b"another photo").hexdigest()},
        {"signal_type": "pdq", "value": pdq_value(), "quality": 100},
    ]})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert set(body) == {"position", "results"} and body["position"] > 0
    assert body["results"] == [
        {"index": 0, "matches": [{"id": ids["pdq"], "distance": 4, "origin": "helpline", "signal_type": "pdq"}]},
        {"index": 1, "matches": [{"id": ids["pdq"], "distance": 31, "origin": "helpline", "signal_type": "pdq"}]},
        {"index": 2, "matches": []},
        {"index": 3, "matches": [{"id": ids["md5"], "distance": 0, "origin": "helpline", "signal_type": "md5"}]},
        {"index": 4, "matches": [{"id": ids["sha256"], "distance": 0, "origin": "helpline",
                                  "signal_type": "sha256"}]},
        {"index": 5, "matches": []},
        {"index": 6, "matches": []},
    ]
    assert pdq not in answer.content.decode()  # never a stored value
    assert answer["Cache-Control"] == "no-store"
    assert tallied() == (1, 7, 4)


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_stops_matching_and_a_stricter_threshold_is_honoured(secret):
    client, pdq = Client(), pdq_value()
    receipt, _ = submitted(pdq, b"bytes")
    ask = {"hashes": [{"signal_type": "pdq", "value": flip(pdq, 10), "quality": 90}]}
    assert post(client, secret, ask).json()["results"][0]["matches"]
    assert post(client, secret, {**ask, "threshold": 9}).json()["results"][0]["matches"] == []
    case_withdraw(case=receipt.case)
    assert post(client, secret, ask).json()["results"][0]["matches"] == []


def test_low_quality_is_skipped_and_vpdq_is_not_supported_yet(client, secret):
    vpdq = SIGNAL_TYPES["vpdq"].get_examples()[0]
    body = post(client, secret, {"hashes": [
        {"signal_type": "pdq", "value": pdq_value(), "quality": 49},
        {"signal_type": "vpdq", "value": vpdq},
        {"signal_type": "phash", "value": SIGNAL_TYPES["phash"].get_examples()[0]},
    ]}).json()
    skipped, video, other = body["results"]
    assert skipped["matches"] == [] and skipped["skipped"]["code"] == "low_quality"
    assert "under 50" in skipped["skipped"]["message"]
    assert video["error"]["code"] == "unsupported_signal_type" and "not supported yet" in video["error"]["message"]
    assert other["error"]["code"] == "unsupported_signal_type"
    assert tallied() == (1, 3, 0)


@pytest.mark.parametrize("body,code,names", [
    ({"hashes": [{"signal_type": "pdq", "value": "f" * 63, "quality": 90}]}, "bad_hash", "hashes[0].value"),
    ({"hashes": [{"signal_type": "md5", "value": "0" * 31 + "g"}]}, "bad_hash", "hashes[0].value"),
    ({"hashes": [{"signal_type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}]}, "bad_hash", "empty file"),
    ({"hashes": [{"signal_type": "pdq", "value": "0" * 64, "quality": 90}]}, "bad_hash", "degenerate"),
    ({"hashes": [{"signal_type": "md5", "value": "a" * 32},
                 {"signal_type": "pdq", "value": pdq_value()}]}, "bad_hash", "hashes[1].quality"),
    ({"hashes": [{"signal_type": "pdq", "value": pdq_value(), "quality": 101}]}, "bad_hash", "hashes[0].quality"),
    ({"hashes": [{"signal_type": "pdq", "value": pdq_value(), "quality": True}]}, "bad_hash", "hashes[0].quality"),
    ({"hashes": [{"signal_type": "md5", "value": "a" * 32, "quality": 90}]}, "bad_hash", "only pdq"),
    ({"hashes": [{"signal_type": "tmk", "value": "a" * 32}]}, "bad_hash", "hashes[0].signal_type"),
    ({"hashes": [{"signal_type": "md5", "value": "a" * 32, "case": "x"}]}, "bad_hash", "hashes[0]"),
    ({"hashes": []}, "bad_request", "non-empty"),
    ({"hashes": "a" * 32}, "bad_request", "list"),
    ({"hash": "a" * 32}, "bad_request", "hashes"),
    ({"hashes": [{"signal_type": "md5", "value": "a" * 32}], "threshold": 32}, "bad_threshold", "0 to 31"),
    ({"hashes": [{"signal_type": "md5", "value": f"{n:032x}"} for n in range(1, 102)]}, "too_many_hashes", "100"),
])
def test_a_malformed_request_is_a_400_naming_the_hash_and_counts_nothing(client, secret, settings, body, code,
                                                                        names):
    settings.LOOKUP_URL = "http://127.0.0.1:9"  # were anything asked, the answer would be 503, not 400
    response = post(client, secret, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code and names in response.json()["error"]["message"]
    assert not LookupTally.objects.exists()


def test_oversize_unreadable_and_not_json_bodies_are_refused_and_count_nothing(client, secret, settings):
    settings.LOOKUP_URL = "http://127.0.0.1:9"
    huge = json.dumps({"hashes": [{"signal_type": "md5", "value": "a" * 32}] * 2000})
    assert len(huge) > settings.FEED_MAX_BODY_BYTES
    assert post(client, secret, huge).status_code == 413
    assert post(client, secret, b"{not json").json()["error"]["code"] == "bad_json"
    assert post(client, secret, b"hashes=x", content_type="text/plain").status_code == 415
    assert client.get("/api/v1/lookup", **auth(secret)).status_code == 405
    assert not LookupTally.objects.exists()


def test_no_lookup_process_is_a_quick_503_with_retry_after_and_counts_nothing(client, secret, settings):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.LOOKUP_URL = f"http://127.0.0.1:{port}"  # nothing listens there
    started = time.monotonic()
    response = post(client, secret, {"hashes": [{"signal_type": "md5", "value": "a" * 32}]})
    assert time.monotonic() - started < settings.LOOKUP_TIMEOUT + 1
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "lookup_unavailable"
    assert int(response["Retry-After"]) >= 1
    assert not LookupTally.objects.exists()


def test_a_process_that_does_not_answer_is_a_503_after_the_timeout_not_a_hang(client, secret, settings):
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.LOOKUP_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.LOOKUP_TIMEOUT = 0.5
        started = time.monotonic()
        response = post(client, secret, {"hashes": [{"signal_type": "md5", "value": "a" * 32}]})
        assert time.monotonic() - started < 3
    assert response.status_code == 503 and "did not answer" in response.json()["error"]["message"]


def test_without_the_embedded_mode_or_a_lookup_url_it_says_so(client, secret, settings):
    settings.JOBS_IN_PROCESS = False
    settings.PARTNER_RATE_PER_SECOND = settings.LOOKUP_RATE_PER_SECOND = 0
    response = post(client, secret, {"hashes": [{"signal_type": "md5", "value": "a" * 32}]})
    assert response.status_code == 503 and "LOOKUP_URL" in response.json()["error"]["message"]


def test_lookups_spend_their_own_bucket(client, secret, settings, redis_url):
    import redis

    from hashbank.services import partner_key_issue

    connection = redis.Redis.from_url(redis_url)
    for pattern in ("imageshield:lookup-rate:*", "imageshield:partner-rate:*"):
        for key in connection.scan_iter(pattern):
            connection.delete(key)
    settings.JOBS_IN_PROCESS = False
    settings.LOOKUP_URL = "http://127.0.0.1:9"  # answers do not matter here, only who is let through
    settings.PARTNER_RATE_PER_SECOND, settings.PARTNER_RATE_BURST = 0.001, 2
    settings.LOOKUP_RATE_PER_SECOND, settings.LOOKUP_RATE_BURST = 0.001, 3
    feed_key = partner_key_issue(partner=partner_create(name="Example Video")).secret
    ask = {"hashes": [{"signal_type": "md5", "value": "a" * 32}]}
    assert [post(client, feed_key, ask).status_code for _ in range(4)] == [503, 503, 503, 429]
    # The feed bucket of the same key is untouched by its lookups.
    assert [client.get("/api/v1/checkpoint", **auth(feed_key)).status_code for _ in range(3)] == [200, 200, 429]
    refused = post(client, secret, ask)
    assert [refused.status_code, post(client, secret, ask).status_code] == [503, 503]
