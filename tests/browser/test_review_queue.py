"""Service staff working the review queue in a real Chromium (issue 12): a fingerprint held by
a match spike is restored, one held after false-match reports is marked as not intimate image
abuse, the same picture submitted again arrives held as close to the benign list, and the
reviewer clears it. Every decision is recorded with its reason; every state of the page passes
axe-core under the strict CSP."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hashbank import benign
from hashbank import services as bank
from hashbank.fingerprints.pdq import PDQ
from hashbank.models import BenignFingerprint, Fingerprint, FingerprintReview
from tests.browser.axe import assert_no_axe_violations
from tests.test_caseworker_support import PASSWORD, code_for, staff_user
from tests.test_platform_exchange import PHOTOS

pytestmark = pytest.mark.browser


def pdq_file(name: str, scale: int = 1) -> list[dict]:
    image = Image.open(PHOTOS / name).convert("RGB")
    if scale > 1:
        image = image.resize((image.width // scale, image.height // scale), Image.LANCZOS)
    value, quality = PDQ.hash_pixels(np.asarray(image))
    return [{"signal_type": "pdq", "value": value, "quality": quality}]


def decide(page, fingerprint: Fingerprint, label: str, reason: str) -> None:
    item = page.locator(f'[data-held="{fingerprint.public_id}"]')
    item.get_by_label(label).check()
    item.get_by_label("Reason (recorded)").fill(reason)
    item.get_by_role("button", name="Record decision").click()
    page.wait_for_url("**/staff/review/")


def test_staff_restore_a_spike_mark_a_picture_harmless_and_clear_a_benign_match(
        live_server, recorded_page, transactional_db, settings):
    settings.MATCH_SPIKE_REPORTS, settings.MATCH_SPIKE_PARTNERS = 4, 2
    benign.forget_cache()
    page = recorded_page.page
    staff = staff_user("ops")
    partners = [bank.partner_create(name=name) for name in ("PhotoSite", "VideoSite")]
    spiking = Fingerprint.objects.get(case=bank.case_create(files=[pdq_file("camera.png")]).case)
    for partner in partners:
        bank.partner_feedback_record(partner=partner, items=[
            bank.FeedbackItem(spiking.public_id, "blocked", f"{partner.pk}-{n}") for n in range(2)])
    painting = Fingerprint.objects.get(case=bank.case_create(files=[pdq_file("astronaut.png")]).case)
    for partner in partners:
        bank.partner_feedback_record(partner=partner, items=[
            bank.FeedbackItem(painting.public_id, "false_match", f"fm-{partner.pk}")])
    assert set(Fingerprint.objects.values_list("status", flat=True)) == {"held"}

    page.goto(live_server.url + "/caseworkers/sign-in/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(code_for(staff))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/staff/review/")
    spike_item = page.locator(f'[data-held="{spiking.public_id}"]')
    assert "matched 4 times by 2 partners" in spike_item.inner_text()
    assert "2 partners reported a false match" in page.locator(f'[data-held="{painting.public_id}"]').inner_text()
    assert_no_axe_violations(page, "review queue with a spike and a disputed fingerprint")

    # 1. The spike was real abuse being spread: restore it.
    decide(page, spiking, "Clear: the fingerprint is sound, share it again", "Checked: the matches are real.")
    assert Fingerprint.objects.get(pk=spiking.pk).status == "active"
    assert page.locator(f'[data-held="{spiking.public_id}"]').count() == 0

    # 2. The disputed one shows a famous painting: not intimate image abuse.
    decide(page, painting, "Not intimate image abuse (an artwork, a meme, a stock photo): remove it and hold the "
                           "same picture in future", "A reproduction of a famous painting.")
    assert Fingerprint.objects.get(pk=painting.pk).status == "withdrawn"
    assert BenignFingerprint.objects.get().reason == "A reproduction of a famous painting."
    assert "Nothing is waiting for review." in page.content()
    assert_no_axe_violations(page, "review queue, empty")

    # 3. Someone submits the same picture, smaller: it waits for a reviewer, not published.
    again = Fingerprint.objects.get(case=bank.case_create(files=[pdq_file("astronaut.png", scale=2)]).case)
    assert again.status == "held"
    page.reload()
    item = page.locator(f'[data-held="{again.public_id}"]')
    assert "close to a fingerprint marked not intimate image abuse" in item.inner_text()
    assert "A reproduction of a famous painting." in item.inner_text()
    assert_no_axe_violations(page, "review queue with a benign match")
    decide(page, again, "Clear: the fingerprint is sound, share it again", "The survivor's own photograph.")
    assert Fingerprint.objects.get(pk=again.pk).status == "active"

    decisions = list(FingerprintReview.objects.exclude(action="held").values_list("cause", "reviewer_name", "reason"))
    assert sorted(decisions) == sorted([
        ("match_spike", "ops", "Checked: the matches are real."),
        ("harmless", "ops", "A reproduction of a famous painting."),
        ("benign_match", "ops", "The survivor's own photograph."),
    ])
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
