"""case_create / case_add_files: everything validated, all or nothing, references that can be read aloud."""

import re

import pytest

from hashbank import references, services
from hashbank.fingerprints import FingerprintError
from hashbank.models import Case, CaseEvent, CaseFile, FeedOutbox, Fingerprint
from hashbank.services import CaseLimitError, CaseStateError, case_add_files, case_create
from tests.feed_helpers import one_file, pdq_value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_publishing(settings):
    # These tests look at what the services store and queue; publishing has its own tests.
    settings.JOBS_IN_PROCESS = True


def test_receipt_reference_is_random_80_bits_in_readable_groups():
    receipts = [case_create(files=[one_file()]) for _ in range(5)]
    refs = [r.reference for r in receipts]
    for ref in refs:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", ref), ref
    assert len(set(refs)) == 5
    # Never sequential: neighbours share no long common prefix (would be astronomically rare).
    assert len({ref[:9] for ref in refs}) == 5
    assert all(re.fullmatch(r"\d{6}", r.pin) for r in receipts)


def test_nothing_that_opens_the_case_is_stored_in_the_clear():
    receipt = case_create(files=[one_file()])
    case = Case.objects.get(pk=receipt.case.pk)
    compact = receipt.reference.replace("-", "")
    assert case.reference_digest == references.reference_digest(compact)
    assert compact not in case.reference_digest and receipt.pin not in case.pin_hash
    assert case.pin_hash.startswith("$argon2id$")
    # The feed token is random, not derived from the reference.
    assert case.feed_token not in (compact, case.reference_digest) and compact not in case.feed_token
    field_names = {f.name for f in Case._meta.get_fields()}
    assert not field_names & {"ip", "ip_address", "user_agent", "file_name", "filename"}


def test_fingerprints_are_normalised_stored_and_queued_for_the_feed():
    value = pdq_value()
    receipt = case_create(files=[[{"signal_type": "pdq", "value": value.upper(), "quality": 88}], one_file()])
    fingerprints = Fingerprint.objects.filter(case=receipt.case)
    assert fingerprints.count() == 3
    stored = fingerprints.get(signal_type="pdq", quality=88)
    assert stored.value == value
    assert CaseFile.objects.filter(case=receipt.case).count() == 2
    event = CaseEvent.objects.get(case=receipt.case, kind="received")
    assert event.data == {"files": 2, "fingerprints": 3}


def test_bad_value_names_file_and_fingerprint_and_stores_nothing():
    files = [one_file(), [{"signal_type": "pdq", "value": pdq_value()},
                          {"signal_type": "pdq", "value": "zz" * 32}]]
    with pytest.raises(FingerprintError, match=r"file 2, fingerprint 2: pdq: 'z' at position 0"):
        case_create(files=files)
    assert Case.objects.count() == 0 and Fingerprint.objects.count() == 0 and FeedOutbox.objects.count() == 0


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "no files"),
        ("pdq", "expected a list of files"),
        ([[]], "file 1: has no fingerprints"),
        ([[{"signal_type": "nope", "value": "ab"}]], "file 1, fingerprint 1: unknown signal type 'nope'"),
        ([["pdq"]], "file 1, fingerprint 1: expected an object"),
        ([[{"signal_type": "pdq", "value": "f" * 64}]], "file 1, fingerprint 1: pdq: refused degenerate"),
        ([[{"signal_type": "pdq", "value": "0" * 64, "quality": True}]], "quality must be a whole number"),
        ([[{"signal_type": "pdq", "value": "a" * 64, "quality": 10}]], "below the floor"),
    ],
)
def test_malformed_submissions_are_refused_clearly(files, message):
    with pytest.raises(FingerprintError, match=re.escape(message)):
        case_create(files=files)
    assert Case.objects.count() == 0


def test_caps_refuse_over_limit_submissions_clearly():
    too_many_files = [one_file(md5=False) for _ in range(services.MAX_FILES_PER_SUBMISSION + 1)]
    with pytest.raises(CaseLimitError, match="at once"):
        case_create(files=too_many_files)
    too_many_prints = [[{"signal_type": "pdq", "value": pdq_value()}
                        for _ in range(services.MAX_FINGERPRINTS_PER_FILE + 1)]]
    with pytest.raises(CaseLimitError, match="file 1: 41 fingerprints is more than the limit of 40"):
        case_create(files=too_many_prints)
    assert Case.objects.count() == 0


def test_case_cap_counts_files_already_in_the_case(monkeypatch):
    monkeypatch.setattr(services, "MAX_FILES_PER_CASE", 3)
    receipt = case_create(files=[one_file(), one_file()])
    with pytest.raises(CaseLimitError, match="at most 3 files; this one has 2 and 2 more"):
        case_add_files(case=receipt.case, files=[one_file(), one_file()])
    assert CaseFile.objects.filter(case=receipt.case).count() == 2


def test_duplicate_values_within_one_file_are_stored_once():
    value = pdq_value()
    receipt = case_create(files=[[{"signal_type": "pdq", "value": value}, {"signal_type": "pdq", "value": value}]])
    assert Fingerprint.objects.filter(case=receipt.case).count() == 1


def test_add_files_adds_to_an_active_case_only():
    receipt = case_create(files=[one_file()])
    added = case_add_files(case=receipt.case, files=[one_file(2)])
    assert len(added) == 1 and added[0].fingerprints.count() == 3
    assert CaseEvent.objects.filter(case=receipt.case, kind="files_added").get().data == {"files": 1, "fingerprints": 3}
    with pytest.raises(FingerprintError, match="file 1, fingerprint 1"):
        case_add_files(case=receipt.case, files=[[{"signal_type": "md5", "value": "x"}]])
    assert CaseFile.objects.filter(case=receipt.case).count() == 2
    services.case_withdraw(case=receipt.case)
    with pytest.raises(CaseStateError):
        case_add_files(case=receipt.case, files=[one_file()])
