"""A partner's evidence (GET /api/v1/evidence, issue 12): its counters follow the pages actually
served, once each; the signed document verifies with the platform's own verifier (and its CLI)
and a changed byte is refused; one partner never sees another's figures; absurd periods are a
clear 400; the CSV says what the JSON says; and the list's review figures are what the
services did."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
import types
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from hashbank import feedformat
from hashbank.feed import evidence as feed_evidence
from hashbank.feed import pages, progress
from hashbank.feed.head import head_read
from hashbank.feedformat import VerifyError
from hashbank.models import FeedEntry, Fingerprint, FingerprintReview, PartnerProgress
from hashbank.services import (
    FeedbackItem,
    case_create,
    case_file_withdraw,
    fingerprint_hold,
    fingerprint_mark_harmless,
    fingerprint_review_clear,
    fingerprint_review_remove,
    partner_create,
    partner_feedback_record,
    partner_key_issue,
)
from tests.conftest import ROOT
from tests.feed_helpers import auth, one_file, publish, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path


def make_partner(name: str):
    partner = partner_create(name=name)
    return partner, partner_key_issue(partner=partner).secret


@pytest.fixture
def feed_of_seven():
    """Positions 1-3 and 4-5: additions of two cases; 6-7: the second case's file withdrawn."""
    case_create(files=[one_file(2)])
    second = case_create(files=[one_file(1)])
    case_file_withdraw(case=second.case, file_id=second.case.files.first().public_id)
    publish()
    ops = list(FeedEntry.objects.order_by("position").values_list("op", flat=True))
    assert ops == ["add"] * 5 + ["withdraw"] * 2
    return ops


def page(client, secret, cursor, limit):
    response = client.get("/api/v1/feed", {"cursor": cursor, "limit": limit}, **auth(secret))
    assert response.status_code == 200, response.content
    return response


def counters(partner) -> tuple[int, int, int]:
    p = PartnerProgress.objects.get(partner=partner)
    return p.position, p.additions_fetched, p.withdrawals_fetched


def evidence(client, secret, headers=None, **params):
    return client.get("/api/v1/evidence", params, headers=headers, **auth(secret))


def document(client, secret, **params) -> dict:
    response = evidence(client, secret, **params)
    assert response.status_code == 200, response.content
    return feedformat.verify_evidence(response.content, response["Feed-Key-Id"], response["Feed-Signature"],
                                  trusted_keys(client))


# --- The counters follow the pages served -------------------------------------------------------


def test_counters_count_each_served_entry_once(client, feed_of_seven):
    partner, secret = make_partner("Platform")
    page(client, secret, 0, 3)
    assert counters(partner) == (3, 3, 0)
    page(client, secret, 0, 3)  # the same page again
    assert counters(partner) == (3, 3, 0)
    page(client, secret, 2, 6)  # to 6 (pages end on multiples of the limit): 3 served already, 4, 5, 6 new
    assert counters(partner) == (6, 5, 1)
    page(client, secret, 0, 1000)  # everything again, and 7 new
    assert counters(partner) == (7, 5, 2)
    page(client, secret, 7, 1000)  # an empty page at the head changes no count
    assert counters(partner) == (7, 5, 2)
    assert (5, 2) == (feed_of_seven.count("add"), feed_of_seven.count("withdraw"))


def test_a_page_past_the_position_counts_only_what_it_served(client, feed_of_seven):
    # After loading a snapshot a partner continues from its position: what it skipped in the
    # feed was not served by a page and is not counted.
    partner, secret = make_partner("Platform")
    page(client, secret, 4, 1000)  # positions 5 (an addition), 6 and 7 (withdrawals)
    assert counters(partner) == (7, 1, 2)


