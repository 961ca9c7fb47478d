"""The reference matcher's command line, end to end against a live server publishing the feed:
sync (from the signed snapshot, then pages) -> match finds a planted photograph -> serve answers
an upload pipeline -> the survivor withdraws -> sync -> no match (in match and in the running
serve); an interrupted sync resumes from its saved cursor; a tampered page is refused and
nothing of it applied; feedback lands in the case timeline, once per idempotency key."""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from hashbank.feed.snapshots import snapshot_build
from hashbank.models import CaseEvent, Fingerprint
from hashbank.platform.matcher import hash_image
from hashbank.selectors import case_timeline
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.conftest import ROOT
from tests.feed_helpers import one_file, trusted_keys
from tests.test_platform_exchange import PHOTOS, FeedProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _feed_settings(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True  # publish on commit, in this process, as `make run` does
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


def photo_case(name: str):
    image = hash_image(PHOTOS / name)
    return case_create(files=[[{"signal_type": "pdq", "value": image.hashes[0], "quality": image.quality}]])


def only_id(receipt) -> str:
    (public_id,) = Fingerprint.objects.filter(case=receipt.case).values_list("public_id", flat=True)
    return public_id


class Platform:
    """`python -m hashbank.platform` as a platform runs it: its own process, no Django."""

    def __init__(self, store: Path, api_key: str) -> None:
        self.store = store
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        self.env["HASHBANK_FEED_API_KEY"] = api_key

    def __call__(self, command: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hashbank.platform", command, "--store", str(self.store), *args],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180)

    def matched_ids(self, photo: Path) -> list[str]:
        result = self("match", "--json", str(photo))
        assert result.returncode == 0, result.stderr
        return [m["key"] for m in json.loads(result.stdout)["matches"]]

    def state(self) -> dict:
        return json.loads((self.store / "state.json").read_text())


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def announce_body(url: str, length: int) -> int:
    """Send only the headers of a request announcing a large JSON body; return the status."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", "/match")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_sync_match_serve_withdraw_resume_tamper_feedback(live_server, client, tmp_path):
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    keys = trusted_keys(client)
    api = f"{live_server.url}/api/v1"

    astronaut = photo_case("astronaut.png")
    case_create(files=[one_file(2)])
    assert snapshot_build(force=True) is not None
    camera = photo_case("camera.png")

    platform = Platform(tmp_path / "store", secret)
    first = platform("sync", "--base-url", api, *[f"--trusted-key={kid}={pub}" for kid, pub in keys.items()])
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("snapshot: ")  # bootstrapped from the signed snapshot
    assert "OK at position" in first.stdout
    assert platform.matched_ids(PHOTOS / "astronaut.png") == [only_id(astronaut)]
    assert platform.matched_ids(PHOTOS / "camera.png") == [only_id(camera)]
    assert platform.matched_ids(PHOTOS / "coffee.png") == []

    # serve: hashes in, matches with distances out; a body over the cap and media are refused.
    server = subprocess.Popen([sys.executable, "-m", "hashbank.platform", "serve", "--store", str(platform.store),
                               "--port", "0"], cwd=ROOT, env=platform.env, stdout=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline()
        assert banner.startswith("serving 4 PDQ records"), banner
        url = banner.rsplit(" ", 1)[1].strip()
        rotated = hash_image(PHOTOS / "astronaut.png").hashes[1]  # an upload turned by 90 degrees
        original = hash_image(PHOTOS / "astronaut.png").hashes[0]
        status, answer = post(f"{url}/match", json.dumps({"hashes": [original, rotated]}).encode())
        assert status == 200
        assert [(m["id"], m["distance"]) for m in answer["results"][0]["matches"]] == [(only_id(astronaut), 0)]
        assert answer["results"][1]["matches"] == []  # serve matches the hashes it is given, no more
        assert announce_body(url, 10_000_000) == 413  # refused before a byte of the body is read
        small_png = io.BytesIO()
        Image.open(PHOTOS / "astronaut.png").resize((64, 64)).save(small_png, "PNG")
        assert post(f"{url}/match", small_png.getvalue(), "image/png")[0] == 415
        status, answer = post(f"{url}/match", json.dumps({"hash": "f" * 63}).encode())
        assert status == 400 and answer["error"]["code"] == "bad_hash"

        # The survivor withdraws; after the next sync neither match nor the running serve finds it.
        case_withdraw(case=astronaut.case)
        synced = platform("sync")
        assert synced.returncode == 0 and "1 withdrawn" in synced.stdout, synced.stdout + synced.stderr
        assert platform.matched_ids(PHOTOS / "astronaut.png") == []
        time.sleep(1.2)  # serve looks for a newer store at most once a second
        status, answer = post(f"{url}/match", json.dumps({"hash": original}).encode())
        assert status == 200 and answer["results"][0]["matches"] == []
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()

    # Interrupted after one page of two entries; the next sync resumes from the saved cursor.
    later = [photo_case(name) for name in ("coffee.png", "chelsea.png", "rocket.jpg")]
    position = platform.state()["feed"]["position"]
    proxy = FeedProxy(live_server.url, mode="fail", fail_after=1)
    try:
        state = platform.state()
        state["base_url"] = f"{proxy.url}/api/v1"
        (platform.store / "state.json").write_text(json.dumps(state))
        broken = platform("sync", "--page-size", "2")
        assert broken.returncode == 3 and "FAILED" in broken.stdout
        assert platform.state()["feed"]["position"] == position + 2  # the verified page was kept
        assert platform.matched_ids(PHOTOS / "coffee.png") == [only_id(later[0])]
        proxy.mode, proxy.cursors = None, []
        resumed = platform("sync", "--page-size", "2")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert proxy.cursors[0] == position + 2  # not from the start again
        assert platform.matched_ids(PHOTOS / "rocket.jpg") == [only_id(later[2])]

        # A page with one flipped byte: refused, nothing of it applied, the state unchanged.
        planted = photo_case("hubble_deep_field.jpg")
        proxy.mode = "tamper"
        before = platform.state()["feed"]
        refused = platform("sync")
        assert proxy.tampered == 1
        assert refused.returncode == 1 and "REFUSED: signature does not match" in refused.stdout
        assert platform.state()["feed"] == before
        assert platform.matched_ids(PHOTOS / "hubble_deep_field.jpg") == []
        proxy.mode = None
        assert platform("sync").returncode == 0
        assert platform.matched_ids(PHOTOS / "hubble_deep_field.jpg") == [only_id(planted)]
    finally:
        proxy.close()

    # Feedback with an idempotency key: recorded once, visible on the case timeline.
    matched = only_id(camera)
    sent = platform("feedback", matched, "blocked", "--idempotency-key", "upload-8812", "--base-url", api)
    assert sent.returncode == 0 and sent.stdout.strip().endswith(": recorded"), sent.stdout + sent.stderr
    again = platform("feedback", matched, "blocked", "--idempotency-key", "upload-8812", "--base-url", api)
    assert again.returncode == 0 and again.stdout.strip().endswith(": duplicate")
    event = case_timeline(case=camera.case).get(kind="match_reported")
    assert event.data == {"outcome": "blocked", "count": 1, "partner": None}
    assert CaseEvent.objects.filter(kind="match_reported").count() == 1
