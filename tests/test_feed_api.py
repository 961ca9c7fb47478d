"""The feed API end to end: every change reaches the signed feed in order, and the verifier accepts it."""

import json

import pytest

from hashbank.feedformat import GENESIS, FeedVerifier, chain_step, entry_bytes
from hashbank.models import FeedEntry, Fingerprint
from hashbank.services import case_create, case_file_withdraw, partner_create, partner_key_issue
from tests.feed_helpers import auth, one_file, publish, sync, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path


@pytest.fixture
def secret():
    return partner_key_issue(partner=partner_create(name="Platform")).secret


@pytest.mark.django_db(transaction=True)
def test_full_sync_sees_every_add_and_tombstone_in_order(client, secret):
    # Real commits here: the publisher runs from the on-commit hook, as under `make run`.
    first = case_create(files=[one_file(2), one_file(1)])
    second = case_create(files=[one_file(1)])
    withdrawn_file = first.case.files.first()
    case_file_withdraw(case=first.case, file_id=withdrawn_file.public_id)

    verifier = FeedVerifier(trusted_keys(client))
    entries = sync(client, secret, verifier, limit=2)
    assert [e["position"] for e in entries] == list(range(1, 11))  # 5 + 2 additions, 3 tombstones
    adds = {e["id"] for e in entries if e["op"] == "add"}
    tombstones = [e["id"] for e in entries if e["op"] == "withdraw"]
    assert adds == set(Fingerprint.objects.values_list("public_id", flat=True))
    assert set(tombstones) == set(withdrawn_file.fingerprints.values_list("public_id", flat=True))
    # Records use python-threatexchange's names and lowercase hex, and carry the case's feed
    # token, never anything that opens the case.
    by_id = {f.public_id: f for f in Fingerprint.objects.all()}
    for entry in entries:
        fingerprint = by_id[entry["id"]]
        assert first.reference.replace("-", "") not in json.dumps(entry)
        if entry["op"] == "withdraw":
            # A tombstone names the id and nothing else: the value stays out of the feed.
            assert set(entry) == {"position", "op", "id", "time"}
            assert fingerprint.value not in json.dumps(entry)
            continue
        assert entry["signal_type"] == fingerprint.signal_type in {"pdq", "md5"}
        assert entry["value"] == fingerprint.value == fingerprint.value.lower()
        assert entry["case"] == fingerprint.case.feed_token
    assert {e["case"] for e in entries if e["op"] == "add"} == {first.case.feed_token, second.case.feed_token}
    assert verifier.position == verifier.checkpoint.head_position == 10


def test_page_bytes_are_the_stored_canonical_lines_and_the_chain(client, secret):
    case_create(files=[one_file(2)])
    publish()
    response = client.get("/api/v1/feed", {"cursor": 0, "limit": 1000}, **auth(secret))
    assert response["Content-Type"] == "application/json" and response["Cache-Control"] == "no-store"
    page = json.loads(response.content)
    lines = list(FeedEntry.objects.order_by("position").values_list("line", flat=True))
    assert [entry_bytes(e).decode() for e in page["entries"]] == lines
    for line in lines:
        assert line.encode() in response.content
    digest = GENESIS
    for line in lines:
        digest = chain_step(digest, line.encode())
    assert page["prev_digest"] == GENESIS and page["digest"] == digest and page["more"] is False
    assert response["Feed-Next-Cursor"] == "3" == str(page["next_cursor"])


