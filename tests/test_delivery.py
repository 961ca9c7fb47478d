"""Delivery to each partner (issue 14): what each key was served is recorded cheaply and only
ever claims what happened, and the status page says, per file, per withdrawal and for the
case, how many of the active partner platforms have fetched them ("N of M"), in sentences that
follow what happened (never "partners received" before one did)."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone
from django.utils.formats import date_format

from hashbank import selectors
from hashbank.feed import delivery
from hashbank.feed.head import head_read
from hashbank.models import CaseEvent, CaseFile, DeliveryMark, Fingerprint, PartnerKey
from hashbank.services import (
    FeedbackItem,
    case_file_withdraw,
    case_withdraw,
    fingerprint_hold,
    partner_create,
    partner_feedback_record,
    partner_key_issue,
    partner_key_revoke,
)
from tests.feed_helpers import auth, publish
from tests.survivor_helpers import make_case, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path


def make_partner(name: str, **fields):
    partner = partner_create(name=name, **fields)
    issued = partner_key_issue(partner=partner)
    return partner, issued.secret


def key_of(partner) -> PartnerKey:
    return PartnerKey.objects.filter(partner=partner).order_by("-pk").first()


def fetch_all(client, secret: str, *, cursor: int = 0, limit: int = 1000) -> int:
    """Page to the head as a partner does; returns the final cursor."""
    while True:
        response = client.get("/api/v1/feed", {"cursor": cursor, "limit": limit}, **auth(secret))
        assert response.status_code == 200, response.content
        nxt = int(response["Feed-Next-Cursor"])
        if nxt == cursor:
            return cursor
        cursor = nxt


def marks(partner) -> list[tuple[int, int]]:
    return list(DeliveryMark.objects.filter(partner=partner).order_by("high").values_list("run_start", "high"))


def status_html(client) -> str:
    response = client.get("/case/status/")
    assert response.status_code == 200
    return response.content.decode()


# --- Recording ---------------------------------------------------------------------------


def test_pages_that_follow_each_other_share_one_mark(client):
    make_case(files=3)
    publish()
    partner, secret = make_partner("Platform")
    fetch_all(client, secret, limit=4)  # 15 entries in four pages, then an empty one
    assert marks(partner) == [(0, head_read().position)]


def test_a_page_after_the_window_starts_a_mark_that_continues_the_run(client, settings):
    make_case(files=1)
    publish()
    partner, secret = make_partner("Platform")
    first = fetch_all(client, secret)
    DeliveryMark.objects.update(opened_at=timezone.now() - timedelta(seconds=settings.FEED_DELIVERY_MARK_SECONDS + 1))
    make_case(files=1)
    publish()
    fetch_all(client, secret, cursor=first)
    assert marks(partner) == [(0, first), (0, head_read().position)]


def test_skipping_ahead_claims_nothing_before_the_skip(client):
    make_case(files=2)
    publish()
    partner, secret = make_partner("Platform")
    fetch_all(client, secret, cursor=6)  # a partner that started from the middle
    assert marks(partner) == [(6, 10)]
    [early, late] = delivery.reach([[(1, 5)], [(7, 10)]])
    assert (early.fetched, late.fetched) == (0, 1)


def test_fetching_again_or_an_empty_page_writes_nothing(client):
    make_case(files=1)
    publish()
    _, secret = make_partner("Platform")
    head = fetch_all(client, secret)
    before = list(DeliveryMark.objects.values_list("pk", "high", "at"))
    fetch_all(client, secret)  # from 0 again
    client.get("/api/v1/feed", {"cursor": head}, **auth(secret))
    assert list(DeliveryMark.objects.values_list("pk", "high", "at")) == before


def test_a_snapshot_stands_for_the_whole_feed_up_to_it(client):
    from hashbank.feed.snapshots import snapshot_build

    make_case(files=2)
    publish()
    snapshot = snapshot_build(force=True)
    partner, secret = make_partner("Platform")
    response = client.get(f"/api/v1/snapshots/{snapshot.position}/file", **auth(secret))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert marks(partner) == [(0, snapshot.position)]
    make_case(files=1)
    publish()
    fetch_all(client, secret, cursor=snapshot.position)
    assert delivery.reach([[(1, head_read().position)]])[0].fetched == 1


def test_recording_off_records_nothing_and_the_page_says_nothing_about_delivery(client, settings):
    settings.FEED_DELIVERY_RECORDING = False
    receipt = make_case(files=1)
    publish()
    _, secret = make_partner("Platform")
    fetch_all(client, secret)
    assert not DeliveryMark.objects.exists()
    survivor = Client()
    open_case(survivor, receipt)
    html = status_html(survivor)
    assert "data-file-reach" not in html and "fetched" not in html.lower()


def test_a_fault_in_recording_never_costs_the_partner_its_page(client, monkeypatch, caplog):
    make_case(files=1)
    publish()
    _, secret = make_partner("Platform")

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(delivery, "_served", broken)
    response = client.get("/api/v1/feed", {"cursor": 0}, **auth(secret))
    assert response.status_code == 200 and response["Feed-Next-Cursor"] == "5"
    assert any("not recorded" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_two_requests_of_one_key_at_once_make_one_mark(postgres, settings):
    """One request holds the key locked (as a slow request would) while the same page is served
    again: the second waits, then finds it recorded and adds nothing."""
    settings.FEED_DELIVERY_MARK_SECONDS = 0  # every page goes the careful way
    make_case(files=1)
    publish()
    partner, _ = make_partner("Platform")
    key = key_of(partner)
    delivery.page_served(key, cursor=0, next_cursor=2)
    started, results = threading.Event(), []

    def second():
        try:
            started.wait(5)
            delivery.page_served(key, cursor=2, next_cursor=5)
            results.append("done")
        finally:
            connections.close_all()

    with transaction.atomic():
        PartnerKey.objects.select_for_update().filter(pk=key.pk).first()
        thread = threading.Thread(target=second)
        thread.start()
        started.set()
        thread.join(1.0)
        assert thread.is_alive(), "the second request should wait for the lock"
        delivery._served(key, low=2, high=5, fresh_run=False)
    thread.join(10)
    assert results == ["done"]
    assert marks(partner) == [(0, 2), (0, 5)]
    connection.close()


# --- Reading: who counts -----------------------------------------------------------------


def test_platforms_are_active_partners_with_a_key_and_each_counts_once(client):
    make_case(files=1)
    publish()
    head = head_read().position
    two_keys, secret_a = make_partner("Two keys")
    secret_b = partner_key_issue(partner=two_keys).secret
    fetch_all(client, secret_a)
    fetch_all(client, secret_b)
    revoked, secret_r = make_partner("Revoked, then a new key")
    fetch_all(client, secret_r)
    partner_key_revoke(key=key_of(revoked))
    partner_key_issue(partner=revoked)  # what the revoked key fetched still counts
    gone, secret_g = make_partner("Left")
    fetch_all(client, secret_g)
    gone.is_active = False
    gone.save()
    no_key, _ = make_partner("Key revoked, none left")
    partner_key_revoke(key=key_of(no_key))
    make_partner("Not yet fetched")
    [reach] = delivery.reach([[(1, head)]])
    assert (reach.fetched, reach.platforms) == (2, 3)
    assert reach.last_at is not None and reach.first_at <= reach.last_at


def test_only_listed_partners_are_named(client):
    make_case(files=1)
    publish()
    _, listed = make_partner("Example Social Ltd", listed_publicly=True, public_name="ExampleSocial")
    _, unlisted = make_partner("Quiet Forum")
    fetch_all(client, listed)
    fetch_all(client, unlisted)
    [reach] = delivery.reach([[(1, head_read().position)]])
    assert reach.named == ("ExampleSocial",)


# --- The status page ---------------------------------------------------------------------


def test_the_status_page_follows_each_partner_and_never_says_received_before_it_was(client):
    receipt = make_case(files=2)
    survivor = Client()
    open_case(survivor, receipt)
    html = status_html(survivor)
    assert 'data-file-reach=""' in html  # accepted, not yet in the list
    assert "Not in the list yet." in html

    publish()
    html = status_html(survivor)
    assert "Not yet fetched by any partner platform: none has joined yet." in html
    _, first_secret = make_partner("First")
    html = status_html(survivor)
    assert 'data-file-reach="0/1"' in html and "Not yet fetched by any partner platform." in html

    fetch_all(client, first_secret)
    html = status_html(survivor)
    assert html.count('data-file-reach="1/1"') == 2 and 'data-case-reach="1/1"' in html
    assert "Partner platforms that have fetched them: 1 of 1" in html
    assert "A partner platform fetched these fingerprints." in html

    _, second_secret = make_partner("Second")
    assert 'data-case-reach="1/2"' in status_html(survivor)

    first_file = CaseFile.objects.filter(case=receipt.case).order_by("added_at", "pk").first()
    case_file_withdraw(case=receipt.case, file_id=first_file.public_id)
    html = status_html(survivor)
    assert "You withdrew one file." in html
    assert "Partners received" not in html and "were told" not in html
    publish()
    html = status_html(survivor)
    assert "Your withdrawal was added to the list that partner platforms fetch." in html
    assert 'data-reach="0/2"' in html  # the withdrawal's publication: nobody has fetched it

    fetch_all(client, second_secret)
    html = status_html(survivor)
    # The case as a whole: the file still in the list, fetched by both (not the withdrawal's 1 of 2).
    assert 'data-case-reach="2/2"' in html
    assert 'data-reach="1/2"' in html
    assert "Partner platforms that have fetched the withdrawal: 1 of 2" in html
    assert "A partner platform fetched your withdrawal and stops using those fingerprints." in html

    fetch_all(client, first_secret, cursor=10)
    html = status_html(survivor)
    assert "Partner platforms that have fetched the withdrawal: 2 of 2" in html
    assert "All 2 partner platforms have now fetched your withdrawal." in html
    assert 'data-withdrawn-files>1<' in html and 'data-active-files>1<' in html


def test_withdrawing_everything_says_how_many_files_were_withdrawn(client):
    receipt = make_case(files=4)
    publish()
    case_withdraw(case=receipt.case)
    publish()
    survivor = Client()
    open_case(survivor, receipt)
    html = status_html(survivor)
    assert 'data-active-files>0<' in html and 'data-withdrawn-files>4<' in html
    assert "You withdrew the case." in html


def test_a_hold_is_not_told_as_the_survivors_withdrawal():
    receipt = make_case(files=1)
    publish()
    fingerprint_hold(fingerprint=Fingerprint.objects.filter(case=receipt.case).first(), reason="checking")
    publish()
    kinds = list(CaseEvent.objects.filter(case=receipt.case).values_list("kind", flat=True))
    assert CaseEvent.Kind.WITHDRAWAL_SHARED not in kinds and CaseEvent.Kind.FINGERPRINT_HELD in kinds


def test_match_reports_show_in_plain_words_counted_without_naming_unlisted_partners(client):
    receipt = make_case(files=1)
    publish()
    quiet, _ = make_partner("Quiet Forum")
    listed, _ = make_partner("Example Social Ltd", listed_publicly=True, public_name="ExampleSocial")
    fingerprint = Fingerprint.objects.filter(case=receipt.case).first()
    partner_feedback_record(partner=quiet, items=[
        FeedbackItem(fingerprint_id=fingerprint.public_id, outcome="blocked", idempotency_key=f"q{i}")
        for i in range(2)])
    partner_feedback_record(partner=listed, items=[
        FeedbackItem(fingerprint_id=fingerprint.public_id, outcome="blocked", idempotency_key="l1")])
    survivor = Client()
    open_case(survivor, receipt)
    html = status_html(survivor)
    assert "A partner platform found 2 copies and blocked them." in html
    assert "A partner platform found a copy and blocked it. (Partner: ExampleSocial)" in html
    assert "Quiet Forum" not in html
    assert 'data-copies-found="3" data-copies-blocked="3"' in html


def test_publications_keep_their_positions_so_pruning_loses_nothing():
    receipt = make_case(files=1)
    publish()
    event = CaseEvent.objects.get(case=receipt.case, kind=CaseEvent.Kind.SHARED_WITH_PARTNERS)
    assert event.data == {"fingerprints": 5, "first": 1, "last": 5}
    delivered = selectors.case_delivery(case=receipt.case, events=[event])
    assert set(delivered.events) == {event.pk}


# --- Compaction --------------------------------------------------------------------------


def test_old_marks_merge_into_one_a_day_and_claim_nothing_new(client, settings):
    """Marks older than FEED_DELIVERY_COMPACT_DAYS become one a key, run and day: the one that
    reached furthest (served last) stays, so every answer still holds, at most later in the day;
    recent marks and separate runs are left alone; running it again changes nothing."""
    from django.core.management import call_command

    make_case(files=3)
    publish()
    partner, _ = make_partner("Platform")
    key = key_of(partner)
    old = timezone.now() - timedelta(days=settings.FEED_DELIVERY_COMPACT_DAYS + 2)
    old = old.replace(hour=9, minute=0)
    # One old day of pages, one mark each; then, the same day, a run that skipped ahead.
    for i, high in enumerate((3, 6, 9)):
        at = old + timedelta(hours=i)
        DeliveryMark.objects.create(key=key, partner=partner, run_start=0, high=high, at=at, opened_at=at)
    skipped_at = old + timedelta(hours=4)
    DeliveryMark.objects.create(key=key, partner=partner, run_start=11, high=13, at=skipped_at, opened_at=skipped_at)
    recent = timezone.now()
    DeliveryMark.objects.create(key=key, partner=partner, run_start=11, high=15, at=recent, opened_at=recent)
    before = delivery.reach([[(1, 3)], [(4, 9)], [(12, 13)], [(14, 15)], [(10, 12)]])

    out = io.StringIO()
    call_command("feed_prune", "--dry-run", stdout=out)
    assert "delivery marks: would merge 2" in out.getvalue()
    assert DeliveryMark.objects.count() == 5  # a dry run merges nothing
    assert delivery.marks_compact() == 2
    assert marks(partner) == [(0, 9), (11, 13), (11, 15)]
    after = delivery.reach([[(1, 3)], [(4, 9)], [(12, 13)], [(14, 15)], [(10, 12)]])
    assert [r.fetched for r in after] == [r.fetched for r in before] == [1, 1, 1, 1, 0]
    # Position 1 was fetched at 09:00; it is now said to be fetched by 11:00, the same day.
    assert before[0].last_at == old and after[0].last_at == old + timedelta(hours=2)
    assert after[0].last_at.date() == before[0].last_at.date()
    assert delivery.marks_compact() == 0


def test_fetches_older_than_the_minute_marks_are_told_by_their_date(client, settings):
    receipt = make_case(files=1)
    publish()
    partner, _ = make_partner("Platform")
    old = timezone.now() - timedelta(days=settings.FEED_DELIVERY_COMPACT_DAYS + 1)
    DeliveryMark.objects.create(key=key_of(partner), partner=partner, run_start=0, high=5, at=old, opened_at=old)
    survivor = Client()
    open_case(survivor, receipt)
    html = status_html(survivor)
    day = date_format(old, "DATE_FORMAT")
    assert f"Partner platforms that have fetched them: 1 of 1 (the last on {day})." in html
    assert f'<time datetime="{old:%Y-%m-%d}">{day}</time> <span>A partner platform fetched these fingerprints.' in html


def test_our_own_reader_and_lookup_only_partners_are_not_partner_platforms(client):
    """The hosted lookup's index process reads the feed with an internal partner's key, and a
    small forum may use only the lookup: neither holds a list, so neither is counted in "N of M",
    stamps the transparency figures' first fetch, or counts as a partner there."""
    from hashbank.lookup.services import partner_lookup_key_issue
    from hashbank.models import FeedEntry
    from hashbank.transparency import _partners_active

    make_case(files=1)
    publish()
    internal = partner_create(name="Image Shield lookup (internal)", internal=True)
    fetch_all(client, partner_key_issue(partner=internal).secret)
    partner_lookup_key_issue(partner=partner_create(name="Small Forum"))
    [reach] = delivery.reach([[(1, 5)]])
    assert (reach.fetched, reach.platforms) == (0, 0)
    assert not FeedEntry.objects.filter(first_fetched_at__isnull=False).exists()
    assert _partners_active([timezone.now()]) == [1]  # the forum, not our own reader
    with pytest.raises(ValueError):
        partner_create(name="Listed reader", internal=True, listed_publicly=True)
