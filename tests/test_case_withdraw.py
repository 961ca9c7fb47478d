"""Withdrawing a file, the whole case, and deleting it: tombstones reach the feed, the timeline says so."""

import pytest

from hashbank.models import Case, CaseEvent, CaseFile, FeedEntry, FeedOutbox, Fingerprint
from hashbank.selectors import case_files, case_fingerprint_counts, case_timeline
from hashbank.services import case_create, case_delete, case_file_withdraw, case_withdraw
from tests.feed_helpers import one_file

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path


def ops_for(case):
    keys = set(Fingerprint.objects.filter(case=case).values_list("public_id", flat=True))
    return [(e.fingerprint_key, e.op) for e in FeedEntry.objects.order_by("position") if e.fingerprint_key in keys]


def test_file_withdrawal_sends_tombstones_for_that_file_only():
    receipt = case_create(files=[one_file(2), one_file(1)])
    first, second = case_files(case=receipt.case)
    assert (first.fingerprint_count, first.active_count) == (3, 3)
    case_file_withdraw(case=receipt.case, file_id=first.public_id)

    withdrawn = set(first.fingerprints.values_list("public_id", flat=True))
    tombstones = {key for key, op in ops_for(receipt.case) if op == "withdraw"}
    assert tombstones == withdrawn
    assert set(second.fingerprints.values_list("status", flat=True)) == {"active"}
    assert case_fingerprint_counts(case=receipt.case) == {"total": 5, "active": 2, "withdrawn": 3, "held": 0}
    kinds = [e.kind for e in case_timeline(case=receipt.case)]
    assert kinds == ["received", "shared_with_partners", "file_withdrawn", "withdrawal_shared"]
    # Repeating is harmless: no second tombstone.
    case_file_withdraw(case=receipt.case, file_id=first.public_id)
    assert len([op for _, op in ops_for(receipt.case) if op == "withdraw"]) == 3


def test_a_file_of_another_case_is_not_found():
    mine = case_create(files=[one_file()])
    theirs = case_create(files=[one_file()])
    their_file = theirs.case.files.get()
    with pytest.raises(CaseFile.DoesNotExist):
        case_file_withdraw(case=mine.case, file_id=their_file.public_id)
    assert their_file.fingerprints.filter(status="active").count() == 2


def test_case_withdrawal_tombstones_everything_still_listed():
    receipt = case_create(files=[one_file(), one_file()])
    case_file_withdraw(case=receipt.case, file_id=receipt.case.files.first().public_id)
    case_withdraw(case=receipt.case)
    ops = ops_for(receipt.case)
    assert sorted(op for _, op in ops) == ["add"] * 4 + ["withdraw"] * 4
    assert Case.objects.get(pk=receipt.case.pk).status == "withdrawn"
    assert CaseEvent.objects.filter(case=receipt.case, kind="withdrawn").get().data == {"fingerprints": 2}
    assert not FeedOutbox.objects.exists()


def test_delete_tombstones_then_erases():
    receipt = case_create(files=[one_file(2)])
    keys = set(Fingerprint.objects.filter(case=receipt.case).values_list("public_id", flat=True))
    case_delete(case=receipt.case)
    case = Case.objects.get(pk=receipt.case.pk)
    assert case.status == "deleted" and case.reference_digest is None and case.pin_hash == ""
    assert not Fingerprint.objects.filter(case=case).exists()
    assert not CaseFile.objects.filter(case=case).exists()
    assert not CaseEvent.objects.filter(case=case).exists()
    published = list(FeedEntry.objects.filter(fingerprint_key__in=keys).values_list("fingerprint_key", "op"))
    assert sorted(op for _, op in published) == ["add"] * 3 + ["withdraw"] * 3
