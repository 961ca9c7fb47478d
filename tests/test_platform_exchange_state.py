"""The exchange's state handling, called as HMA and the CLI call it, against a live server:
snapshot bootstrap, records keyed by fingerprint id (a tombstone names only the id), a value
two survivors share, the move from the value-keyed records of feed format 1, an expired
cursor turning into a stale checkpoint and a fresh start, checkpoints that survive JSON, a
progress time that never goes backwards, and report_opinion reaching the case timeline."""

from __future__ import annotations

import time

import pytest
from threatexchange.exchanges.fetch_state import SignalOpinion, SignalOpinionCategory
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.utils import dataclass_json

from hashbank.feed.prune import feed_prune
from hashbank.feed.snapshots import snapshot_build
from hashbank.feedformat import VerifyError
from hashbank.models import CaseEvent, Fingerprint
from hashbank.platform.exchange import (
    SurvivorHashFeedCheckpoint,
    SurvivorHashFeedCollabConfig,
    SurvivorHashFeedCredentials,
    SurvivorHashFeedOpinion,
    SurvivorHashFeedSignalExchangeAPI,
)
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.feed_helpers import pdq_value, trusted_keys

pytestmark = pytest.mark.django_db(transaction=True)
API = SurvivorHashFeedSignalExchangeAPI
TYPES = [PdqSignal, VideoMD5Signal]


