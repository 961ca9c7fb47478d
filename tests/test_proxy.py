"""The site behind a real nginx, with the shipped proxy configuration (deploy/nginx/), over TLS
(issue 11, items 2 and 8). Clients come from different loopback addresses, so the proxy sees
real, different peers: one client's wrong passwords lock that client out, not everyone, and
nothing a client writes in X-Forwarded-For changes who it is counted as."""

from __future__ import annotations

import datetime
import http.client
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

pytestmark = [pytest.mark.django_db(transaction=True)]

CONF = ROOT / "deploy" / "nginx" / "imageshield.conf"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _render(conf: str, *, upstream: int, tls: int, plain: int, cert: Path, key: Path, log: Path,
            partner_upstream: int | None = None, snapshots: Path | None = None, read_timeout: str = "60s") -> str:
    replacements = {
        "read_timeout": f"proxy_read_timeout {read_timeout};",
        "snapshots": f"alias {snapshots or log.parent / 'snapshots'}/;",
        "upstream": f"server 127.0.0.1:{upstream};",
        "partner_upstream": f"server 127.0.0.1:{partner_upstream or upstream};",
        "plain": f"listen 127.0.0.1:{plain};",
        "tls": f"listen 127.0.0.1:{tls} ssl;",
        "name": "server_name localhost;",
        "cert": f"ssl_certificate {cert};",
        "key": f"ssl_certificate_key {key};",
        "log": f"access_log {log} imageshield;",
    }
    out = []
    for line in conf.splitlines():
        marker = re.search(r"# TEST: (\w+)$", line)
        if marker:
            indent = line[: len(line) - len(line.lstrip())]
            line = indent + replacements[marker.group(1)]
        out.append(line)
    return "\n".join(out)


def _nginx(tmp_path: Path, upstream: int, partner_upstream: int | None = None, read_timeout: str = "60s"):
    """The shipped configuration running in nginx, until the generator is closed."""
    require(shutil.which("nginx") is not None, "nginx (apt-get install nginx-light)")
    tls, plain = _free_port(), _free_port()
    cert, key = _self_signed(tmp_path)
    log = tmp_path / "access.log"
    site = _render(CONF.read_text(), upstream=upstream, tls=tls, plain=plain, cert=cert, key=key, log=log,
                   partner_upstream=partner_upstream, read_timeout=read_timeout)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"user root;\ndaemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{ client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;\n"
        f"  include {tmp_path}/site.conf; }}\n"
    )
    process = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", tls), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield {"port": tls, "log": log}
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def proxy(live_server, tmp_path, settings):
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    # Both pools run the same application: here both upstreams are the live server.
    yield from _nginx(tmp_path, int(urllib.parse.urlsplit(live_server.url).port))


