"""Test data for the case and feed tests, built through the real services."""

from __future__ import annotations

import secrets

from hashbank.fingerprints import SIGNAL_TYPES


def pdq_value() -> str:
    """A fresh, valid PDQ (about half its bits set, as a real one)."""
    while True:
        value = secrets.token_hex(32)
        if 100 <= int(value, 16).bit_count() <= 156:
            return value


def one_file(n_pdq: int = 1, *, md5: bool = True) -> list[dict]:
    items = [{"signal_type": "pdq", "value": pdq_value(), "quality": 90} for _ in range(n_pdq)]
    if md5:
        items.append({"signal_type": "md5", "value": secrets.token_hex(16), "quality": None})
    return items


def example(signal_type: str) -> str:
    return SIGNAL_TYPES[signal_type].get_examples()[0]


def auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def sync(client, secret: str, verifier, *, limit: int = 1000, start_checkpoint: bool = True) -> list[dict]:
    """Follow the feed from the verifier's position to the end, verifying every page."""
    if start_checkpoint:
        response = client.get("/api/v1/checkpoint", **auth(secret))
        assert response.status_code == 200, response.content
        verifier.accept_checkpoint(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
    entries = []
    while True:
        response = client.get("/api/v1/feed", {"cursor": verifier.position, "limit": limit}, **auth(secret))
        assert response.status_code == 200, response.content
        page = verifier.accept_page(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
        entries.extend(page.entries)
        if not page.more:
            return entries


def trusted_keys(client) -> dict[str, str]:
    """First contact: trust the keys as published (in real life, compare the kid out of band)."""
    body = client.get("/api/v1/keys").json()
    return {k["kid"]: k["public_key"] for k in body["keys"]}


def publish() -> int:
    """Run the real publisher now. Tests inside one rolled-back transaction never reach the
    on-commit hook that runs it; the tests with transaction=True prove that path."""
    from hashbank.feed.publish import publish_pending

    return publish_pending()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a real worker process on this test run's database."""
    import os

    from tests.test_jobs import test_database_url_for_the_test_database

    return {**os.environ, "DATABASE_URL": test_database_url_for_the_test_database(), **extra}


def run_worker(redis_url: str, **extra: str):
    import subprocess
    import sys

    from tests.conftest import ROOT

    return subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        cwd=ROOT, env=subprocess_env(REDIS_URL=redis_url, **extra), capture_output=True, text=True, timeout=120,
    )