def test_first_fetch_times_are_set_once(client, feed_of_seven, monkeypatch):
    first, later = datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 2, 10, tzinfo=UTC)
    partner_a, secret_a = make_partner("Platform A")
    _, secret_b = make_partner("Platform B")
    monkeypatch.setattr(progress, "FIRST_FETCH_SAMPLE", 1)  # every entry, to see each one's time
    monkeypatch.setattr(progress, "timezone", types.SimpleNamespace(now=lambda: first))
    page(client, secret_a, 0, 3)
    monkeypatch.setattr(progress, "timezone", types.SimpleNamespace(now=lambda: later))
    page(client, secret_b, 0, 1000)
    page(client, secret_a, 0, 1000)
    times = dict(FeedEntry.objects.values_list("position", "first_fetched_at"))
    assert times == {1: first, 2: first, 3: first, 4: later, 5: later, 6: later, 7: later}
    assert PartnerProgress.objects.get(partner=partner_a).first_fetch_at == first


def test_only_a_sample_of_entries_is_stamped(client, feed_of_seven, monkeypatch):
    """One entry in FIRST_FETCH_SAMPLE, chosen by position (independent of timing, so the
    median time to first fetch is unbiased), keeps a first partner's full sync fast."""
    monkeypatch.setattr(progress, "FIRST_FETCH_SAMPLE", 3)
    _, secret = make_partner("Platform")
    page(client, secret, 0, 1000)
    stamped = set(FeedEntry.objects.filter(first_fetched_at__isnull=False).values_list("position", flat=True))
    assert stamped == {3, 6}


def test_the_checkpoint_fetched_is_recorded_and_never_moves_back(client, feed_of_seven):
    partner, secret = make_partner("Platform")
    response = client.get("/api/v1/checkpoint", **auth(secret))
    checkpoint = json.loads(response.content)
    p = PartnerProgress.objects.get(partner=partner)
    assert checkpoint["head_position"] == 7
    assert (p.checkpoint_version, p.checkpoint_head) == (checkpoint["version"], 7)
    assert p.checkpoint_at is not None
    older = head_read()
    older.checkpoint_version, older.position = checkpoint["version"] - 1, 3
    progress.checkpoint_served(partner, older)  # a slower request with an older checkpoint
    p.refresh_from_db()
    assert (p.checkpoint_version, p.checkpoint_head) == (checkpoint["version"], 7)


def test_a_counting_fault_never_denies_a_page(client, feed_of_seven, monkeypatch, caplog):
    _, secret = make_partner("Platform")
    expected = pages.page_signed(cursor=0, limit=1000).body

    def broken(*args, **kwargs):
        raise RuntimeError("counting broke")

    monkeypatch.setattr(progress, "count_ops", broken)
    monkeypatch.setattr(progress.PartnerProgress.objects, "filter", broken)
    response = page(client, secret, 0, 1000)
    assert response.content == expected
    assert client.get("/api/v1/checkpoint", **auth(secret)).status_code == 200
    faults = [r for r in caplog.records if r.name == "hashbank.feed.progress"]
    assert len(faults) == 2 and all(r.exc_info for r in faults)


def test_recording_progress_costs_two_queries_a_page(client, django_assert_max_num_queries, feed_of_seven):
    partner, secret = make_partner("Platform")
    page(client, secret, 0, 2)  # first use: key lookups, last-used write, the progress row made
    # The key, the head, one range scan; then one conditional update of the progress row and
    # one ranged update of first_fetched_at, and the key's delivery mark (one conditional
    # update, hashbank.feed.delivery), all in one transaction (here a SAVEPOINT and RELEASE,
    # inside the test's own transaction): not one query per entry.
    with django_assert_max_num_queries(8):
        page(client, secret, 2, 1000)
    # Fetched again: for progress and for delivery, the update that misses and one read.
    with django_assert_max_num_queries(9):
        page(client, secret, 2, 1000)
    assert counters(partner) == (7, 5, 2)


