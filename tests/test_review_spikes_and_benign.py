"""Floods held automatically and harmless pictures kept out (issue 12, items 2 and 3).

A fingerprint that matches far more often than an intimate image is shared (reports from
several partners within the window) is held: a tombstone goes out and the review queue shows
it with the evidence; a reviewer restores or removes it, and a spike a reviewer cleared does
not hold it again. Staff can mark a held or reported fingerprint as not intimate image abuse:
its picture joins the benign list, and later submissions of the same picture (PDQ within 31,
or the same md5/sha256), real photographs edited as people edit them, are stored but held for
a reviewer, never published unseen. The list never unpublishes anything by itself."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from hashbank import benign, selectors
from hashbank.fingerprints.pdq import PDQ
from hashbank.models import BenignFingerprint, CaseEvent, FeedOutbox, Fingerprint, FingerprintReview, PartnerFeedback
from hashbank.services import (
    FeedbackItem,
    ReviewStateError,
    case_create,
    fingerprint_hold,
    fingerprint_mark_harmless,
    fingerprint_review_clear,
    fingerprint_review_remove,
    partner_create,
    partner_feedback_record,
)
from portal.survivor.presenters import event_text
from tests.test_platform_exchange import PHOTOS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_benign_cache():
    benign.forget_cache()
    yield
    benign.forget_cache()


# --- Pictures as people edit them --------------------------------------------------------


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def photo(name: str) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def captioned(image: Image.Image) -> Image.Image:
    out = image.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle((0, h * 92 // 100, w, h), fill=(255, 255, 255))
    return out


def edits(image: Image.Image) -> dict[str, Image.Image]:
    """What people do to a picture they pass on. (PDQ does not survive larger crops: from
    about 2% a side the distance passes 31, which is PDQ's limit, not the list's.)"""
    w, h = image.size
    return {
        "resized to a quarter": image.resize((w // 4, h // 4), Image.LANCZOS),
        "JPEG quality 60": jpeg(image, 60),
        "brighter": ImageEnhance.Brightness(image).enhance(1.2),
        "more contrast": ImageEnhance.Contrast(image).enhance(1.3),
        "blurred": image.filter(ImageFilter.GaussianBlur(1.5)),
        "cropped 1% each side": image.crop((w // 100, h // 100, w * 99 // 100, h * 99 // 100)),
        "a caption bar": captioned(image),
    }


EDITS = list(edits(Image.new("RGB", (100, 100))))


def file_of(image: Image.Image, *, with_digests: bytes | None = None) -> list[dict]:
    value, quality = PDQ.hash_pixels(pixels(image))
    items = [{"signal_type": "pdq", "value": value, "quality": quality}]
    if with_digests is not None:
        items += [{"signal_type": "md5", "value": hashlib.md5(with_digests).hexdigest()},
                  {"signal_type": "sha256", "value": hashlib.sha256(with_digests).hexdigest()}]
    return items


def submit(*files: list[dict]):
    return case_create(files=list(files))


def states(receipt) -> set[str]:
    return set(Fingerprint.objects.filter(case=receipt.case).values_list("status", flat=True))


def in_outbox(receipt) -> bool:
    ids = Fingerprint.objects.filter(case=receipt.case).values_list("public_id", flat=True)
    return FeedOutbox.objects.filter(fingerprint_key__in=list(ids), op="add").exists()


def pdq_of(receipt) -> Fingerprint:
    return Fingerprint.objects.get(case=receipt.case, signal_type="pdq")


# --- Match spikes ------------------------------------------------------------------------


@pytest.fixture
def spikes(settings):
    settings.MATCH_SPIKE_REPORTS = 6
    settings.MATCH_SPIKE_PARTNERS = 3
    settings.MATCH_SPIKE_WINDOW_SECONDS = 3600
    return [partner_create(name=f"Platform {n}") for n in range(4)]


def report(partner, fingerprint, n: int, outcome: str = "blocked", tag: str = "") -> None:
    partner_feedback_record(partner=partner, items=[
        FeedbackItem(fingerprint.public_id, outcome, f"{tag}{partner.pk}-{fingerprint.public_id}-{i}") for i in range(n)
    ])


def test_a_spike_from_several_partners_holds_the_fingerprint(spikes):
    receipt = submit(file_of(photo("astronaut.png")))
    fingerprint = pdq_of(receipt)
    FeedOutbox.objects.all().delete()
    report(spikes[0], fingerprint, 3)
    report(spikes[1], fingerprint, 2)
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"  # 5 reports from 2 partners: under both thresholds
    report(spikes[2], fingerprint, 1)
    fingerprint.refresh_from_db()
    assert fingerprint.status == "held"
    # A tombstone goes out, and the queue has it with its evidence.
    assert list(FeedOutbox.objects.values_list("fingerprint_key", "op")) == [(fingerprint.public_id, "withdraw")]
    queued = selectors.fingerprints_held().get(pk=fingerprint.pk)
    assert queued.hold_cause == "match_spike" and "matched 6 times by 3 partners" in queued.hold_reason
    assert (queued.reports_day, queued.partners_day, queued.origin) == (6, 3, "survivor")
    # The survivor reads that it is being checked, in kind words.
    held = CaseEvent.objects.get(case=receipt.case, kind="fingerprint_held")
    text = event_text(held)
    assert "routine check" in text and "reject" not in text.lower() and "wrong" not in text.lower()


def test_many_reports_from_one_or_two_partners_are_not_a_spike(spikes):
    fingerprint = pdq_of(submit(file_of(photo("camera.png"))))
    report(spikes[0], fingerprint, 20)
    report(spikes[1], fingerprint, 20)
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"


def test_reports_older_than_the_window_do_not_count(spikes):
    fingerprint = pdq_of(submit(file_of(photo("camera.png"))))
    report(spikes[0], fingerprint, 4)
    report(spikes[1], fingerprint, 1)
    PartnerFeedback.objects.update(received_at=timezone.now() - timedelta(hours=2))
    report(spikes[2], fingerprint, 1)
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"


def test_a_reviewer_restores_a_spike_and_spikes_do_not_hold_it_again(spikes):
    fingerprint = pdq_of(submit(file_of(photo("astronaut.png"))))
    for partner in spikes[:3]:
        report(partner, fingerprint, 2)
    fingerprint.refresh_from_db()
    assert fingerprint.status == "held"
    FeedOutbox.objects.all().delete()
    fingerprint_review_clear(fingerprint=fingerprint, reviewer_name="stella", reason="real abuse being spread")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"
    assert list(FeedOutbox.objects.values_list("op", flat=True)) == ["add"]  # a new addition
    cleared = FingerprintReview.objects.get(fingerprint=fingerprint, action="cleared")
    assert (cleared.cause, cleared.reviewer_name) == ("match_spike", "stella")
    assert cleared.reason == "real abuse being spread"
    for partner in spikes:
        report(partner, fingerprint, 5, tag="again-")
    fingerprint.refresh_from_db()
    assert fingerprint.status == "active"


def test_a_reviewer_removes_a_spike(spikes):
    fingerprint = pdq_of(submit(file_of(photo("astronaut.png"))))
    for partner in spikes[:3]:
        report(partner, fingerprint, 2)
    fingerprint_review_remove(fingerprint=Fingerprint.objects.get(pk=fingerprint.pk), reviewer_name="stella",
                              reason="a meme")
    assert Fingerprint.objects.get(pk=fingerprint.pk).status == "withdrawn"
    assert FingerprintReview.objects.filter(fingerprint=fingerprint, action="removed", reviewer_name="stella").exists()


# --- The benign list ---------------------------------------------------------------------


def marked_harmless(name: str, content: bytes = b"") -> Fingerprint:
    """A photograph submitted, held (a partner's report), and marked harmless by staff."""
    receipt = submit(file_of(photo(name), with_digests=content or name.encode()))
    fingerprint = pdq_of(receipt)
    fingerprint_hold(fingerprint=fingerprint, reason="reported", cause="false_match")
    return fingerprint_mark_harmless(fingerprint=fingerprint, reviewer_name="stella", reason="a famous painting")


def test_marking_harmless_lists_the_picture_and_takes_its_file_out_of_the_feed():
    receipt = submit(file_of(photo("astronaut.png"), with_digests=b"astronaut file"))
    pdq = pdq_of(receipt)
    fingerprint_hold(fingerprint=pdq, reason="reported", cause="false_match")
    FeedOutbox.objects.all().delete()
    fingerprint_mark_harmless(fingerprint=pdq, reviewer_name="stella", reason="a famous painting")
    assert states(receipt) == {"withdrawn"}
    listed = set(BenignFingerprint.objects.values_list("signal_type", "value"))
    assert listed == set(Fingerprint.objects.filter(case=receipt.case).values_list("signal_type", "value"))
    # The md5 and sha256 were still shared: they get their tombstones now.
    assert FeedOutbox.objects.filter(op="withdraw").count() == 2
    decisions = FingerprintReview.objects.filter(fingerprint__case=receipt.case, action="removed")
    assert {(d.cause, d.reviewer_name, d.reason) for d in decisions} == {("harmless", "stella", "a famous painting")}
    text = event_text(CaseEvent.objects.get(case=receipt.case, kind="fingerprint_removed"))
    assert "artwork or a meme" in text and "reject" not in text.lower()


@pytest.mark.parametrize("edit", EDITS)
def test_the_same_picture_edited_is_held_for_a_reviewer(edit):
    marked_harmless("astronaut.png")
    edited = edits(photo("astronaut.png"))[edit]
    value = PDQ.hash_pixels(pixels(edited))[0]
    listed = BenignFingerprint.objects.get(signal_type="pdq").value
    distance = bin(int(value, 16) ^ int(listed, 16)).count("1")
    assert distance <= 31, distance  # within the distance platforms match at
    later = submit(file_of(edited, with_digests=b"someone else's copy " + edit.encode()), file_of(photo("camera.png")))
    held = Fingerprint.objects.filter(case=later.case, status="held")
    edited_file = Fingerprint.objects.get(case=later.case, value=value).case_file_id
    assert set(held.values_list("case_file_id", flat=True)) == {edited_file}
    assert held.count() == 3  # the edited file's pdq, md5 and sha256
    review = FingerprintReview.objects.filter(fingerprint__in=held).first()
    assert review.cause == "benign_match"
    assert f"PDQ distance {distance}" in review.reason
    assert "a famous painting" in review.reason
    # Not published; the other file (a different photograph) is.
    published = set(FeedOutbox.objects.filter(op="add").values_list("fingerprint_key", flat=True))
    assert not published & set(held.values_list("public_id", flat=True))
    assert Fingerprint.objects.filter(case=later.case, status="active").count() == 1
    # The survivor's status says gently that it waits for a check.
    text = event_text(CaseEvent.objects.get(case=later.case, kind="fingerprint_held"))
    assert "waiting for our staff" in text and "reject" not in text.lower()


def test_a_different_photograph_is_published():
    marked_harmless("astronaut.png")
    later = submit(file_of(photo("coffee.png")))
    assert states(later) == {"active"} and in_outbox(later)


def test_the_same_file_bytes_are_held_by_md5_or_sha256():
    marked_harmless("astronaut.png", content=b"the very same file")
    # A different PDQ (another photograph) but the identical digest: held.
    later = submit(file_of(photo("chelsea.png"), with_digests=b"the very same file"))
    assert states(later) == {"held"}
    assert FingerprintReview.objects.filter(fingerprint__case=later.case, cause="benign_match").count() == 3


def test_the_list_never_unpublishes_what_is_already_shared():
    earlier = submit(file_of(photo("astronaut.png")))  # shared before anyone marked it
    marked_harmless("astronaut.png", content=b"another copy")
    assert states(earlier) == {"active"}


def test_only_a_held_or_reported_fingerprint_can_be_marked_harmless():
    receipt = submit(file_of(photo("camera.png")))
    with pytest.raises(ReviewStateError):
        fingerprint_mark_harmless(fingerprint=pdq_of(receipt), reviewer_name="stella", reason="looks like a meme")
    assert not BenignFingerprint.objects.exists() and states(receipt) == {"active"}
    with pytest.raises(ValueError):
        fingerprint_mark_harmless(fingerprint=pdq_of(receipt), reviewer_name="stella", reason="  ")
    # Reported by a partner (not held): it may be marked.
    partner_feedback_record(partner=partner_create(name="P"), items=[
        FeedbackItem(pdq_of(receipt).public_id, "false_match", "k1")])
    fingerprint_mark_harmless(fingerprint=pdq_of(receipt), reviewer_name="stella", reason="a stock photo")
    assert states(receipt) == {"withdrawn"} and BenignFingerprint.objects.filter(signal_type="pdq").exists()


def test_a_held_benign_match_can_still_be_cleared_by_a_reviewer():
    marked_harmless("astronaut.png")
    later = submit(file_of(jpeg(photo("astronaut.png"), 60)))
    held = pdq_of(later)
    assert held.status == "held"
    FeedOutbox.objects.all().delete()
    fingerprint_review_clear(fingerprint=held, reviewer_name="stella", reason="this is the survivor's own photo")
    assert states(later) == {"active"} and in_outbox(later)


# --- The review queue, as staff use it ---------------------------------------------------


@pytest.fixture
def staff_client(client):
    from tests.test_caseworker_support import staff_user, verified

    return verified(client, staff_user("stella"))


def decide(client, fingerprint: Fingerprint, decision: str, reason: str = "checked"):
    from django.urls import reverse

    return client.post(reverse("caseworkers:review_decide", args=[fingerprint.public_id]),
                       {"decision": decision, "reason": reason})


def test_staff_mark_a_held_fingerprint_harmless_in_the_queue(staff_client):
    receipt = submit(file_of(photo("astronaut.png")))
    fingerprint = pdq_of(receipt)
    fingerprint_hold(fingerprint=fingerprint, reason="reported as a false match by 2 partners", cause="false_match")
    page = staff_client.get("/staff/review/").content.decode()
    assert fingerprint.public_id in page and 'value="harmless"' in page
    assert decide(staff_client, fingerprint, "harmless", "Van Gogh's Starry Night").status_code == 302
    assert BenignFingerprint.objects.get(signal_type="pdq").reason == "Van Gogh's Starry Night"
    assert states(receipt) == {"withdrawn"}
    assert fingerprint.public_id not in staff_client.get("/staff/review/").content.decode()


def test_a_reported_but_shared_fingerprint_can_only_be_marked_harmless(staff_client):
    receipt = submit(file_of(photo("camera.png")))
    fingerprint = pdq_of(receipt)
    partner_feedback_record(partner=partner_create(name="P"), items=[
        FeedbackItem(fingerprint.public_id, "false_match", "k1")])
    page = staff_client.get("/staff/review/").content.decode()
    assert f'data-reported="{fingerprint.public_id}"' in page
    # Clearing or removing is for held fingerprints: one partner's report holds nothing.
    assert decide(staff_client, fingerprint, "remove").status_code == 400
    assert states(receipt) == {"active"}
    assert decide(staff_client, fingerprint, "harmless", "a stock photo of a camera").status_code == 302
    assert states(receipt) == {"withdrawn"}


def test_a_fingerprint_nobody_reported_is_not_found_in_the_queue(staff_client):
    fingerprint = pdq_of(submit(file_of(photo("camera.png"))))
    assert decide(staff_client, fingerprint, "harmless").status_code == 404
    assert not BenignFingerprint.objects.exists()
