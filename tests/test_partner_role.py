"""The partner API's own pool (PORTAL_ROLE=partner): the API behaves as it does on the site, with
the pages' machinery gone; it serves /api/v1/ and nothing else, refuses what the site refuses,
and the shipped unit runs in this role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.services import case_create, partner_create, partner_key_issue
from tests.feed_helpers import auth, pdq_value

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def partner_pool(settings):
    settings.MIDDLEWARE = settings.PARTNER_MIDDLEWARE
    settings.ROOT_URLCONF = "portal.urls_partner"
    return Client()


@pytest.mark.django_db(transaction=True)
def test_the_feed_answers_as_on_the_site_and_sets_no_cookie(partner_pool, settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path
    case_create(files=[[{"signal_type": "pdq", "value": pdq_value(), "quality": 90}]])
    secret = partner_key_issue(partner=partner_create(name="Pool")).secret
    page = partner_pool.get("/api/v1/feed?cursor=0", **auth(secret))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert len(json.loads(page.content)["entries"]) == 1
    assert "Set-Cookie" not in page and not page.cookies
    assert partner_pool.get("/api/v1/checkpoint", **auth(secret)).status_code == 200
    assert partner_pool.get("/api/v1/checkpoint").json()["error"]["code"] == "missing_key"


@pytest.mark.django_db(transaction=True)
def test_the_hosted_lookup_matches_through_the_pool(partner_pool, settings, tmp_path):
    settings.JOBS_IN_PROCESS, settings.LOOKUP_URL, settings.FEED_SNAPSHOT_DIR = True, "", tmp_path
    value = pdq_value()
    case_create(files=[[{"signal_type": "pdq", "value": value, "quality": 90}]])
    secret = partner_lookup_key_issue(partner=partner_create(name="Forum")).secret
    response = partner_pool.post("/api/v1/lookup", json.dumps({"hashes": [{"signal_type": "pdq", "value": value,
                                                                          "quality": 90}]}),
                                 content_type="application/json", **auth(secret))
    assert response.status_code == 200
    assert response.json()["results"][0]["matches"][0]["distance"] == 0


@pytest.mark.parametrize("path", ["/", "/start/", "/caseworkers/login/", "/admin/", "/static/fingerprint/pdq.js"])
def test_no_page_is_served_only_json_not_found(partner_pool, path):
    response = partner_pool.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    assert "Set-Cookie" not in response


def test_media_and_bad_hosts_are_refused_and_health_answers(partner_pool):
    photo = SimpleUploadedFile("a.jpg", b"\xff\xd8\xff\xe0", content_type="image/jpeg")
    assert partner_pool.post("/api/v1/feedback", data={"file": photo}).status_code == 415
    raw = partner_pool.post("/api/v1/lookup", b"\xff\xd8\xff\xe0", content_type="image/jpeg")
    assert raw.status_code == 415 and raw.json()["error"]["code"] == "unsupported_media_type"
    assert partner_pool.get("/api/v1/openapi.json", HTTP_HOST="evil.example").status_code == 400
    assert partner_pool.get("/livez").status_code == 200


def test_the_rate_limit_still_applies(partner_pool, settings, redis_url):
    import redis

    settings.JOBS_IN_PROCESS = False
    settings.PARTNER_RATE_PER_SECOND, settings.PARTNER_RATE_BURST = 1, 2
    for key in redis.Redis.from_url(redis_url).scan_iter("imageshield:partner-rate:*"):
        redis.Redis.from_url(redis_url).delete(key)
    secret = partner_key_issue(partner=partner_create(name="Busy")).secret
    statuses = [partner_pool.get("/api/v1/checkpoint", **auth(secret)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def _settings_in(role: str) -> subprocess.CompletedProcess:
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.ROOT_URLCONF, len(settings.MIDDLEWARE), "
            "settings.MIDDLEWARE == settings.PARTNER_MIDDLEWARE)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_ROLE": role}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_role_comes_from_the_environment():
    partner = _settings_in("partner")
    assert partner.returncode == 0 and partner.stdout.split() == ["portal.urls_partner", "5", "True"]
    site = _settings_in("site")
    assert site.returncode == 0 and site.stdout.split()[0] == "portal.urls" and site.stdout.split()[2] == "False"
    wrong = _settings_in("partnr")
    assert wrong.returncode != 0 and "PORTAL_ROLE must be" in wrong.stderr


def test_the_shipped_partner_unit_runs_in_the_partner_role():
    unit = (ROOT / "deploy" / "systemd" / "imageshield-partner.service").read_text()
    environment = " ".join(line for line in unit.splitlines() if line.startswith("Environment="))
    assert "PORTAL_ROLE=partner" in environment.split()
    web = (ROOT / "deploy" / "systemd" / "imageshield-web.service").read_text()
    assert "PORTAL_ROLE" not in web