@pytest.fixture(autouse=True)
def _feed_settings(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


@pytest.fixture
def exchange(live_server, client):
    secret = partner_key_issue(partner=partner_create(name="Example Video")).secret
    config = SurvivorHashFeedCollabConfig(
        name="shield", base_url=f"{live_server.url}/api/v1",
        trusted_keys=[f"{kid}={public}" for kid, public in trusted_keys(client).items()],
    )
    return lambda: API.for_collab(config, SurvivorHashFeedCredentials(secret))


def submit(value: str):
    return case_create(files=[[{"signal_type": "pdq", "value": value, "quality": 90}]])


def id_of(receipt) -> str:
    return Fingerprint.objects.get(case=receipt.case).public_id


def fetch(api, checkpoint, stored: dict) -> tuple[SurvivorHashFeedCheckpoint, list]:
    """Fetch and merge as python-threatexchange's CLI store does; returns the last checkpoint."""
    deltas = list(api.fetch_iter(TYPES, checkpoint))
    for delta in deltas:
        API.naive_fetch_merge(stored, delta.updates)
    return deltas[-1].checkpoint, deltas


def matched(stored: dict) -> dict[str, frozenset[str]]:
    """What the CLI indexes from its store: PDQ value -> the ids that hold it."""
    return {value: meta.ids for value, meta in API.naive_convert_to_signal_type(TYPES, None, stored)
            .get(PdqSignal, {}).items()}


def hma_commit(rows: dict, updates: dict) -> None:
    """HMA's storage (exchange_commit_fetch): one row per str(key), replaced, never merged;
    None or a record that converts to nothing deletes the row."""
    for key, value in updates.items():
        if value is not None and not API.naive_convert_to_signal_type(TYPES, None, {key: value}):
            value = None
        if value is None:
            rows.pop(str(key), None)
        else:
            rows[str(key)] = value


def test_a_value_two_survivors_submitted_stays_until_both_withdraw(exchange):
    shared = pdq_value()
    first = submit(shared)
    assert snapshot_build(force=True) is not None
    stored: dict = {}
    checkpoint, deltas = fetch(exchange(), None, stored)
    assert set(deltas[0].updates) == {id_of(first)}  # the first fetch starts from the snapshot
    assert matched(stored) == {shared: {id_of(first)}}

    second = submit(shared)
    checkpoint, _ = fetch(exchange(), checkpoint, stored)  # a new instance: nothing carried over
    assert set(stored) == {id_of(first), id_of(second)}  # keyed by fingerprint id
    assert matched(stored) == {shared: {id_of(first), id_of(second)}}

    case_withdraw(case=first.case)
    checkpoint, deltas = fetch(exchange(), checkpoint, stored)
    assert deltas[-1].updates == {id_of(first): None}  # the tombstone names only the id
    assert matched(stored) == {shared: {id_of(second)}}

    case_withdraw(case=second.case)
    checkpoint, _ = fetch(exchange(), checkpoint, stored)
    assert stored == {} and matched(stored) == {}


def test_hma_storage_deletes_a_withdrawn_record_by_its_id(exchange):
    """HMA stores each record under str(key) and calls naive_convert one record at a time."""
    shared, other = pdq_value(), pdq_value()
    first, second, third = submit(shared), submit(shared), submit(other)
    rows: dict = {}
    api = exchange()
    checkpoint = None
    for delta in api.fetch_iter(TYPES, checkpoint):
        hma_commit(rows, delta.updates)
        checkpoint = delta.checkpoint
    assert set(rows) == {id_of(first), id_of(second), id_of(third)}
    case_withdraw(case=first.case)
    case_withdraw(case=third.case)
    for delta in exchange().fetch_iter(TYPES, checkpoint):
        hma_commit(rows, delta.updates)
    assert set(rows) == {id_of(second)}
    assert API.naive_convert_to_signal_type(TYPES, None, {id_of(second): rows[id_of(second)]}) == {
        PdqSignal: {shared: API.get_record_cls()(ids=frozenset({id_of(second)}), complete=True, quality=90,
                                                 origins=frozenset({"survivor"}))}
    }


def test_a_checkpoint_from_the_value_keyed_version_starts_over_and_removes_its_records(exchange):
    """Feed format 1's exchange keyed records by (signal type, value). Its checkpoint makes the
    next fetch reload the snapshot and delete the old record of every value reloaded, in the
    CLI's store (tuple keys) and in HMA's (their str())."""
    kept = submit(pdq_value())
    record = API.get_record_cls()
    checkpoint, _ = fetch(exchange(), None, {})
    assert snapshot_build(force=True) is not None
    value = Fingerprint.objects.get(case=kept.case).value
    old_record = record(ids=frozenset({id_of(kept)}), complete=True)
    old_checkpoint = SurvivorHashFeedCheckpoint(**{**checkpoint.__dict__, "record_keys": ""})
    assert not old_checkpoint.is_stale()  # HMA would pass None for a stale one and keep old rows

    cli_store: dict = {("pdq", value): old_record}
    assert matched(cli_store) == {value: {id_of(kept)}}  # old records still convert meanwhile
    new_checkpoint, deltas = fetch(exchange(), old_checkpoint, cli_store)
    assert deltas[0].updates[("pdq", value)] is None
    assert set(cli_store) == {id_of(kept)} and matched(cli_store) == {value: {id_of(kept)}}
    assert new_checkpoint.record_keys == "fingerprint_id"

    hma_rows: dict = {str(("pdq", value)): old_record}
    for delta in exchange().fetch_iter(TYPES, old_checkpoint):
        hma_commit(hma_rows, delta.updates)
    assert set(hma_rows) == {id_of(kept)}
    # The migrated checkpoint resumes normally: no second reload.
    again = list(exchange().fetch_iter(TYPES, new_checkpoint))
    assert all(not d.updates for d in again)


def test_a_record_that_does_not_validate_is_never_indexed():
    record = API.get_record_cls()
    bad = record(ids=frozenset({"a"}), complete=True, signal_type="pdq", value="not-a-pdq-hash")
    withdrawn = record(ids=frozenset(), complete=True, signal_type="pdq", value=pdq_value())
    assert API.naive_convert_to_signal_type(TYPES, None, {"a": bad, "b": withdrawn}) == {}


def test_an_expired_cursor_makes_the_checkpoint_stale_and_the_next_fetch_starts_over(exchange):
    kept = submit(pdq_value())
    gone_value = pdq_value()
    gone = submit(gone_value)
    stored: dict = {}
    checkpoint, _ = fetch(exchange(), None, stored)  # no snapshot yet: from position 0
    assert not checkpoint.is_stale()

    case_withdraw(case=gone.case)
    later_value = pdq_value()
    submit(later_value)
    assert snapshot_build(force=True) is not None
    floor, removed = feed_prune(retention_days=-1)  # everything is "old": the floor jumps
    assert floor > checkpoint.position and removed > 0

    deltas = list(exchange().fetch_iter(TYPES, checkpoint))
    assert len(deltas) == 1 and deltas[0].updates == {}
    stale = deltas[0].checkpoint
    assert stale.is_stale() and stale.position == checkpoint.position
    # The CLI (and HMA) drop the data of a stale checkpoint and fetch with None.
    stored = {}
    fresh, _ = fetch(exchange(), None, stored)
    assert not fresh.is_stale()
    assert set(matched(stored)) == {Fingerprint.objects.get(case=kept.case).value, later_value}
    assert fresh.get_progress_timestamp() >= checkpoint.get_progress_timestamp()


def test_checkpoint_and_config_survive_json_and_age_out(exchange):
    submit(pdq_value())
    checkpoint, _ = fetch(exchange(), None, {})
    again = dataclass_json.dataclass_loads(dataclass_json.dataclass_dumps(checkpoint), SurvivorHashFeedCheckpoint)
    assert again == checkpoint
    assert fetch(exchange(), again, {})[0].position == checkpoint.position  # resumes from the JSON copy
    config = exchange().collab
    assert dataclass_json.dataclass_loads(dataclass_json.dataclass_dumps(config), type(config)) == config
    assert config.api == "survivor_hash_feed"

    old = SurvivorHashFeedCheckpoint(**{**checkpoint.__dict__, "verified_at": int(time.time()) - 91 * 86400})
    assert old.is_stale()


def test_a_tampered_checkpoint_in_storage_is_refused(exchange):
    submit(pdq_value())
    checkpoint, _ = fetch(exchange(), None, {})
    forged = dict(checkpoint.feed_state)
    forged["position"] -= 1  # a stored position that does not match its chain digest
    tampered = SurvivorHashFeedCheckpoint(**{**checkpoint.__dict__, "feed_state": forged})
    with pytest.raises(VerifyError):
        list(exchange().fetch_iter(TYPES, tampered))


def test_report_opinion_reaches_the_case_timeline_once(exchange):
    value = pdq_value()
    receipt = submit(value)
    api = exchange()
    fetch(api, None, {})
    blocked = SignalOpinion(True, SignalOpinionCategory.POSITIVE_CLASS, set())
    api.report_opinion(PdqSignal, value, blocked)
    api.report_opinion(PdqSignal, value, blocked)  # a retry: same derived idempotency key
    events = CaseEvent.objects.filter(case=receipt.case, kind="match_reported")
    assert [(e.data["outcome"], e.data["count"]) for e in events] == [("blocked", 1)]

    # A fresh instance knows no ids: the opinion must name them.
    with pytest.raises(ValueError, match="no fingerprint id"):
        exchange().report_opinion(PdqSignal, value, SignalOpinion(True, SignalOpinionCategory.NEGATIVE_CLASS, set()))
    exchange().report_opinion(PdqSignal, value, SurvivorHashFeedOpinion(
        True, SignalOpinionCategory.NEGATIVE_CLASS, set(), ids=frozenset({id_of(receipt)}), idempotency_key="r-9"))
    outcomes = dict(CaseEvent.objects.filter(case=receipt.case, kind="match_reported")
                    .values_list("data__outcome", "data__count"))
    assert outcomes == {"blocked": 1, "false_match": 1}
