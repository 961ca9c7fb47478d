"""The shipped gunicorn configuration, run for real: its access log never holds a welcome
link's key (issue 11, item 11), and the server answers through it."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from portal.caseworkers import services
from tests.conftest import ROOT
from tests.feed_helpers import subprocess_env
from tests.redis_server import free_port
from tests.test_caseworker_support import organisation

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_welcome_key_never_reaches_the_access_log(postgres, tmp_path, settings):
    created = services.caseworker_create(username="new", email="", organisation=organisation())
    key = created.welcome_path.split("?k=", 1)[1]
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = subprocess_env(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", DEBUG="0",
                         SECURE_SSL_REDIRECT="0", ALLOWED_HOSTS="127.0.0.1", REDIS_URL="",
                         STATIC_ROOT=str(settings.STATIC_ROOT))  # this run's collected files
    with log.open("w") as out:
        server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi",
                                   "--config", str(ROOT / "deploy" / "gunicorn.conf.py")],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.monotonic() + 60, None
            while time.monotonic() < deadline and status is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as answer:
                        status = answer.status
                except OSError:
                    time.sleep(0.2)
            assert status == 200
            import http.client

            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", created.welcome_path, headers={"Host": "127.0.0.1"})
            answer = connection.getresponse()
            # The key is taken into the session and the browser sent on to the bare page.
            assert answer.status == 302 and answer.getheader("Location") == "/caseworkers/welcome/"
            connection.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log.read_text()
    assert '"GET /caseworkers/welcome/" 302' in text, text[-2000:]
    assert key not in text and "?k=" not in text
