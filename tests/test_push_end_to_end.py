"""The whole push journey with real processes: a survivor submits through the survivor API, a
real RQ worker publishes and pushes over TLS to `python -m hashbank.platform receive` (its own
process, with a certificate made for the test), and the receiver's verified sync brings the
survivor's fingerprint into the partner's store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from django.db import transaction

from hashbank.models import Fingerprint, PushEndpoint
from hashbank.platform.store import LocalStore
from hashbank.queueing import coalesce_key, redis_connection
from hashbank.services import partner_create, partner_key_issue
from tests.conftest import ROOT
from tests.feed_helpers import auth, pdq_value, run_worker, trusted_keys
from tests.push_helpers import closed_port, make_certificate, wait_until
from tests.survivor_helpers import consented_client, post_json, submission

pytestmark = pytest.mark.django_db(transaction=True)


def platform(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hashbank.platform", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_survivors_submission_reaches_a_pushed_partner(postgres, redis_url, live_server, client, settings,
                                                         tmp_path):
    import django_rq

    cert, key = make_certificate(tmp_path / "tls")
    settings.JOBS_IN_PROCESS = False
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.PUSH_ALLOW_ADDRESSES = ["127.0.0.0/8"]
    queue = django_rq.get_queue("default")
    queue.empty()
    redis_connection().delete(coalesce_key("hashbank.jobs.feed_push"), coalesce_key("hashbank.jobs.feed_publish"))

    # The partner: a feed key, a store made by one `sync`, and `receive` listening over TLS.
    partner = partner_create(name="Example Video")
    secret = partner_key_issue(partner=partner).secret
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(PYTHONPATH=str(ROOT), HASHBANK_FEED_API_KEY=secret, HASHBANK_STORE=str(tmp_path / "store"))
    keys = [f"{kid}={public}" for kid, public in trusted_keys(client).items()]
    first = platform("sync", "--base-url", f"{live_server.url}/api/v1", *(f"--trusted-key={k}" for k in keys),
                     "--backend", "numpy", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    port = closed_port()
    log = open(tmp_path / "receive.log", "w")  # the receiver writes to it until it stops
    receiver = subprocess.Popen([sys.executable, "-m", "hashbank.platform", "receive", "--listen", f"127.0.0.1:{port}",
                                 "--path", "/push", "--tls-cert", str(cert), "--tls-key", str(key), "--every", "0",
                                 "--backend", "numpy"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: "receiving pushes on https://" in (tmp_path / "receive.log").read_text())

        def health() -> dict:
            import ssl

            context = ssl.create_default_context(cafile=str(cert))
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=context, timeout=5) as answer:
                return json.load(answer)

        response = client.put("/api/v1/push", data=json.dumps({"url": f"https://127.0.0.1:{port}/push"}),
                              content_type="application/json", **auth(secret))
        assert response.status_code == 200, response.content

        # The survivor, through the same API the browser uses.
        value = pdq_value()
        survivor = consented_client()
        with transaction.atomic():
            created = post_json(survivor, "/api/survivor/cases",
                                submission([[{"signal_type": "pdq", "value": value, "quality": 90}]]))
        assert created.status_code == 201, created.content

        worker = run_worker(redis_url, PUSH_ALLOW_ADDRESSES="127.0.0.0/8", PUSH_CA_FILE=str(cert),
                            FEED_SNAPSHOT_DIR=str(tmp_path / "snapshots"))
        assert worker.returncode == 0, worker.stdout + worker.stderr
        fingerprint = Fingerprint.objects.get(value=value)
        endpoint = PushEndpoint.objects.get(partner=partner)
        assert endpoint.failures == 0 and endpoint.last_success_at is not None, endpoint.last_error

        assert wait_until(lambda: health()["synced_position"] >= 1, timeout=60), (
            (tmp_path / "receive.log").read_text())
        with LocalStore(tmp_path / "store").open_index(backend="numpy") as index:
            assert [match.key for match in index.query(value, threshold=0)] == [fingerprint.public_id]
        text = (tmp_path / "receive.log").read_text()
        assert "verified: syncing" in text and "synced: OK at position 1" in text, text
    finally:
        receiver.send_signal(signal.SIGINT)
        try:
            receiver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            receiver.kill()
            receiver.wait()
        log.close()
