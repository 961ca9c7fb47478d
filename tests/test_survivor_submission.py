"""Submitting fingerprints: only JSON with fingerprints, their signal types and a count is
accepted; anything else is refused with a clear message and nothing is stored."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from hashbank.models import Case, CaseFile, Fingerprint
from portal.survivor.wire import MAX_BODY_BYTES
from tests.survivor_helpers import consented_client, photo_fingerprints, post_json, submission

URL = "/api/survivor/cases"


def nothing_stored() -> bool:
    return not Case.objects.exists() and not CaseFile.objects.exists() and not Fingerprint.objects.exists()


@pytest.mark.django_db
def test_a_valid_submission_creates_a_case_and_returns_the_receipt_once():
    client = consented_client()
    response = post_json(client, URL, submission([photo_fingerprints(0), photo_fingerprints(1)]))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"reference", "pin", "files", "fingerprints", "open_url"}
    assert body["files"] == 2 and body["fingerprints"] == 10
    assert Fingerprint.objects.count() == 10
    assert "no-store" in response["Cache-Control"]
    # The receipt is not kept anywhere the server could show it again.
    assert body["pin"] not in json.dumps(dict(client.session.items()))
    # Consent covers one case: a second submission asks again.
    again = post_json(client, URL, submission([photo_fingerprints(2)]))
    assert again.status_code == 403


@pytest.mark.django_db
def test_without_eligibility_and_consent_nothing_is_accepted():
    response = post_json(Client(), URL, submission([photo_fingerprints()]))
    assert response.status_code == 403
    assert nothing_stored()


def _with(change):
    body = submission([photo_fingerprints(0), photo_fingerprints(1)])
    change(body)
    return body


MALFORMED = {
    "extra top-level key (a file name)": _with(lambda b: b.update(name="IMG_0001.jpg")),
    "extra key in a file": _with(lambda b: b["files"][0].update(name="IMG_0001.jpg")),
    "extra key in a fingerprint": _with(lambda b: b["files"][0]["fingerprints"][0].update(exif="Canon")),
    "count does not match": _with(lambda b: b.update(count=3)),
    "count is a boolean": _with(lambda b: b.update(count=True, files=b["files"][:1])),
    "no files": {"count": 0, "files": []},
    "not hex": _with(lambda b: b["files"][1]["fingerprints"][1].update(value="zz" * 8)),
    "wrong length": _with(lambda b: b["files"][0]["fingerprints"][3].update(value="abc")),
    "unknown signal type": _with(lambda b: b["files"][0]["fingerprints"][0].update(signal_type="photodna")),
    "vpdq is not accepted from the page": _with(lambda b: b["files"][0]["fingerprints"].append(
        {"signal_type": "vpdq", "value": "[]"})),
    "quality on a non-pdq value": _with(lambda b: b["files"][0]["fingerprints"][1].update(quality=90)),
    "pdq quality below the floor": _with(lambda b: b["files"][0]["fingerprints"][0].update(quality=10)),
    "degenerate pdq (all zero)": _with(lambda b: b["files"][0]["fingerprints"][0].update(value="0" * 64)),
    "empty md5": _with(lambda b: b["files"][0]["fingerprints"][3].update(value="d41d8cd98f00b204e9800998ecf8427e")),
    "file without fingerprints": _with(lambda b: b["files"][0].update(fingerprints=[])),
    "a list, not an object": [1, 2, 3],
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_submissions_are_refused_with_a_message_and_nothing_is_stored(case):
    client = consented_client()
    response = post_json(client, URL, MALFORMED[case])
    assert response.status_code == 400, response.content
    message = response.json()["error"]
    assert "nothing was saved" in message
    assert nothing_stored()


@pytest.mark.django_db
def test_the_message_names_the_file_and_what_is_wrong():
    body = _with(lambda b: b["files"][1]["fingerprints"][1].update(value="zz" * 8))
    message = post_json(consented_client(), URL, body).json()["error"]
    assert "file 2" in message and "not a hex digit" in message


@pytest.mark.django_db
def test_json_that_is_not_json_is_refused():
    client = consented_client()
    response = client.post(URL, data=b'{"count": NaN, "files": []}', content_type="application/json")
    assert response.status_code == 400
    response = client.post(URL, data=b"\xff\xfe not json", content_type="application/json")
    assert response.status_code == 400
    assert nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream",
                                          "image/jpeg", "application/json; charset=latin-1"])
def test_only_json_is_accepted(content_type):
    client = consented_client()
    body = json.dumps(submission([photo_fingerprints()]))
    response = client.post(URL, data=body, content_type=content_type)
    assert response.status_code == 415
    assert nothing_stored()


@pytest.mark.django_db
def test_a_file_in_a_multipart_body_is_refused_before_any_view_runs():
    client = consented_client()
    upload = SimpleUploadedFile("IMG_0001.jpg", b"\xff\xd8\xff\xe0 fake jpeg", content_type="image/jpeg")
    response = client.post(URL, {"file": upload})
    assert response.status_code == 415
    assert nothing_stored()


@pytest.mark.django_db
def test_bodies_over_the_cap_are_refused_without_being_parsed():
    client = consented_client()
    files = [photo_fingerprints(i) for i in range(3)]
    body = submission(files)
    body["files"][0]["fingerprints"][1]["value"] = "a" * MAX_BODY_BYTES  # padded past the cap
    response = post_json(client, URL, body)
    assert response.status_code == 413
    assert "fewer files" in response.json()["error"]
    assert nothing_stored()


@pytest.mark.django_db
def test_the_submission_is_csrf_protected():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/start/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None
    assert token
    response = client.post("/start/", {"age": "adult", "pictured": "on", "consent": "on",
                                       "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    body = json.dumps(submission([photo_fingerprints()]))
    refused = client.post(URL, data=body, content_type="application/json")
    assert refused.status_code == 403
    assert nothing_stored()
    accepted = client.post(URL, data=body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


@pytest.mark.django_db
def test_get_is_not_allowed_on_the_api():
    assert consented_client().get(URL).status_code == 405