@pytest.mark.django_db(transaction=True)
# (cursor, limit): a page ends at the next multiple of its limit, so (2, 5) is positions 3-5.
@pytest.mark.parametrize(("before", "first", "second", "expected"), [
    (None, (0, 3), (0, 3), (3, 3, 0)),  # the partner's first page, twice: the row is made once
    (2, (2, 5), (2, 5), (5, 5, 0)),  # continuing from its position, twice: the conditional update
    (3, (2, 5), (2, 5), (5, 5, 0)),  # overlapping what it was served, twice: the row lock
    (3, (2, 5), (5, 7), (7, 5, 2)),  # an overlap and the next page: the next counts from the first's end
    (3, (3, 5), (5, 7), (7, 5, 2)),  # a continuing page and the next one
], ids=["first-ever", "continuing", "overlapping", "overlap-then-next", "continuing-then-next"])
def test_two_requests_at_once_never_count_wrong(postgres, feed_of_seven, caplog, before, first, second, expected):
    """One request holds its transaction open (as a slow request would) while another page is
    served to the same partner: the second waits for the first, then counts only what the first
    did not (a read of the old position would count twice, or lose the first's count)."""
    partner, _ = make_partner("Platform")
    if before is not None:
        progress.page_served(partner, pages.page_signed(cursor=0, limit=before))
    first_page, second_page = (pages.page_signed(cursor=c, limit=n) for c, n in (first, second))
    second_pid: list[int] = []

    def second_request() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid.append(cursor.fetchone()[0])
            progress.page_served(partner, second_page)
        finally:
            connections.close_all()

    with transaction.atomic():
        progress.page_served(partner, first_page)
        thread = threading.Thread(target=second_request)
        thread.start()
        # Commit only once the second request is waiting on our lock (never a timed guess).
        for _ in range(600):
            with connection.cursor() as cursor:
                # Statistics are read once per transaction unless the snapshot is cleared.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                               [second_pid[0] if second_pid else 0])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the second request never waited for the first: nothing serialises them")
    thread.join()
    assert not [r for r in caplog.records if r.name == "hashbank.feed.progress"]
    assert counters(partner) == expected


# --- The signed document ------------------------------------------------------------------------


