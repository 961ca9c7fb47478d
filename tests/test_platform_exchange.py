"""The python-threatexchange exchange, driven by the real `threatexchange` CLI against a live
server publishing the feed as in production: extension added, collaboration configured with a
real partner key, fetch, match a real photograph, withdrawals honoured (per id, so a value two
survivors submitted stays listed until both withdraw), and a tampered page refused loudly."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from hashbank.feed.snapshots import snapshot_build
from hashbank.models import Fingerprint
from hashbank.platform.matcher import hash_image
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.conftest import ROOT, require
from tests.feed_helpers import one_file, trusted_keys

pytestmark = pytest.mark.django_db(transaction=True)

PHOTOS = Path(__import__("skimage").__file__).parent / "data"
TX = Path(sys.executable).parent / "threatexchange"


@pytest.fixture(autouse=True)
def _feed_settings(settings, tmp_path):
    # Publish on commit in this process, as `make run` does (no worker to wait for).
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


def photo_case(name: str):
    image = hash_image(PHOTOS / name)
    return case_create(files=[[{"signal_type": "pdq", "value": image.hashes[0], "quality": image.quality}]])


def ids_of(receipt) -> set[str]:
    return set(Fingerprint.objects.filter(case=receipt.case).values_list("public_id", flat=True))


class TxCli:
    """The real `threatexchange` command in a private state directory (TX_STATEDIR and HOME)."""

    def __init__(self, home: Path, api_key: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TX_"))}
        self.env.update(HOME=str(home), TX_STATEDIR=str(home / "tx"), HASHBANK_FEED_API_KEY=api_key,
                        PYTHONPATH=str(ROOT))

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(TX), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                                timeout=180)
        if ok:
            assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def matches(self, photo: Path) -> str:
        return self("match", "photo", str(photo)).stdout


class FeedProxy:
    """A tiny local proxy in front of the live server. ``mode``: None passes everything through;
    "tamper" flips one byte in feed pages; "fail" answers 503 to feed pages after the first
    ``fail_after`` of them. ``cursors`` records the cursor of every page requested."""

    def __init__(self, upstream: str, mode: str | None = None, fail_after: int = 0) -> None:
        self.upstream, self.mode, self.fail_after = upstream, mode, fail_after
        self.tampered = 0
        self.cursors: list[int] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                is_page = self.path.startswith("/api/v1/feed")
                if is_page:
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                    proxy.cursors.append(int(query.get("cursor", ["0"])[0]))
                    if proxy.mode == "fail" and len(proxy.cursors) > proxy.fail_after:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                request = urllib.request.Request(proxy.upstream + self.path, headers={
                    k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")})
                try:
                    with urllib.request.urlopen(request) as answer:
                        status, headers, body = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, headers, body = error.code, error.headers, error.read()
                if is_page and proxy.mode == "tamper" and b'"op":"add"' in body:
                    body = body.replace(b'"op":"add"', b'"op":"adx"', 1)
                    proxy.tampered += 1
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_threatexchange_cli_fetches_matches_and_honours_withdrawals(live_server, client, tmp_path):
    require(TX.exists(), "the threatexchange CLI (pip install '.[platform]')")
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    keys = trusted_keys(client)

    astronaut = photo_case("astronaut.png")
    case_create(files=[one_file(1)])  # unrelated fingerprints, and an md5 pytx has no photo type for
    assert snapshot_build(force=True) is not None  # the first fetch starts from this snapshot
    camera = photo_case("camera.png")  # published after the snapshot: reached through a page
    coffee = photo_case("coffee.png")
    case_withdraw(case=coffee.case)  # added then withdrawn within the pages: never matched

    tx = TxCli(tmp_path, secret)
    added = tx("config", "extensions", "add", "hashbank.platform.exchange")
    assert "survivor_hash_feed" in added.stdout + added.stderr
    tx("config", "collab", "edit", "survivor_hash_feed", "shield", "--create",
       "--base-url", f"{live_server.url}/api/v1",
       "--trusted-keys", ",".join(f"{kid}={public}" for kid, public in keys.items()))

    tx("fetch", "--only-collab", "shield")
    out = tx.matches(PHOTOS / "astronaut.png")
    assert "pdq" in out and "(shield)" in out
    assert ids_of(astronaut).pop() in out
    assert ids_of(camera).pop() in tx.matches(PHOTOS / "camera.png")
    assert "(shield)" not in tx.matches(PHOTOS / "coffee.png")
    assert "(shield)" not in tx.matches(PHOTOS / "rocket.jpg")

    # A second survivor submits the same photograph; the first withdraws. Still listed.
    second = photo_case("astronaut.png")
    case_withdraw(case=astronaut.case)
    tx("fetch", "--only-collab", "shield")
    out = tx.matches(PHOTOS / "astronaut.png")
    assert ids_of(second).pop() in out and ids_of(astronaut).pop() not in out

    # The last holder withdraws: the next fetch no longer matches it.
    case_withdraw(case=second.case)
    tx("fetch", "--only-collab", "shield")
    assert "(shield)" not in tx.matches(PHOTOS / "astronaut.png")
    assert ids_of(camera).pop() in tx.matches(PHOTOS / "camera.png")

    # A page with one flipped byte: the fetch fails loudly and applies nothing of it.
    proxy = FeedProxy(live_server.url, mode="tamper")
    try:
        rocket = photo_case("rocket.jpg")
        tx("config", "collab", "edit", "survivor_hash_feed", "shield", "--base-url", f"{proxy.url}/api/v1")
        failed = tx("--verbose", "fetch", "--only-collab", "shield", ok=False)
        assert proxy.tampered >= 1
        assert failed.returncode != 0
        assert "VerifyError" in failed.stderr and "signature does not match" in failed.stderr
        assert "(shield)" not in tx.matches(PHOTOS / "rocket.jpg")
    finally:
        proxy.close()
    # Pointed back at the real feed, the same fetch resumes from the last verified page.
    tx("config", "collab", "edit", "survivor_hash_feed", "shield", "--base-url", f"{live_server.url}/api/v1")
    tx("fetch", "--only-collab", "shield")
    assert ids_of(rocket).pop() in tx.matches(PHOTOS / "rocket.jpg")
