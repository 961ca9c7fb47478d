"""Lookup-only partner keys (issue 16): they answer POST /api/v1/lookup and the partner's own
GET /api/v1/evidence, nothing else, so a service that should not hold the list can never read
it; feed keys may use the lookup too."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.models import PartnerKey
from hashbank.services import partner_create, partner_key_issue
from tests.feed_helpers import auth, pdq_value

pytestmark = pytest.mark.django_db

LOOKUP = {"hashes": [{"signal_type": "pdq", "value": pdq_value(), "quality": 90}]}


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    # The in-process lookup (no LOOKUP_URL): these tests are about who may ask, not about the process.
    settings.JOBS_IN_PROCESS = True
    settings.LOOKUP_URL = ""
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


@pytest.fixture
def lookup_key() -> str:
    return partner_lookup_key_issue(partner=partner_create(name="Small Forum")).secret


def post_lookup(client, secret: str):
    return client.post("/api/v1/lookup", json.dumps(LOOKUP), content_type="application/json", **auth(secret))


@pytest.mark.parametrize("method,path", [
    ("get", "/api/v1/feed?cursor=0"),
    ("get", "/api/v1/checkpoint"),
    ("get", "/api/v1/snapshots/latest"),
    ("get", "/api/v1/snapshots/1/file"),
    ("post", "/api/v1/feedback"),
])
def test_a_lookup_only_key_is_refused_everywhere_else(client, lookup_key, method, path):
    kwargs = {"data": "{}", "content_type": "application/json"} if method == "post" else {}
    response = getattr(client, method)(path, **kwargs, **auth(lookup_key))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "lookup_only_key"
    assert response["Cache-Control"] == "no-store"


def test_a_lookup_only_key_may_look_up_and_fetch_its_own_evidence(client, lookup_key):
    response = post_lookup(client, lookup_key)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [{"index": 0, "matches": []}]
    evidence = client.get("/api/v1/evidence", **auth(lookup_key))
    assert evidence.status_code == 200 and json.loads(evidence.content)["partner"] == "Small Forum"
    assert json.loads(evidence.content)["lookups"] == {"requests": 1, "hashes": 1, "matched": 0}


def test_a_feed_key_may_look_up_and_read_the_feed(client):
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    assert post_lookup(client, secret).status_code == 200
    assert client.get("/api/v1/checkpoint", **auth(secret)).status_code == 200


def test_a_revoked_lookup_key_is_refused(client, lookup_key):
    from hashbank.services import partner_key_revoke

    partner_key_revoke(key=PartnerKey.objects.get(scope=PartnerKey.Scope.LOOKUP))
    assert post_lookup(client, lookup_key).status_code == 401


def test_the_command_issues_a_lookup_only_key_and_its_dry_run_changes_nothing(client):
    partner_create(name="Small Forum")
    out = io.StringIO()
    call_command("partner_key_issue", "Small Forum", "--lookup-only", "--dry-run", stdout=out)
    assert "would issue a lookup-only key" in out.getvalue() and not PartnerKey.objects.exists()
    call_command("partner_key_issue", "Small Forum", "--lookup-only", "--label", "uploads", stdout=out)
    key = PartnerKey.objects.get()
    assert key.scope == PartnerKey.Scope.LOOKUP and key.label == "uploads"
    secret = out.getvalue().rsplit(" ", 1)[1].strip()
    assert client.get("/api/v1/checkpoint", **auth(secret)).json()["error"]["code"] == "lookup_only_key"
    assert post_lookup(client, secret).status_code == 200
    call_command("partner_key_issue", "Small Forum", stdout=out)
    assert PartnerKey.objects.filter(scope=PartnerKey.Scope.FEED).count() == 1