def test_the_document_verifies_and_a_changed_byte_is_refused(client, feed_of_seven):
    _, secret = make_partner("Platform")
    page(client, secret, 0, 3)
    client.get("/api/v1/checkpoint", **auth(secret))
    response = evidence(client, secret)
    assert response["Content-Type"] == "application/json" and response["Cache-Control"] == "no-store"
    body, kid, signature = response.content, response["Feed-Key-Id"], response["Feed-Signature"]
    assert body == feedformat.entry_bytes(json.loads(body))  # canonical JSON, exactly the bytes signed
    keys = trusted_keys(client)
    d = feedformat.verify_evidence(body, kid, signature, keys)
    assert d["kind"] == feedformat.EVIDENCE_KIND and d["format"] == feedformat.FORMAT_VERSION
    assert d["partner"] == "Platform"
    head = head_read()
    assert d["head"] == {"position": 7, "checkpoint_version": head.checkpoint_version}
    assert d["checkpoint"]["version"] == head.checkpoint_version and d["checkpoint"]["head_position"] == 7
    assert d["fetched"]["position"] == 3 and (d["fetched"]["additions"], d["fetched"]["withdrawals"]) == (3, 0)
    assert d["behind"]["entries"] == 4
    fourth = FeedEntry.objects.get(position=4).published_at
    assert d["behind"]["oldest_unfetched_published_at"] == feedformat.format_time(fourth)
    assert 0 <= d["behind"]["seconds_since_last_page"] < 3600
    for index in (0, len(body) // 2, len(body) - 2):
        changed = bytearray(body)
        changed[index] ^= 0x01
        with pytest.raises(VerifyError, match="signature"):
            feedformat.verify_evidence(bytes(changed), kid, signature, keys)
    forged = body.replace(b'"additions":3', b'"additions":9')
    assert forged != body
    with pytest.raises(VerifyError, match="signature"):
        feedformat.verify_evidence(forged, kid, signature, keys)


def test_no_other_signed_document_passes_as_evidence_nor_evidence_as_another(client, feed_of_seven):
    _, secret = make_partner("Platform")
    keys = trusted_keys(client)
    served = page(client, secret, 0, 3)
    with pytest.raises(VerifyError, match=r"expected a imageshield\.feed\.evidence"):
        feedformat.verify_evidence(served.content, served["Feed-Key-Id"], served["Feed-Signature"], keys)
    response = evidence(client, secret)
    with pytest.raises(VerifyError, match=r"expected a imageshield\.feed\.checkpoint"):
        feedformat.verify_checkpoint(response.content, response["Feed-Key-Id"], response["Feed-Signature"], keys)


def test_the_verifier_cli_prints_ok_and_refuses_a_changed_byte(client, feed_of_seven, tmp_path):
    _, secret = make_partner("Platform")
    page(client, secret, 0, 3)
    (tmp_path / "keys.json").write_bytes(client.get("/api/v1/keys").content)
    response = evidence(client, secret)
    (tmp_path / "ev.h").write_text(f"HTTP/1.1 200 OK\r\nFeed-Key-Id: {response['Feed-Key-Id']}\r\n"
                                   f"Feed-Signature: {response['Feed-Signature']}\r\n\r\n")
    (tmp_path / "ev.json").write_bytes(response.content)

    def run():
        return subprocess.run([sys.executable, "-m", "hashbank.feedformat", "keys.json", "ev.h", "ev.json"],
                              cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60)

    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK evidence for Platform issued ")
    assert "at position 3, 4 entries behind the head; 3 additions and 0 withdrawals fetched" in ok.stdout
    (tmp_path / "ev.json").write_bytes(response.content.replace(b'"additions":3', b'"additions":4'))
    refused = run()
    assert refused.returncode == 1
    assert refused.stdout.strip() == "REFUSED: signature does not match the bytes received"


# --- One partner's figures only -----------------------------------------------------------------


def test_a_partner_sees_only_its_own_figures(client, feed_of_seven):
    partner_a, secret_a = make_partner("Platform A")
    partner_b, secret_b = make_partner("Platform B")
    page(client, secret_a, 0, 3)
    page(client, secret_b, 0, 1000)
    ids = list(Fingerprint.objects.filter(status=Fingerprint.Status.ACTIVE).values_list("public_id", flat=True))
    partner_feedback_record(partner=partner_a, items=[FeedbackItem(ids[0], "blocked", "a1"),
                                                      FeedbackItem(ids[1], "blocked", "a2")])
    partner_feedback_record(partner=partner_b, items=[FeedbackItem(ids[0], "not_blocked", "b1"),
                                                      FeedbackItem(ids[1], "pending_review", "b2"),
                                                      FeedbackItem(ids[2], "pending_review", "b3")])
    # Naming the other partner in the URL changes nothing: the key decides.
    a = document(client, secret_a, partner=str(partner_b.pk), partner_name="Platform B")
    b = document(client, secret_b)
    assert a["partner"] == "Platform A" and b["partner"] == "Platform B"
    assert (a["fetched"]["position"], a["fetched"]["additions"], a["fetched"]["withdrawals"]) == (3, 3, 0)
    assert (b["fetched"]["position"], b["fetched"]["additions"], b["fetched"]["withdrawals"]) == (7, 5, 2)
    assert a["behind"]["entries"] == 4 and b["behind"]["entries"] == 0
    assert a["feedback"] == {"pending_review": 0, "blocked": 2, "not_blocked": 0, "false_match": 0, "total": 2}
    assert b["feedback"] == {"pending_review": 2, "blocked": 0, "not_blocked": 1, "false_match": 0, "total": 3}
    raw = evidence(client, secret_a).content
    assert b"Platform B" not in raw


def test_evidence_needs_a_key(client):
    response = client.get("/api/v1/evidence")
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_key"


# --- The period ---------------------------------------------------------------------------------


def today() -> date:
    return timezone.now().astimezone(UTC).date()


@pytest.mark.parametrize("params", [
    {"from": "2026-13-01"},
    {"from": "2026-02-30"},
    {"from": "yesterday"},
    {"from": "2026-1-1"},
    {"to": "2026-01-01\n"},
    {"to": "\uff12\uff10\uff12\uff16-01-01"},  # full-width digits are not ASCII digits
    {"from": "0000-01-01"},
    {"from": "2026-06-01", "to": "2026-05-31"},  # from after to
    {"from": "2024-01-01", "to": "2025-01-01"},  # 367 days
    {"from": "1900-01-01"},  # to today: far more than a year
    {"to": "9999-12-31"},
    "tomorrow",
])
def test_absurd_periods_are_a_clear_400(client, params):
    _, secret = make_partner("Platform")
    if params == "tomorrow":
        params = {"to": (today() + timedelta(days=1)).isoformat()}
    response = evidence(client, secret, **params)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "bad_period", "message": response.json()["error"]["message"]}}
    assert response.json()["error"]["message"]
    assert response["Cache-Control"] == "no-store" and "Feed-Signature" not in response