class Browser:
    """A client with its own loopback address, cookies and CSRF token, over TLS via the proxy."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source, self.cookies = port, source, {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30,
                                                 source_address=(self.source, 0))
        headers = {"Host": "localhost", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = "https://localhost/"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        connection.close()
        return response.status, text

    def sign_in(self, username: str, password: str, **headers: str) -> int:
        _, page = self.request("GET", "/caseworkers/sign-in/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request("POST", "/caseworkers/sign-in/",
                            {"csrfmiddlewaretoken": token, "username": username, "password": password}, headers)[0]


@pytest.fixture
def caseworker(settings):
    from django.contrib.auth import get_user_model

    settings.ALLOWED_HOSTS = ["localhost"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://localhost"]
    get_user_model().objects.create_user(username="sam", password="An-untypical-passphrase-43")
    get_user_model().objects.create_user(username="alex", password="An-untypical-passphrase-44")


def test_one_client_failing_does_not_lock_out_the_others(proxy, caseworker, settings):
    attacker = Browser(proxy["port"], "127.0.0.2")
    statuses = [attacker.sign_in("sam", "wrong-password-123") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[0] == 200 and statuses[-1] == 429  # the limit-th failure locks this client
    assert attacker.sign_in("alex", "An-untypical-passphrase-44") == 429
    # Another caseworker elsewhere, through the same proxy, reaches the second-factor step.
    assert Browser(proxy["port"], "127.0.0.3").sign_in("alex", "An-untypical-passphrase-44") == 302


def test_what_a_client_writes_in_x_forwarded_for_changes_nothing(proxy, caseworker, settings):
    attacker = Browser(proxy["port"], "127.0.0.4")
    for i in range(settings.AXES_FAILURE_LIMIT + 1):
        # Each try claims to be someone new; the proxy replaces the header, so all count as one.
        attacker.sign_in("sam", "wrong-password-123", **{"X-Forwarded-For": f"198.51.100.{i}"})
    assert attacker.sign_in("alex", "An-untypical-passphrase-44", **{"X-Forwarded-For": "203.0.113.1"}) == 429
    # Garbage is not an address either: nobody can make their tries count against "X".
    other = Browser(proxy["port"], "127.0.0.5")
    assert other.sign_in("alex", "An-untypical-passphrase-44", **{"X-Forwarded-For": "X"}) == 302


def test_the_access_log_has_no_query_strings(proxy):
    Browser(proxy["port"], "127.0.0.6").request("GET", "/caseworkers/sign-in/?token=secret-value-123")
    time.sleep(0.2)  # nginx writes the line after the response
    log = proxy["log"].read_text()
    assert "/caseworkers/sign-in/" in log
    assert "secret-value-123" not in log and "127.0.0.6" in log


def test_the_partner_api_goes_to_its_own_pool(live_server, tmp_path, settings):
    """/api/v1/ is proxied to the partner pool (port 8001 in production, its own unit with a
    small CPU share), everything else to the survivors' pool: a partner flood cannot take the
    survivors' workers. The partner upstream here is a stand-in that names itself."""
    import http.server
    import threading

    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.ALLOWED_HOSTS = ["localhost"]
    seen: list[str] = []

    class PartnerPool(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = b'{"pool": "partner"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PartnerPool)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        running = _nginx(tmp_path, int(urllib.parse.urlsplit(live_server.url).port), server.server_address[1])
        proxy = next(running)
        client = Browser(proxy["port"], "127.0.0.7")
        status, body = client.request("GET", "/api/v1/checkpoint")
        assert status == 200 and body == '{"pool": "partner"}' and seen == ["/api/v1/checkpoint"]
        status, body = client.request("GET", "/")
        assert status == 200 and "data-quick-exit" in body and seen == ["/api/v1/checkpoint"]
        running.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_pool_that_does_not_answer_is_a_504_after_the_read_timeout(live_server, tmp_path):
    """An upstream that takes the request and never answers: nginx gives up after
    proxy_read_timeout with 504 rather than holding the client. Shipped at 60 s, longer than
    gunicorn's 30 s worker timeout so the application ends a stuck request first; run here at
    1 s (the one line rewritten)."""
    import threading

    shipped = re.search(r"proxy_read_timeout (\d+)s;", CONF.read_text())
    gunicorn = re.search(r"^timeout = (\d+)$", (ROOT / "deploy" / "gunicorn.conf.py").read_text(), re.M)
    assert shipped and gunicorn and int(shipped.group(1)) > int(gunicorn.group(1))
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])  # read nothing, answer nothing
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    try:
        running = _nginx(tmp_path, int(urllib.parse.urlsplit(live_server.url).port), silent.getsockname()[1],
                         read_timeout="1s")
        proxy = next(running)
        started = time.monotonic()
        status, body, _ = _tls_get(proxy["port"], "/api/v1/checkpoint", {})
        waited = time.monotonic() - started
        assert status == 504 and b"nginx" in body
        assert 0.9 <= waited < 10
        running.close()
    finally:
        stop.set()
        for connection in held:
            connection.close()
        silent.close()


def _tls_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    connection.request("GET", path, headers={"Host": "localhost", **headers})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, {k.lower(): v for k, v in response.getheaders()}


