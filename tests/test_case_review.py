"""False-match reports: two partners hold a fingerprint (tombstone); staff clear it (back) or remove it."""

import pytest

from hashbank.models import CaseEvent, FeedEntry, Fingerprint, FingerprintReview
from hashbank.selectors import fingerprints_held
from hashbank.services import (
    FeedbackItem,
    ReviewStateError,
    case_create,
    fingerprint_review_clear,
    fingerprint_review_remove,
    partner_create,
    partner_feedback_record,
)
from tests.feed_helpers import one_file

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path


@pytest.fixture
def fingerprint():
    receipt = case_create(files=[one_file()])
    return Fingerprint.objects.filter(case=receipt.case, signal_type="pdq").get()


def report(partner, fingerprint, outcome, key):
    return partner_feedback_record(partner=partner, items=[FeedbackItem(fingerprint.public_id, outcome, key)])


def feed_ops(fingerprint):
    return list(FeedEntry.objects.filter(fingerprint_key=fingerprint.public_id).order_by("position")
                .values_list("op", flat=True))


def test_one_partner_reporting_twice_holds_nothing(fingerprint):
    partner = partner_create(name="Alpha")
    report(partner, fingerprint, "false_match", "a1")
    report(partner, fingerprint, "false_match", "a2")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active" and not fingerprints_held().exists()


def test_two_partners_hold_it_and_it_leaves_the_feed(fingerprint):
    report(partner_create(name="Alpha"), fingerprint, "false_match", "k")
    report(partner_create(name="Beta"), fingerprint, "false_match", "k")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "held"
    assert feed_ops(fingerprint) == ["add", "withdraw"]
    held = fingerprints_held().get()
    assert held == fingerprint and held.false_match_partners == 2
    assert CaseEvent.objects.filter(case=fingerprint.case, kind="fingerprint_held").exists()


def test_clear_puts_it_back_and_records_why(fingerprint):
    alpha, beta, gamma = (partner_create(name=n) for n in ("Alpha", "Beta", "Gamma"))
    report(alpha, fingerprint, "false_match", "1")
    report(beta, fingerprint, "false_match", "1")
    fingerprint_review_clear(fingerprint=fingerprint, reviewer_name="Sam", reason="images differ")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"
    assert feed_ops(fingerprint) == ["add", "withdraw", "add"]
    review = FingerprintReview.objects.get(fingerprint=fingerprint, action="cleared")
    assert (review.reviewer_name, review.reason) == ("Sam", "images differ")
    # Reports judged before clearing do not count again: one new report alone holds nothing.
    report(gamma, fingerprint, "false_match", "1")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"


def test_remove_keeps_it_out_for_good(fingerprint):
    report(partner_create(name="Alpha"), fingerprint, "false_match", "1")
    report(partner_create(name="Beta"), fingerprint, "false_match", "1")
    fingerprint_review_remove(fingerprint=fingerprint, reviewer_name="Sam", reason="confirmed unrelated image")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "withdrawn"
    assert feed_ops(fingerprint) == ["add", "withdraw"]
    assert FingerprintReview.objects.filter(fingerprint=fingerprint, action="removed").exists()


def test_review_needs_a_held_fingerprint_and_a_reason(fingerprint):
    with pytest.raises(ReviewStateError):
        fingerprint_review_clear(fingerprint=fingerprint, reviewer_name="Sam", reason="x")
    report(partner_create(name="Alpha"), fingerprint, "false_match", "1")
    report(partner_create(name="Beta"), fingerprint, "false_match", "1")
    with pytest.raises(ValueError, match="reason is required"):
        fingerprint_review_remove(fingerprint=fingerprint, reviewer_name="Sam", reason="  ")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "held"