def test_cursor_at_head_gives_an_empty_page_that_continues_the_chain(client, secret):
    case_create(files=[one_file()])
    publish()
    verifier = FeedVerifier(trusted_keys(client))
    sync(client, secret, verifier)
    response = client.get("/api/v1/feed", {"cursor": 2}, **auth(secret))
    page = verifier.accept_page(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
    assert page.entries == [] and page.more is False and page.digest == verifier.digest


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "abc"}, 400, "bad_cursor"),
        ({"cursor": "-1"}, 400, "bad_cursor"),
        ({"cursor": "01"}, 400, "bad_cursor"),
        ({"cursor": "1e3"}, 400, "bad_cursor"),
        ({"cursor": "99999999999999999999"}, 400, "bad_cursor"),
        ({"cursor": "50"}, 400, "cursor_ahead"),
        ({"limit": "0"}, 400, "bad_limit"),
        ({"limit": "1001"}, 400, "bad_limit"),
        ({"limit": "ten"}, 400, "bad_limit"),
    ],
)
def test_bad_cursors_and_limits_are_clear_4xx(client, secret, params, status, code):
    case_create(files=[one_file()])
    publish()
    response = client.get("/api/v1/feed", params, **auth(secret))
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response["Cache-Control"] == "no-store"


def test_wrong_method_is_405_json(client, secret):
    response = client.put("/api/v1/feed", data="{}", content_type="application/json", **auth(secret))
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_checkpoint_names_the_head_and_its_version_grows(client, secret):
    verifier = FeedVerifier(trusted_keys(client))
    response = client.get("/api/v1/checkpoint", **auth(secret))
    first = verifier.accept_checkpoint(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
    case_create(files=[one_file()])
    publish()
    response = client.get("/api/v1/checkpoint", **auth(secret))
    second = verifier.accept_checkpoint(response.content, response["Feed-Key-Id"], response["Feed-Signature"])
    assert second.version > first.version and second.head_position == 2
    assert second.head_digest == FeedEntry.objects.get(position=2).chain


def test_openapi_is_served_and_describes_every_route(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    # Every route of the partner API (but the catch-all 404) is described, and nothing else.
    import re

    from django.urls import URLPattern

    from hashbank.api.urls import urlpatterns

    routes = {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern)) for p in urlpatterns
              if isinstance(p, URLPattern) and p.name != "not_found"}
    assert {"/feed", "/checkpoint", "/keys", "/snapshots/latest", "/snapshots/{position}/file", "/feedback",
            "/openapi.json", "/evidence", "/lookup"} <= routes
    assert set(document["paths"]) == routes


def test_a_page_costs_a_fixed_number_of_queries(client, secret, django_assert_max_num_queries):
    case_create(files=[one_file(5)])
    publish()
    client.get("/api/v1/feed", {"cursor": 0}, **auth(secret))  # first use: key lookups, last-used write
    # The key, the head, one range scan, the partner's progress (hashbank.feed.progress:
    # one update, and one ranged update or read) and the key's delivery (hashbank.feed.delivery:
    # one update, and one read for a page fetched again), plus the SAVEPOINT and RELEASE that
    # the test's own transaction makes of the bookkeeping's one transaction: not one per entry.
    with django_assert_max_num_queries(9):
        response = client.get("/api/v1/feed", {"cursor": 1, "limit": 1000}, **auth(secret))
    assert response.status_code == 200 and response["Feed-Next-Cursor"] == "6"


def test_the_openapi_entry_shapes_are_the_verifiers():
    """What the OpenAPI description promises partners is exactly what the verifier accepts:
    an addition with every field, a withdrawal with the id only (format 2)."""
    from hashbank import feedformat
    from hashbank.api.openapi import openapi_document

    schemas = openapi_document()["components"]["schemas"]
    assert {s["$ref"] for s in schemas["Entry"]["oneOf"]} == {"#/components/schemas/Addition",
                                                              "#/components/schemas/Withdrawal"}
    assert set(schemas["Addition"]["required"]) == set(feedformat.ADD_FIELDS)
    assert set(schemas["Withdrawal"]["required"]) == set(feedformat.WITHDRAW_FIELDS)
    assert schemas["Addition"]["properties"]["op"]["enum"] == ["add"]
    assert schemas["Withdrawal"]["properties"]["op"]["enum"] == ["withdraw"]
    for name in ("Page", "Checkpoint", "KeySet", "SnapshotManifest"):
        assert schemas[name]["properties"]["format"]["enum"] == [feedformat.FORMAT_VERSION], name
