"""The platform side of the hosted lookup (issue 16), against a live server: the store keeps
the exact digests (md5, sha256) beside the PDQ index, through the snapshot, the journal and a
fold, and a withdrawal removes them; a sync that defers folding never opens the index; the live
view hides what the journal withdrew without a rebuild; the follower folds in a child process
while it keeps verifying pages and handing them to the view, then writes them to the store, and
loses nothing when the fold fails; the process answers 503 until its first sync and when it has
not synced for too long."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from hashbank.feed.snapshots import snapshot_build
from hashbank.models import Fingerprint
from hashbank.platform import index as index_module
from hashbank.platform.feed import FeedClient
from hashbank.platform.live import LiveIndex
from hashbank.platform.lookup import parse_lookup
from hashbank.platform.lookup_service import Follower, LookupService, make_server
from hashbank.platform.store import LocalStore
from hashbank.services import case_create, case_withdraw, partner_create, partner_key_issue
from tests.feed_helpers import pdq_value, trusted_keys
from tests.lookup_fold_gate import fold_fails, fold_when_released

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _feed_settings(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.PARTNER_RATE_PER_SECOND = 0


@pytest.fixture
def store_and_client(live_server, client, tmp_path):
    secret = partner_key_issue(partner=partner_create(name="Image Shield lookup")).secret
    base = f"{live_server.url}/api/v1"
    store = LocalStore.create(tmp_path / "store", base_url=base, trusted_keys=trusted_keys(client))
    return store, FeedClient(base, secret)


def submit(pdq: str, md5: str, sha256: str):
    receipt = case_create(files=[[{"signal_type": "pdq", "value": pdq, "quality": 90},
                                  {"signal_type": "md5", "value": md5, "quality": None},
                                  {"signal_type": "sha256", "value": sha256, "quality": None}]])
    return receipt, dict(Fingerprint.objects.filter(case=receipt.case).values_list("signal_type", "public_id"))


def hexes(n: int) -> str:
    import secrets

    return secrets.token_hex(n)


def looked_up(view, pdq: str, md5: str) -> set[str]:
    lookup = parse_lookup({"hashes": [{"signal_type": "pdq", "value": pdq, "quality": 90},
                                      {"signal_type": "md5", "value": md5}]})
    from hashbank.platform.lookup import answer

    found, _ = answer(view, lookup)
    return {m["id"] for result in found["results"] for m in result["matches"]}


def test_exact_digests_are_kept_through_snapshot_journal_and_fold_and_withdrawn_with_their_case(store_and_client):
    store, client = store_and_client
    first = [pdq_value(), hexes(16), hexes(32)]
    receipt, ids = submit(*first)
    assert snapshot_build(force=True) is not None
    second = [pdq_value(), hexes(16), hexes(32)]
    _, later = submit(*second)
    report = store.sync(client, backend="numpy")
    assert report.snapshot_entries == 3 and (report.records, report.exact_records) == (2, 4)
    exact: dict = {}
    store.open_index(backend="numpy", exact=exact).close()
    assert exact == {ids["md5"]: ("md5", first[1]), ids["sha256"]: ("sha256", first[2]),
                     later["md5"]: ("md5", second[1]), later["sha256"]: ("sha256", second[2])}
    state = store.read_state()
    assert json.loads((store.path / state["index"] / "exact.json").read_text())[ids["md5"]] == ["md5", first[1]]

    case_withdraw(case=receipt.case)
    report = store.sync(client, backend="numpy")
    assert report.withdrawn == 3 and (report.records, report.exact_records) == (1, 2)
    kept = json.loads((store.path / store.read_state()["index"] / "exact.json").read_text())
    assert set(kept) == {later["md5"], later["sha256"]}  # the withdrawn digests left the disk too


def test_a_sync_that_defers_folding_never_opens_the_index(store_and_client, monkeypatch):
    store, client = store_and_client
    submit(pdq_value(), hexes(16), hexes(32))
    store.sync(client, backend="numpy")
    state = store.read_state()
    assert state["index"] and state["journal_bytes"] == 0

    def refuse(*args, **kwargs):
        raise AssertionError("the index was opened")

    monkeypatch.setattr(index_module.PDQIndex, "load", refuse)
    before = store.state_file.stat()
    quiet = store.sync(client, backend="numpy", fold_bytes=10**9)
    assert quiet.records is None and quiet.pages == 1 and quiet.entries == 0
    after = store.state_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # nothing rewritten
    submit(pdq_value(), hexes(16), hexes(32))
    report = store.sync(client, backend="numpy", fold_bytes=10**9)
    assert (report.added, report.records) == (3, None)
    assert store.read_state()["journal_bytes"] > 0 and store.read_state()["index"] == state["index"]


def test_the_live_view_follows_the_journal_without_a_rebuild(store_and_client):
    store, client = store_and_client
    values = [pdq_value(), hexes(16), hexes(32)]
    receipt, ids = submit(*values)
    store.sync(client, backend="numpy")
    live = LiveIndex(store, backend="numpy")
    saved = live.view.base
    assert looked_up(live.view, values[0], values[1]) == {ids["pdq"], ids["md5"]}
    assert not live.refresh()  # nothing changed: nothing done

    case_withdraw(case=receipt.case)
    other = [pdq_value(), hexes(16), hexes(32)]
    _, later = submit(*other)
    store.sync(client, backend="numpy", fold_bytes=None)
    assert live.refresh()
    assert live.view.base is saved and live.view.changes == 6  # the same saved index, an overlay on it
    assert looked_up(live.view, values[0], values[1]) == set()
    assert looked_up(live.view, other[0], other[1]) == {later["pdq"], later["md5"]}
    # Handing over entries it already has changes nothing.
    entries = store.read_journal(0, store.read_state()["journal_bytes"])
    live.apply(entries, position=live.view.position)
    assert looked_up(live.view, other[0], other[1]) == {later["pdq"], later["md5"]}
    assert looked_up(live.view, values[0], values[1]) == set()


def wait_exit(process, seconds: float = 60) -> None:
    process.join(seconds)
    assert process.exitcode is not None


def test_the_follower_folds_in_a_child_and_keeps_verifying_meanwhile(store_and_client, tmp_path):
    store, client = store_and_client
    first = [pdq_value(), hexes(16), hexes(32)]
    receipt, ids = submit(*first)
    live = LiveIndex(store, backend="numpy")
    follower = Follower(store, client, live, fold_bytes=1, fold_target=fold_when_released)
    try:
        follower.step()  # the first sync; its journal is over 1 byte: a fold starts, and waits
        assert follower.folding and looked_up(live.view, first[0], first[1]) == {ids["pdq"], ids["md5"]}
        folded_at = store.read_state()

        case_withdraw(case=receipt.case)
        second = [pdq_value(), hexes(16), hexes(32)]
        _, later = submit(*second)
        follower.step()  # the fold still runs: pages are verified into the view, not the store
        assert store.read_state() == folded_at
        assert looked_up(live.view, first[0], first[1]) == set()
        assert looked_up(live.view, second[0], second[1]) == {later["pdq"], later["md5"]}

        (tmp_path / "release").touch()
        wait_exit(follower._fold[0])
        follower.step()  # commits the fold, writes the pages verified meanwhile, syncs
        state = store.read_state()
        assert state["index"] == f"index-{folded_at['feed']['position']:012d}"
        assert state["feed"]["position"] == live.view.position == 9
        assert looked_up(live.view, first[0], first[1]) == set()
        assert looked_up(live.view, second[0], second[1]) == {later["pdq"], later["md5"]}
        exact: dict = {}
        store.open_index(backend="numpy", exact=exact).close()
        assert set(exact) == {later["md5"], later["sha256"]}
    finally:
        follower.close()


def test_a_failed_fold_keeps_the_journal_and_the_pages_verified_meanwhile(store_and_client):
    store, client = store_and_client
    first = [pdq_value(), hexes(16), hexes(32)]
    receipt, _ = submit(*first)
    live = LiveIndex(store, backend="numpy")
    follower = Follower(store, client, live, fold_bytes=1, fold_target=fold_fails)
    try:
        follower.step()
        before = store.read_state()
        case_withdraw(case=receipt.case)
        wait_exit(follower._fold[0])
        follower.step()  # the fold failed: nothing committed, the withdrawal written all the same
        state = store.read_state()
        assert state["index"] == before["index"] and state["feed"]["position"] == 6
        assert looked_up(live.view, first[0], first[1]) == set()
        assert looked_up(LiveIndex(store, backend="numpy").view, first[0], first[1]) == set()
    finally:
        follower.close()


def post(url: str, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_the_process_refuses_to_answer_before_its_first_sync_and_when_stale(store_and_client):
    import threading

    store, client = store_and_client
    live = LiveIndex(store, backend="numpy")
    follower = Follower(store, client, live)
    service = LookupService(live, follower, max_stale=30)
    server = make_server(service, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/lookup"
    ask = {"hashes": [{"signal_type": "md5", "value": "a" * 32}]}
    try:
        status, body, headers = post(url, ask)
        assert status == 503 and body["error"]["code"] == "lookup_starting" and headers["Retry-After"]
        follower.step()
        status, body, headers = post(url, ask)
        assert status == 200 and body["results"] == [{"index": 0, "matches": []}]
        assert headers["Lookup-Matched"] == "0"
        assert post(url, {"hashes": [{"signal_type": "md5", "value": "a"}]})[1]["error"]["code"] == "bad_hash"
        follower.synced_at = time.monotonic() - 31
        status, body, _ = post(url, ask)
        assert status == 503 and body["error"]["code"] == "lookup_stale"
    finally:
        server.shutdown()
        server.server_close()


def test_serve_swaps_in_the_synced_store_by_itself_not_on_a_request(store_and_client):
    from hashbank.platform.serve import MatchService

    store, client = store_and_client
    values = [pdq_value(), hexes(16), hexes(32)]
    receipt, ids = submit(*values)
    store.sync(client, backend="numpy")
    service = MatchService(store, backend="numpy", poll=0.05)
    try:
        assert [m["id"] for m in service.match({"hash": values[0]})["results"][0]["matches"]] == [ids["pdq"]]
        before = service.live.view
        case_withdraw(case=receipt.case)
        store.sync(client, backend="numpy")
        deadline = time.monotonic() + 30
        while service.live.view is before and time.monotonic() < deadline:  # no request meanwhile
            time.sleep(0.02)
        assert service.live.view is not before and service.position == 6
        assert service.match({"hash": values[0]})["results"][0]["matches"] == []
    finally:
        service.close()


def test_the_lookup_process_runs_the_fastest_backend_built_here_with_the_same_answers(store_and_client):
    """By default (lookup_serve, the live view, the follower) the index runs the first of
    available_backends(): the compiled scan wherever it was built, as bench/matcher_bench.py
    measured; the numpy backend over the same store answers the same."""
    from hashbank.management.commands.lookup_serve import Command

    store, client = store_and_client
    values = [pdq_value(), hexes(16), hexes(32)]
    _, ids = submit(*values)
    store.sync(client)
    default = LiveIndex(store)
    assert default.view.base.backend == index_module.available_backends()[0]
    parser = Command().create_parser("manage.py", "lookup_serve")
    assert parser.parse_args([]).backend == "auto"
    numpy = LiveIndex(store, backend="numpy")
    assert numpy.view.base.backend == "numpy"
    near = bytearray(bytes.fromhex(values[0]))
    near[0] ^= 0b111  # three bits off
    for probe in (values[0], near.hex()):
        assert looked_up(default.view, probe, values[1]) == looked_up(numpy.view, probe, values[1]) == {
            ids["pdq"], ids["md5"]}
