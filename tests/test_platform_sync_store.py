"""The reference matcher's store, synced in-process against a live server: a store away longer
than the feed keeps restarts from the signed snapshot (so what was withdrawn meanwhile is
gone), and a crash between writing the journal and the state loses nothing and doubles nothing."""

from __future__ import annotations

import json

import pytest

from hashbank.feed.prune import feed_prune
from hashbank.feed.snapshots import snapshot_build
from hashbank.models import Fingerprint
from hashbank.platform.feed import FeedClient
from hashbank.platform.store import LocalStore
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.feed_helpers import pdq_value, trusted_keys

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _feed_settings(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


@pytest.fixture
def store_and_client(live_server, client, tmp_path):
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    base = f"{live_server.url}/api/v1"
    store = LocalStore.create(tmp_path / "store", base_url=base, trusted_keys=trusted_keys(client))
    return store, FeedClient(base, secret)


def submit(value: str):
    return case_create(files=[[{"signal_type": "pdq", "value": value, "quality": 90}]])


def matched(store: LocalStore, values: list[str]) -> dict[str, str]:
    """{fingerprint id: hash} of the stored records equal to any of ``values``."""
    index = store.open_index(backend="numpy")
    try:
        return {m.key: m.hash for value in values for m in index.query(value, threshold=0)}
    finally:
        index.close()


def test_a_store_older_than_the_feed_keeps_restarts_from_the_snapshot(store_and_client):
    store, client = store_and_client
    kept, gone = pdq_value(), pdq_value()
    submit(kept)
    away = submit(gone)
    assert store.sync(client, backend="numpy").records == 2

    case_withdraw(case=away.case)
    later = pdq_value()
    submit(later)
    assert snapshot_build(force=True) is not None
    floor, _ = feed_prune(retention_days=-1)  # the withdrawal is pruned: only the snapshot knows
    assert floor > json.loads(store.state_file.read_text())["feed"]["position"]

    report = store.sync(client, backend="numpy")
    assert report.snapshot_entries == 2
    assert set(matched(store, [kept, gone, later]).values()) == {kept, later}


def test_a_crash_between_journal_and_state_is_cut_off_and_fetched_again(store_and_client):
    store, client = store_and_client
    values = [pdq_value(), pdq_value()]
    first = submit(values[0])
    store.sync(client, backend="numpy", page_size=1, max_pages=1)
    state = json.loads(store.state_file.read_text())
    # Journal bytes the state never recorded: a crash after the append, before state.json.
    with open(store.journal_file, "ab") as f:
        f.write(b'{"case":"x","id":"ffffffffffffffffffff","op":"add","position":99,"quality":90,'
                b'"signal_type":"pdq","time":"2026-11-23T00:00:00Z","value":"' + values[1].encode() + b'"}\n')
    assert state["journal_bytes"] < store.journal_file.stat().st_size
    assert set(matched(store, values)) == {Fingerprint.objects.get(case=first.case).public_id}

    second = submit(values[1])
    store.sync(client, backend="numpy")
    ids = {Fingerprint.objects.get(case=r.case).public_id for r in (first, second)}
    assert set(matched(store, values)) == ids
    assert json.loads(store.state_file.read_text())["journal_bytes"] == 0  # folded into the index


@pytest.mark.parametrize("url", ["http://shield.example.org/api/v1", "ftp://127.0.0.1/api/v1", "shield.example.org"])
def test_the_key_never_travels_over_plain_http_across_a_network(url):
    with pytest.raises(ValueError, match="https://"):
        FeedClient(url, "isk_test_key")
    assert FeedClient("http://127.0.0.1:8000/api/v1", "isk_test_key").url("/feed") == "http://127.0.0.1:8000/api/v1/feed"