def test_the_messages_say_what_is_wrong(client):
    _, secret = make_partner("Platform")

    def message(**params) -> str:
        return evidence(client, secret, **params).json()["error"]["message"]

    assert message(**{"from": "2026-06-01", "to": "2026-05-31"}) == "from (2026-06-01) is after to (2026-05-31)"
    assert "at most 366 days" in message(**{"from": "2024-01-01", "to": "2025-01-01"})
    assert "is in the future" in message(to=(today() + timedelta(days=1)).isoformat())
    assert message(**{"from": "2026-02-30"}) == "from (2026-02-30) is not a date in the calendar"
    assert message(to="soon") == "to must be a date written YYYY-MM-DD (UTC)"


def test_the_period_defaults_and_limits(client):
    _, secret = make_partner("Platform")
    assert document(client, secret)["period"] == {
        "from": (today() - timedelta(days=29)).isoformat(), "to": today().isoformat(), "days": 30}
    assert document(client, secret, **{"from": "2024-01-01", "to": "2024-12-31"})["period"]["days"] == 366
    assert document(client, secret, **{"from": today().isoformat()})["period"]["days"] == 1
    assert document(client, secret, to="2026-03-01")["period"] == {"from": "2026-01-31", "to": "2026-03-01",
                                                                   "days": 30}
    assert document(client, secret, to="0001-01-02")["period"]["from"] == "0001-01-01"  # no 30 days before it


def test_an_unknown_format_is_refused(client):
    _, secret = make_partner("Platform")
    response = evidence(client, secret, format="xml")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_format"


# --- The CSV ------------------------------------------------------------------------------------