def test_the_feed_and_its_snapshot_verify_through_the_proxy(proxy, settings, tmp_path):
    """A partner syncs over TLS through the shipped nginx: every page and the checkpoint verify
    (nginx passes the signed bytes and the signature headers untouched), the snapshot file
    arrives byte-exact against its signed manifest, and the fetches count as delivered."""
    import gzip
    import hashlib
    import json

    from hashbank.feed.publish import publish_pending
    from hashbank.feed.snapshots import snapshot_build
    from hashbank.feedformat import FeedVerifier
    from hashbank.models import DeliveryMark
    from hashbank.services import case_create, partner_create, partner_key_issue
    from tests.feed_helpers import one_file

    settings.ALLOWED_HOSTS = ["localhost"]
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    case_create(files=[one_file(3), one_file(2)])
    publish_pending()
    snapshot = snapshot_build(force=True)
    partner = partner_create(name="Behind the proxy")
    auth = {"Authorization": f"Bearer {partner_key_issue(partner=partner).secret}"}
    status, body, _ = _tls_get(proxy["port"], "/api/v1/keys", {})
    assert status == 200
    verifier = FeedVerifier({k["kid"]: k["public_key"] for k in json.loads(body)["keys"]})
    status, body, headers = _tls_get(proxy["port"], "/api/v1/checkpoint", auth)
    assert status == 200
    verifier.accept_checkpoint(body, headers["feed-key-id"], headers["feed-signature"])
    entries = []
    while True:
        status, body, headers = _tls_get(proxy["port"], f"/api/v1/feed?cursor={verifier.position}&limit=2", auth)
        assert status == 200 and headers["cache-control"] == "no-store"
        page = verifier.accept_page(body, headers["feed-key-id"], headers["feed-signature"])
        entries += page.entries
        if not page.more:
            break
    assert len(entries) == 7 and verifier.position == 7

    status, manifest_body, headers = _tls_get(proxy["port"], "/api/v1/snapshots/latest", auth)
    assert status == 200
    manifest = json.loads(manifest_body)
    status, file_body, _ = _tls_get(proxy["port"], f"/api/v1/snapshots/{snapshot.position}/file", auth)
    assert status == 200 and hashlib.sha256(file_body).hexdigest() == manifest["sha256"] == snapshot.sha256
    assert len(gzip.decompress(file_body).splitlines()) == snapshot.count
    assert DeliveryMark.objects.filter(partner=partner).order_by("-high").values_list("high", flat=True)[0] == 7


def test_snapshot_files_are_sent_by_nginx_after_the_application_records_the_fetch(proxy, settings, tmp_path,
                                                                                   live_server):
    """FEED_SNAPSHOT_ACCEL_PREFIX: the application checks the key, records the delivery and
    answers X-Accel-Redirect with no body; nginx sends the file from its internal location,
    byte-exact against the signed manifest. No client can reach that location itself."""
    import gzip
    import hashlib
    import json

    from hashbank.feed.publish import publish_pending
    from hashbank.feed.snapshots import snapshot_build
    from hashbank.models import DeliveryMark
    from hashbank.services import case_create, partner_create, partner_key_issue
    from tests.feed_helpers import one_file

    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.FEED_SNAPSHOT_ACCEL_PREFIX = "/internal/snapshots/"
    case_create(files=[one_file(3), one_file(2)])
    publish_pending()
    snapshot = snapshot_build(force=True)
    partner = partner_create(name="Snapshot reader")
    auth = {"Authorization": f"Bearer {partner_key_issue(partner=partner).secret}"}
    status, manifest_body, _ = _tls_get(proxy["port"], "/api/v1/snapshots/latest", auth)
    manifest = json.loads(manifest_body)
    path = f"/api/v1/snapshots/{snapshot.position}/file"

    status, file_body, headers = _tls_get(proxy["port"], path, auth)
    assert status == 200 and hashlib.sha256(file_body).hexdigest() == manifest["sha256"] == snapshot.sha256
    assert len(gzip.decompress(file_body).splitlines()) == snapshot.count
    assert headers["content-type"] == "application/gzip" and headers["cache-control"] == "no-store"
    assert DeliveryMark.objects.filter(partner=partner, high=snapshot.position).exists()
    # What the application itself answered: no body, only where nginx finds the file.
    direct = urllib.request.Request(live_server.url + path, headers=auth)
    with urllib.request.urlopen(direct, timeout=30) as response:
        assert response.read() == b""
        assert response.headers["X-Accel-Redirect"] == f"/internal/snapshots/{snapshot.file_name}"
    # The internal location is not a URL anyone may ask for, nor is it reached without a key.
    assert _tls_get(proxy["port"], f"/internal/snapshots/{snapshot.file_name}", {})[0] == 404
    assert _tls_get(proxy["port"], path, {})[0] == 401


def test_a_body_over_the_limit_is_refused_at_the_proxy(proxy, settings):
    """nginx refuses a body over client_max_body_size (1 MB) with 413 before the site reads it:
    nothing reaches the application, so nothing is recorded."""
    from hashbank.models import PartnerFeedback
    from hashbank.services import partner_create, partner_key_issue

    settings.ALLOWED_HOSTS = ["localhost"]
    secret = partner_key_issue(partner=partner_create(name="Oversized")).secret
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", proxy["port"], context=context, timeout=30)
    body = b'{"feedback": [' + b" " * (2 * 1024 * 1024) + b"]}"
    connection.request("POST", "/api/v1/feedback", body=body, headers={
        "Host": "localhost", "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.read().decode(errors="replace")
    connection.close()
    # nginx's own page, not the site's JSON 413 (body_too_large): the site never saw the body.
    assert response.status == 413 and "<center>nginx" in answer and "body_too_large" not in answer
    assert not PartnerFeedback.objects.exists()
