"""An opened case: the status page, adding files, withdrawing one file or the whole case
(tombstones reach the partner feed), and deleting it. All without JavaScript except adding."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client

from hashbank import jobs
from hashbank.feed.pages import page_signed
from hashbank.models import Case, CaseFile, Fingerprint
from tests.survivor_helpers import make_case, open_case, photo_fingerprints, post_json, submission


@pytest.fixture(autouse=True)
def _clear_counters():
    cache.clear()


def feed_entries() -> list[dict]:
    """What a partner reads: the signed pages, from the start."""
    jobs.feed_publish()
    page = page_signed(cursor=0, limit=1000)
    return json.loads(page.body)["entries"]


@pytest.mark.django_db
def test_status_page_shows_timeline_counts_and_files_by_number_only():
    receipt = make_case(files=2)
    client = Client()
    open_case(client, receipt)
    page = client.get("/case/status/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert "We received the fingerprints of 2 files." in html
    assert 'data-fingerprint-count>10<' in html
    assert "File 1" in html and "File 2" in html
    # Neither the reference nor the PIN is ever shown again.
    assert receipt.reference not in html and receipt.pin not in html


@pytest.mark.django_db
def test_adding_files_to_an_opened_case():
    receipt = make_case(files=1)
    client = Client()
    open_case(client, receipt)
    assert client.get("/case/add/").status_code == 200
    response = post_json(client, "/api/survivor/case/files", submission([photo_fingerprints(3)]))
    assert response.status_code == 200, response.content
    assert response.json()["done_url"] == "/case/status/"
    assert CaseFile.objects.filter(case=receipt.case).count() == 2
    assert "You added the fingerprints of 1 more file." in client.get("/case/status/").content.decode()


@pytest.mark.django_db
def test_adding_needs_an_opened_case_and_refuses_malformed_input():
    receipt = make_case(files=1)
    response = post_json(Client(), "/api/survivor/case/files", submission([photo_fingerprints(3)]))
    assert response.status_code == 403
    client = Client()
    open_case(client, receipt)
    bad = submission([photo_fingerprints(3)])
    bad["files"][0]["fingerprints"][0]["value"] = "0" * 64
    response = post_json(client, "/api/survivor/case/files", bad)
    assert response.status_code == 400 and "nothing was saved" in response.json()["error"]
    assert CaseFile.objects.filter(case=receipt.case).count() == 1


@pytest.mark.django_db
def test_withdrawing_one_file_sends_tombstones_for_its_fingerprints_only():
    receipt = make_case(files=2)
    client = Client()
    open_case(client, receipt)
    first, second = CaseFile.objects.filter(case=receipt.case).order_by("added_at", "pk")
    confirm = client.get(f"/case/files/{first.public_id}/withdraw/")
    assert confirm.status_code == 200 and "Withdraw file 1?" in confirm.content.decode()
    assert client.post(f"/case/files/{first.public_id}/withdraw/").status_code == 302
    withdrawn_ids = set(Fingerprint.objects.filter(case_file=first).values_list("public_id", flat=True))
    kept_ids = set(Fingerprint.objects.filter(case_file=second).values_list("public_id", flat=True))
    entries = feed_entries()
    tombstones = {e["id"] for e in entries if e["op"] == "withdraw"}
    assert tombstones == withdrawn_ids
    assert not tombstones & kept_ids
    html = client.get("/case/status/").content.decode()
    assert "You withdrew one file." in html
    assert 'data-fingerprint-count>5<' in html


@pytest.mark.django_db
def test_a_file_of_another_case_is_not_found():
    mine, theirs = make_case(files=1), make_case(files=1)
    client = Client()
    open_case(client, mine)
    other_file = CaseFile.objects.get(case=theirs.case)
    assert client.get(f"/case/files/{other_file.public_id}/withdraw/").status_code == 404
    assert client.post(f"/case/files/{other_file.public_id}/withdraw/").status_code == 404
    assert Fingerprint.objects.filter(case_file=other_file, status="active").count() == 5


@pytest.mark.django_db
def test_withdrawing_the_case_tombstones_everything_and_stops_additions():
    receipt = make_case(files=2)
    client = Client()
    open_case(client, receipt)
    assert client.post("/case/withdraw/").status_code == 302
    assert {e["id"] for e in feed_entries() if e["op"] == "withdraw"} == set(
        Fingerprint.objects.filter(case=receipt.case).values_list("public_id", flat=True)
    )
    html = client.get("/case/status/").content.decode()
    assert "You withdrew the case." in html and "Add more files" not in html
    response = post_json(client, "/api/survivor/case/files", submission([photo_fingerprints(3)]))
    assert response.status_code == 409


@pytest.mark.django_db
def test_deleting_the_case_forgets_it_and_the_pin_opens_nothing():
    receipt = make_case(files=1)
    client = Client()
    open_case(client, receipt)
    assert "cannot be undone" in client.get("/case/delete/").content.decode()
    done = client.post("/case/delete/")
    assert done.status_code == 200 and "Your case was deleted" in done.content.decode()
    assert Case.objects.get(pk=receipt.case.pk).status == Case.Status.DELETED
    assert client.get("/case/status/").status_code == 302
    again = Client().post("/case/", {"reference": receipt.reference, "pin": receipt.pin})
    assert again.status_code == 200 and "do not open a case" in again.content.decode()