def test_the_csv_holds_the_same_figures_as_the_json(client, feed_of_seven, monkeypatch):
    partner, secret = make_partner("Platform")
    page(client, secret, 0, 5)
    client.get("/api/v1/checkpoint", **auth(secret))
    partner_feedback_record(partner=partner, items=[FeedbackItem(
        Fingerprint.objects.filter(status=Fingerprint.Status.ACTIVE).first().public_id, "blocked", "k1")])
    now = timezone.now()
    monkeypatch.setattr(feed_evidence, "timezone", types.SimpleNamespace(now=lambda: now))
    signed = document(client, secret)
    response = evidence(client, secret, format="csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8" and response["Cache-Control"] == "no-store"
    assert "Feed-Signature" not in response  # the signed JSON is the evidence; this is its reading copy
    assert response["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "name", "value"]
    by_csv = {(section, name): value for section, name, value in rows[1:]}
    assert len(by_csv) == len(rows) - 1  # one figure a row, none twice

    def flat(mapping, prefix=""):
        for key, value in mapping.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield prefix + key, value

    expected = {}
    for name, value in flat(signed):
        section, _, rest = name.partition(".")
        key = (section, rest) if rest else ("document", section)
        expected[key] = "" if value is None else str(value)
    assert by_csv == expected
    assert by_csv[("fetched", "additions")] == "5" and by_csv[("feedback", "blocked")] == "1"
    # Accept: text/csv asks for the same.
    assert evidence(client, secret, headers={"Accept": "text/csv"}).content == response.content


def test_a_name_a_spreadsheet_would_run_is_written_as_text(client):
    _, secret = make_partner("=HYPERLINK(\"http://example.org\")")
    rows = list(csv.reader(io.StringIO(evidence(client, secret, format="csv").content.decode())))
    assert ["document", "partner", "'=HYPERLINK(\"http://example.org\")"] in rows


# --- The list's figures -------------------------------------------------------------------------


def test_held_cleared_and_removed_by_cause_are_what_the_services_did(client):
    _, secret = make_partner("Platform")
    receipt = case_create(files=[one_file(2), one_file(1, md5=False)])
    publish()
    first_file, second_file = receipt.case.files.order_by("pk")
    f1, f2, f3 = first_file.fingerprints.order_by("pk")
    (f4,) = second_file.fingerprints.all()
    fingerprint_hold(fingerprint=f1, cause="volume", reason="many cases at once")
    fingerprint_hold(fingerprint=f2, cause="match_spike", reason="matched very often")
    fingerprint_hold(fingerprint=f4, cause="false_match", reason="two partners said so")
    fingerprint_review_clear(fingerprint=f1, reviewer_name="Staff", reason="a real case")
    fingerprint_review_remove(fingerprint=f2, reviewer_name="Staff", reason="agreed")
    fingerprint_hold(fingerprint=f1, cause="volume", reason="held again")
    fingerprint_mark_harmless(fingerprint=f4, reviewer_name="Staff", reason="a famous painting")
    # A hold before the period (40 days ago): not in the default period, in one that covers it.
    fingerprint_hold(fingerprint=f3, cause="benign_match", reason="close to a harmless one")
    FingerprintReview.objects.filter(fingerprint=f3).update(at=timezone.now() - timedelta(days=40))

    figures = document(client, secret)["list"]
    zero = {cause: 0 for cause in [*FingerprintReview.Cause.values, "unrecorded"]}
    assert figures["held"] == {**zero, "volume": 2, "match_spike": 1, "false_match": 1, "total": 4}
    assert figures["cleared"] == {**zero, "volume": 1, "total": 1}
    # A removal is counted under the cause of the hold it decided, unless it found its own.
    assert figures["removed"] == {**zero, "match_spike": 1, "harmless": 1, "total": 2}
    assert figures["active_fingerprints"] == 0 == Fingerprint.objects.filter(status="active").count()

    earlier = (today() - timedelta(days=45)).isoformat()
    older = document(client, secret, **{"from": earlier, "to": (today() - timedelta(days=35)).isoformat()})["list"]
    assert older["held"] == {**zero, "benign_match": 1, "total": 1}
    assert older["removed"]["total"] == 0 and older["cleared"]["total"] == 0


def test_active_fingerprints_are_counted_when_issued(client):
    _, secret = make_partner("Platform")
    case_create(files=[one_file(2)])
    assert document(client, secret)["list"]["active_fingerprints"] == 3


# --- The description ----------------------------------------------------------------------------


def test_the_openapi_description_matches_the_document(client, feed_of_seven):
    from hashbank.api.openapi import openapi_document

    spec = openapi_document()
    get = spec["paths"]["/evidence"]["get"]
    assert {p["name"] for p in get["parameters"]} == {"from", "to", "format"}
    assert {"200", "400", "401", "429"} <= set(get["responses"])
    assert "bad_period" in get["responses"]["400"]["description"]
    assert set(get["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    _, secret = make_partner("Platform")
    page(client, secret, 0, 3)

    def same_shape(schema, value, where):
        if schema.get("type") == "object":
            assert set(schema["required"]) == set(schema["properties"]) == set(value), where
            for key, item in value.items():
                same_shape(schema["properties"][key], item, f"{where}.{key}")
        elif value is None:
            assert schema.get("nullable"), where
        else:
            assert {"integer": int, "string": str}[schema["type"]] is type(value), where

    same_shape(spec["components"]["schemas"]["Evidence"], document(client, secret), "evidence")
