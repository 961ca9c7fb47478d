"""The hosted lookup end to end (issue 16): the real lookup process (`manage.py lookup_serve`,
its own process, as its systemd unit runs it) follows the live server's feed through the
verified platform sync, and POST /api/v1/lookup asks it over loopback. A match is found with
its distance and origin; a withdrawal stops matching within seconds, with the journal folded
into a new index in a child process on every change (LOOKUP_FOLD_BYTES=1) so the swap path is
the one exercised; lookups are counted in Redis and reach LookupTally exactly once; when the
process is down the API answers 503 at once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from hashbank.feed.signing import keys_published
from hashbank.lookup.client import connection_close
from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.lookup.tally import KEY_PREFIX
from hashbank.maintenance import sweep
from hashbank.models import Fingerprint, LookupTally
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.conftest import ROOT
from tests.feed_helpers import auth, pdq_value, publish, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO = b"bytes of a photograph the survivor listed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


@dataclass
class Running:
    process: subprocess.Popen
    url: str
    store: Path

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as answer:
                return json.loads(answer.read())
        except OSError:
            return {}


@pytest.fixture
def lookup_process(live_server, postgres, redis_url, settings, tmp_path):
    import redis

    settings.JOBS_IN_PROCESS = False  # counts go to Redis, as in production; tests publish themselves
    settings.PARTNER_RATE_PER_SECOND = settings.LOOKUP_RATE_PER_SECOND = 0
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter(f"{KEY_PREFIX}*"):
        connection.delete(key)
    internal = partner_key_issue(partner=partner_create(name="Image Shield lookup", internal=True)).secret
    keys_published()  # the signing key exists before the process reads it
    port = free_port()
    env = subprocess_env(
        REDIS_URL=redis_url, LOOKUP_FEED_KEY=internal, LOOKUP_FEED_URL=f"{live_server.url}/api/v1",
        LOOKUP_LISTEN=f"127.0.0.1:{port}", LOOKUP_STORE_DIR=str(tmp_path / "lookup-store"),
        LOOKUP_SYNC_SECONDS="0.2", LOOKUP_FOLD_BYTES="1",
    )
    process = subprocess.Popen([sys.executable, "manage.py", "lookup_serve"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        assert banner.startswith("lookup listening on http://127.0.0.1:"), banner + process.stderr.read()
        running = Running(process, f"http://127.0.0.1:{port}", tmp_path / "lookup-store")
        wait_for(lambda: running.health().get("ok"), "the first sync")
        settings.LOOKUP_URL = running.url
        yield running
    finally:
        connection_close()  # this thread's keep-alive connection to the process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


@pytest.fixture
def secret() -> str:
    return partner_lookup_key_issue(partner=partner_create(name="Small Forum")).secret


def ask(secret: str, pdq: str) -> dict:
    response = Client().post("/api/v1/lookup", json.dumps({"hashes": [
        {"signal_type": "pdq", "value": pdq, "quality": 92},
        {"signal_type": "md5", "value": hashlib.md5(PHOTO).hexdigest()},
        {"signal_type": "sha256", "value": hashlib.sha256(PHOTO).hexdigest()},
        {"signal_type": "pdq", "value": pdq_value(), "quality": 92},
    ]}), content_type="application/json", **auth(secret))
    assert response.status_code == 200, response.content
    return response.json()


def near(value: str, bits: int) -> str:
    number = int(value, 16)
    for bit in range(bits):
        number ^= 1 << (bit * 5)
    return f"{number:064x}"


def submit(pdq: str):
    receipt = case_create(files=[[{"signal_type": "pdq", "value": pdq, "quality": 90},
                                  {"signal_type": "md5", "value": hashlib.md5(PHOTO).hexdigest(), "quality": None},
                                  {"signal_type": "sha256", "value": hashlib.sha256(PHOTO).hexdigest(),
                                   "quality": None}]])
    publish()
    return receipt, dict(Fingerprint.objects.filter(case=receipt.case).values_list("signal_type", "public_id"))


def test_the_process_finds_what_was_published_and_a_withdrawal_stops_matching_within_seconds(lookup_process, secret):
    pdq = pdq_value()
    receipt, ids = submit(pdq)
    answer = wait_for(lambda: (a := ask(secret, near(pdq, 6)))["results"][0]["matches"] and a, "the addition")
    assert answer["results"] == [
        {"index": 0, "matches": [{"id": ids["pdq"], "distance": 6, "origin": "survivor", "signal_type": "pdq"}]},
        {"index": 1, "matches": [{"id": ids["md5"], "distance": 0, "origin": "survivor", "signal_type": "md5"}]},
        {"index": 2, "matches": [{"id": ids["sha256"], "distance": 0, "origin": "survivor",
                                  "signal_type": "sha256"}]},
        {"index": 3, "matches": []},
    ]
    assert answer["position"] == 3

    case_withdraw(case=receipt.case)
    publish()
    withdrawn_at = time.monotonic()
    answer = wait_for(lambda: (a := ask(secret, near(pdq, 6)))["position"] >= 6 and a, "the withdrawal", 10)
    assert time.monotonic() - withdrawn_at < 10
    assert [result["matches"] for result in answer["results"]] == [[], [], [], []]
    # The journal was folded in a child process into a saved index at the new position.
    health = wait_for(lambda: (h := lookup_process.health())["saved_index"]["name"] == "index-000000000006" and h,
                      "the fold")
    assert health["changes_since_saved_index"] == 0 and health["ok"]
    assert [result["matches"] for result in ask(secret, near(pdq, 6))["results"]] == [[], [], [], []]


def test_lookups_are_counted_once_in_the_evidence_figures(lookup_process, secret, redis_url):
    pdq = pdq_value()
    submit(pdq)
    wait_for(lambda: ask(secret, pdq)["results"][0]["matches"], "the addition")
    LookupTally.objects.all().delete()  # the waiting above was counted too; start from a known figure
    import redis

    redis.Redis.from_url(redis_url).delete(*redis.Redis.from_url(redis_url).keys(f"{KEY_PREFIX}*"))
    for _ in range(3):
        ask(secret, pdq)
    assert not LookupTally.objects.exists()  # counted in Redis, not a row per request
    sweep()
    sweep()  # again: nothing counted twice
    assert list(LookupTally.objects.values_list("requests", "hashes", "matched")) == [(3, 12, 9)]


def test_when_the_process_is_down_the_api_answers_503_at_once(lookup_process, secret, redis_url):
    import redis

    lookup_process.process.send_signal(signal.SIGKILL)
    lookup_process.process.wait(timeout=30)
    started = time.monotonic()
    response = Client().post("/api/v1/lookup", json.dumps({"hashes": [{"signal_type": "md5", "value": "a" * 32}]}),
                             content_type="application/json", **auth(secret))
    assert time.monotonic() - started < 2
    assert response.status_code == 503 and int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "lookup_unavailable"
    assert not redis.Redis.from_url(redis_url).keys(f"{KEY_PREFIX}*")


def test_the_unit_runs_this_command():
    unit = (ROOT / "deploy" / "systemd" / "imageshield-lookup.service").read_text()
    assert "ExecStart=/srv/imageshield/.venv/bin/python manage.py lookup_serve" in unit
    assert "Restart=always" in unit and os.path.exists(ROOT / "hashbank/management/commands/lookup_serve.py")
