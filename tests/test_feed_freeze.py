"""A withheld tail (issue 11, item 6): after verifying a checkpoint with head H', a consumer is
served a stale but validly signed page at its cursor H < H' saying there is nothing more. The
verifier, the feed reader that the python-threatexchange exchange uses, and the matcher CLI's
sync all refuse it, change nothing, and catch up once the real page comes through."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from hashbank.feedformat import FeedVerifier, VerifyError
from hashbank.models import Fingerprint
from hashbank.platform.feed import FeedClient, FeedState, read_feed
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.feed_helpers import auth, pdq_value, trusted_keys
from tests.test_platform_matcher_cli import Platform

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _feed_settings(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


class FreezeProxy:
    """In front of the live server: remembers the feed page it served for each cursor and,
    once frozen, serves those remembered pages again instead of asking the server."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.frozen, self.pages = upstream, False, {}
        self.replayed = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                is_page = self.path.startswith("/api/v1/feed")
                cursor = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("cursor", ["0"])[0]
                if is_page and proxy.frozen and cursor in proxy.pages:
                    status, headers, body = proxy.pages[cursor]
                    proxy.replayed += 1
                else:
                    request = urllib.request.Request(proxy.upstream + self.path, headers={
                        k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")})
                    try:
                        with urllib.request.urlopen(request) as answer:
                            status, headers, body = answer.status, list(answer.headers.items()), answer.read()
                    except urllib.error.HTTPError as error:
                        status, headers, body = error.code, list(error.headers.items()), error.read()
                    if is_page and status == 200:
                        proxy.pages[cursor] = (status, headers, body)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def submit(value: str):
    return case_create(files=[[{"signal_type": "pdq", "value": value, "quality": 90}]])


@pytest.fixture
def feed(live_server, client):
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    proxy = FreezeProxy(live_server.url)
    yield {"secret": secret, "keys": trusted_keys(client), "api": f"{proxy.url}/api/v1", "proxy": proxy,
           "client": client}
    proxy.close()


def test_the_verifier_refuses_a_stale_last_page_below_the_verified_head(feed, client):
    submit(pdq_value())
    verifier = FeedVerifier(feed["keys"])
    headers = auth(feed["secret"])
    checkpoint = client.get("/api/v1/checkpoint", **headers)
    verifier.accept_checkpoint(checkpoint.content, checkpoint["Feed-Key-Id"], checkpoint["Feed-Signature"])
    first = client.get("/api/v1/feed?cursor=0", **headers)
    verifier.accept_page(first.content, first["Feed-Key-Id"], first["Feed-Signature"])
    head = verifier.position
    stale = client.get(f"/api/v1/feed?cursor={head}", **headers)  # empty, more=false, validly signed

    submit(pdq_value())
    newer = client.get("/api/v1/checkpoint", **headers)
    verifier.accept_checkpoint(newer.content, newer["Feed-Key-Id"], newer["Feed-Signature"])
    with pytest.raises(VerifyError, match="withheld"):
        verifier.accept_page(stale.content, stale["Feed-Key-Id"], stale["Feed-Signature"])
    assert verifier.position == head  # nothing moved
    # The real page is accepted and reaches the head.
    real = client.get(f"/api/v1/feed?cursor={head}", **headers)
    verifier.accept_page(real.content, real["Feed-Key-Id"], real["Feed-Signature"])
    assert verifier.position == verifier.checkpoint.head_position


def test_the_feed_reader_and_so_the_exchange_refuse_a_frozen_tail(feed):
    submit(pdq_value())
    client = FeedClient(feed["api"], feed["secret"])
    state = FeedState(keys=feed["keys"])
    for batch in read_feed(client, state):
        state = batch.state
    for batch in read_feed(client, state):  # records the empty page at the head
        state = batch.state
    head = state.position
    withdrawn = submit(pdq_value())
    case_withdraw(case=withdrawn.case)
    feed["proxy"].frozen = True
    batches = []
    with pytest.raises(VerifyError, match="withheld"):
        for batch in read_feed(client, state):
            batches.append(batch)
    assert feed["proxy"].replayed >= 1
    assert all(b.kind != "page" for b in batches)  # no page was handed to the exchange
    feed["proxy"].frozen = False
    for batch in read_feed(client, state):
        state = batch.state
    assert state.position == head + 2  # the addition and its withdrawal


def test_the_sync_cli_reports_refused_not_ok_and_keeps_its_state(feed, tmp_path):
    submit(pdq_value())
    platform = Platform(tmp_path / "store", feed["secret"])
    trust = [f"--trusted-key={kid}={pub}" for kid, pub in feed["keys"].items()]
    first = platform("sync", "--base-url", feed["api"], *trust)
    assert first.returncode == 0 and "OK at position" in first.stdout, first.stdout + first.stderr
    again = platform("sync", "--base-url", feed["api"], *trust)  # records the page at the head
    assert again.returncode == 0, again.stdout + again.stderr
    before = platform.state()
    later = submit(pdq_value())
    case_withdraw(case=later.case)
    feed["proxy"].frozen = True
    frozen = platform("sync", "--base-url", feed["api"], *trust)
    assert frozen.returncode != 0, frozen.stdout
    assert "REFUSED" in frozen.stdout and "withheld" in frozen.stdout and "OK at position" not in frozen.stdout
    assert platform.state()["feed"]["position"] == before["feed"]["position"]
    feed["proxy"].frozen = False
    caught_up = platform("sync", "--base-url", feed["api"], *trust)
    assert caught_up.returncode == 0 and "OK at position" in caught_up.stdout
    assert Fingerprint.objects.filter(case=later.case, status=Fingerprint.Status.WITHDRAWN).exists()
