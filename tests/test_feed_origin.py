"""Where each fingerprint came from (issue 12, item 1): every addition carries `origin`,
"survivor" for a case made through the public pages, "helpline" for one a caseworker made with
the client present; in the pages, the snapshot, the verifier, the exchange (as opinion tags)
and the matcher (sync, match, serve). Additions published before origins were recorded are
"unrecorded", and an origin the verifier does not know is refused, never misread."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from threatexchange.signal_type.pdq.signal import PdqSignal

from hashbank import feedformat
from hashbank.feed.snapshots import snapshot_build
from hashbank.feedformat import FeedVerifier, VerifyError, origin_of
from hashbank.models import Fingerprint
from hashbank.platform.exchange import SurvivorHashFeedSignalExchangeAPI
from hashbank.platform.feed import FeedClient
from hashbank.platform.matcher import match_files
from hashbank.platform.serve import MatchService
from hashbank.platform.store import LocalStore
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.feed_helpers import pdq_value, publish, sync, trusted_keys
from tests.test_caseworker_support import assisted_case, member, organisation
from tests.test_platform_exchange import PHOTOS
from tests.test_verify import signed_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret():
    return partner_key_issue(partner=partner_create(name="Platform")).secret


def pdq_case(value: str, **kwargs):
    return case_create(files=[[{"signal_type": "pdq", "value": value, "quality": 90}]], **kwargs)


def test_every_addition_says_where_its_case_was_made(client, secret):
    survivor = pdq_case(pdq_value())
    helpline = assisted_case(member(organisation(), "alice")).assisted_case.case
    assert (survivor.case.origin, helpline.origin) == ("survivor", "helpline")
    publish()
    case_withdraw(case=survivor.case)
    publish()
    entries = sync(client, secret, FeedVerifier(trusted_keys(client)))
    origin_by_id = {e["id"]: e.get("origin") for e in entries if e["op"] == "add"}
    expected = {f.public_id: f.case.origin for f in Fingerprint.objects.select_related("case")}
    assert origin_by_id == expected and set(expected.values()) == {"survivor", "helpline"}
    # A tombstone still names only the id.
    assert all("origin" not in e for e in entries if e["op"] == "withdraw")


def test_the_snapshot_carries_origins_and_the_verifier_reads_them(client, secret, settings, tmp_path):
    settings.FEED_SNAPSHOT_DIR = tmp_path
    assisted_case(member(organisation(), "alice"), count=1)
    pdq_case(pdq_value())
    publish()
    snapshot = snapshot_build(force=True)
    manifest = feedformat.verify_snapshot_manifest(snapshot.manifest_body, snapshot.kid, snapshot.signature,
                                               trusted_keys(client))
    data = (tmp_path / snapshot.file_name).read_bytes()
    origins = {origin_of(e) for e in feedformat.read_snapshot(manifest, data)}
    assert origins == {"survivor", "helpline"}


def test_an_unknown_origin_is_refused_and_a_missing_one_is_unrecorded(client):
    keys = trusted_keys(client)
    entry = {"position": 1, "op": "add", "id": "f" * 20, "signal_type": "pdq", "value": "a" * 64, "quality": 90,
             "case": "c" * 32, "origin": "helpline", "time": "2026-12-02T00:00:00Z"}
    assert origin_of(FeedVerifier(keys).accept_page(*signed_page([entry])).entries[0]) == "helpline"
    with pytest.raises(VerifyError, match="unknown origin 'platform'"):
        FeedVerifier(keys).accept_page(*signed_page([{**entry, "origin": "platform"}]))
    legacy = {k: v for k, v in entry.items() if k != "origin"}  # published before origins
    assert origin_of(FeedVerifier(keys).accept_page(*signed_page([legacy])).entries[0]) == "unrecorded"


def test_a_snapshot_line_must_be_an_addition(client):
    from hashbank.feed.signing import sign

    line = feedformat.entry_bytes({"position": 3, "op": "withdraw", "id": "f" * 20, "time": "2026-12-02T00:00:00Z"})
    data = gzip.compress(line + b"\n")
    body = feedformat.entry_bytes({"format": feedformat.FORMAT_VERSION, "kind": feedformat.SNAPSHOT_KIND, "position": 3,
                               "head_digest": "0" * 64, "count": 1, "sha256": hashlib.sha256(data).hexdigest(),
                               "size": len(data), "created_at": "2026-12-02T00:00:00Z", "download": "/x"})
    manifest = feedformat.verify_snapshot_manifest(body, *sign(body), trusted_keys(client))
    with pytest.raises(VerifyError, match="snapshot line 1 is not an addition"):
        list(feedformat.read_snapshot(manifest, data))


@pytest.mark.django_db(transaction=True)
def test_the_exchange_tags_each_match_with_its_origins(live_server, client, settings, tmp_path):
    from hashbank.platform.exchange import SurvivorHashFeedCollabConfig, SurvivorHashFeedCredentials

    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path
    shared = pdq_value()
    pdq_case(shared)
    helped = case_create(files=[[{"signal_type": "pdq", "value": shared, "quality": 90}]], origin="helpline")
    only_survivor = pdq_value()
    pdq_case(only_survivor)
    config = SurvivorHashFeedCollabConfig(
        name="shield", base_url=f"{live_server.url}/api/v1",
        trusted_keys=[f"{kid}={public}" for kid, public in trusted_keys(client).items()])
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    api = SurvivorHashFeedSignalExchangeAPI.for_collab(config, SurvivorHashFeedCredentials(secret))
    stored: dict = {}
    for delta in api.fetch_iter([PdqSignal], None):
        SurvivorHashFeedSignalExchangeAPI.naive_fetch_merge(stored, delta.updates)
    index = SurvivorHashFeedSignalExchangeAPI.naive_convert_to_signal_type([PdqSignal], config, stored)[PdqSignal]
    tags = {value: meta.get_as_opinions()[0].tags for value, meta in index.items()}
    assert tags == {shared: {"origin:survivor", "origin:helpline"}, only_survivor: {"origin:survivor"}}
    # The helpline's withdrawal leaves only the survivor's origin on the shared value.
    case_withdraw(case=helped.case)
    stored = {}
    for delta in api.fetch_iter([PdqSignal], None):
        SurvivorHashFeedSignalExchangeAPI.naive_fetch_merge(stored, delta.updates)
    index = SurvivorHashFeedSignalExchangeAPI.naive_convert_to_signal_type([PdqSignal], config, stored)[PdqSignal]
    assert index[shared].get_as_opinions()[0].tags == {"origin:survivor"}


@pytest.mark.django_db(transaction=True)
def test_the_matcher_reports_each_matchs_origin(live_server, client, settings, tmp_path):
    """sync keeps the origins beside the index (through the snapshot, the journal and a
    fold), and match and serve report them."""
    from hashbank.platform.matcher import hash_image

    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    astronaut = case_create(files=[[{"signal_type": "pdq", "value": hash_image(PHOTOS / "astronaut.png").hashes[0],
                                     "quality": 90}]], origin="helpline")
    assert snapshot_build(force=True) is not None  # the helpline case comes through the snapshot
    camera = pdq_case(hash_image(PHOTOS / "camera.png").hashes[0])  # the survivor's through a page
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    base = f"{live_server.url}/api/v1"
    store = LocalStore.create(tmp_path / "store", base_url=base, trusted_keys=trusted_keys(client))
    store.sync(FeedClient(base, secret), backend="numpy")

    def origins_matched() -> dict[str, str]:
        origins: dict[str, str] = {}
        with store.open_index(backend="numpy", origins=origins) as index:
            results = match_files(index, [PHOTOS / "astronaut.png", PHOTOS / "camera.png"], origins=origins)
        return {m.key: m.origin for r in results for m in r.matches}

    ids = {name: Fingerprint.objects.get(case=r.case).public_id for name, r in
           (("astronaut", astronaut), ("camera", camera))}
    assert origins_matched() == {ids["astronaut"]: "helpline", ids["camera"]: "survivor"}
    service = MatchService(store, backend="numpy")
    answer = service.match({"hashes": [hash_image(PHOTOS / "astronaut.png").hashes[0]]})
    assert [m["origin"] for m in answer["results"][0]["matches"]] == ["helpline"]
    # Withdrawn, its origin goes too: nothing stale is kept beside the index.
    case_withdraw(case=astronaut.case)
    store.sync(FeedClient(base, secret), backend="numpy")
    assert origins_matched() == {ids["camera"]: "survivor"}
    assert store.origins() == {}


@pytest.mark.django_db(transaction=True)
def test_the_migrations_mark_the_helplines_earlier_cases_and_their_waiting_additions():
    """Cases a helpline made before origins were recorded become "helpline", with their
    additions still waiting in the outbox; everyone else's stay "survivor"."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    before = [("hashbank", "0003_outbox_tombstones_without_values"), ("caseworkers", "0002_audit_append_only")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Case, FeedOutbox = apps.get_model("hashbank", "Case"), apps.get_model("hashbank", "FeedOutbox")
    Organisation = apps.get_model("caseworkers", "Organisation")
    AssistedCase = apps.get_model("caseworkers", "AssistedCase")
    User = apps.get_model("auth", "User")
    now = timezone.now()
    helped, own = (Case.objects.create(feed_token=token, created_at=now, last_activity_at=now)
                   for token in ("a" * 24, "b" * 24))
    user = User.objects.create(username="cw")
    org = Organisation.objects.create(name="North Helpline")
    AssistedCase.objects.create(case=helped, organisation=org, created_by=user, assigned_to=user)
    for case in (helped, own):
        FeedOutbox.objects.create(fingerprint_key=f"{case.pk:020d}", op="add", signal_type="pdq", value="a" * 64,
                                  case_token=case.feed_token, case=case, created_at=now)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from hashbank.models import Case as CaseNow
    from hashbank.models import FeedOutbox as OutboxNow

    assert dict(CaseNow.objects.values_list("pk", "origin")) == {helped.pk: "helpline", own.pk: "survivor"}
    assert dict(OutboxNow.objects.values_list("case_id", "origin")) == {helped.pk: "helpline", own.pk: "survivor"}
