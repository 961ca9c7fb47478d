"""A new caseworker's first day, in a real Chromium, as they would do it:

set a password from the welcome link, enrol an authenticator (the secret read from the page,
the code computed as an app would), sign in again with a real TOTP code using the keyboard
only, start an assisted case from two real photographs (fingerprinted on the device), add a
note by keyboard, see the status change after a partner posts feedback through the partner
API, and fail to reach another organisation's case. Every page passes axe-core (WCAG 2.2 AA)
under the strict CSP. Screenshots go to docs/caseworkers/ when CASEWORKER_SCREENSHOTS=1.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django_otp.oath import totp

from hashbank import jobs
from hashbank import services as bank
from portal.caseworkers import services
from portal.caseworkers.models import AssistedCase, AuditAction, AuditEvent, CaseNote, Role
from tests.browser.axe import ROOT, assert_no_axe_violations
from tests.browser.journey import make_photos, shoot
from tests.test_caseworker_support import PASSWORD, assisted_case, code_for, member, organisation

pytestmark = pytest.mark.browser

NEW_PASSWORD = "violet tractor hums quietly"


def code_from_uri(uri: str, *, drift: int = 0) -> str:
    """What an authenticator app shows for this otpauth:// URI (RFC 6238, SHA-1, 6 digits)."""
    query = parse_qs(urlsplit(uri).query)
    secret = unquote(query["secret"][0])
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, step=int(query['period'][0]), digits=int(query['digits'][0]), drift=drift):06d}"


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Move focus with the Tab key alone until `selector` has it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the keyboard")


def api(base: str, path: str, key: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # the local live server only
        return json.loads(response.read())


def test_a_new_caseworkers_first_day(live_server, recorded_page, tmp_path, transactional_db):
    page = recorded_page.page
    base = live_server.url
    shots = tmp_path / "shots"
    shots.mkdir()
    checked: list[str] = []

    def check(label: str) -> None:
        page.wait_for_load_state("networkidle")
        assert_no_axe_violations(page, label)
        checked.append(label)
        shoot(page, shots, label)

    north = organisation("North Helpline")
    lead = member(north, "lena", Role.LEAD)
    new = services.caseworker_create(username="sam", email="sam@example.org", organisation=north)
    south_case = assisted_case(member(organisation("South Helpline"), "bob")).assisted_case
    photos = make_photos(tmp_path, count=2)

    # 1. The welcome link: choose a password (the rules are enforced on the page).
    page.goto(base + new.welcome_path)
    check("01-welcome")
    page.get_by_label("New password", exact=True).fill("helpline2026!!")
    page.get_by_label("New password confirmation").fill("helpline2026!!")
    page.get_by_role("button", name="Save password").click()
    assert "built around a word" in page.content()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save password").click()

    # 2. First sign-in: password, then enrol an authenticator from the QR code page.
    page.wait_for_url("**/caseworkers/sign-in/")
    check("02-sign-in")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/sign-in/set-up/")
    assert page.locator(".cw-qr svg title").text_content() == "QR code for your authenticator app"
    page.locator("summary").click()
    check("03-enrol")
    uri = page.locator("[data-totp-uri]").inner_text().strip()
    page.get_by_label("The six-digit code your app shows now").fill(code_from_uri(uri))
    page.get_by_role("button", name="Confirm and sign in").click()
    page.locator("[data-recovery-codes]").wait_for()
    assert page.locator("[data-recovery-codes] li").count() == 10
    check("04-recovery-codes")
    page.get_by_role("link", name="I have kept them safe, continue").click()
    page.wait_for_url("**/caseworkers/")
    page.get_by_role("button", name="Sign out").click()

    # 3. Sign in again with a real TOTP code, by keyboard alone. (The code for the next 30-second
    #    step: the current one was just spent on enrolment, and django-otp accepts one step ahead.)
    page.wait_for_url("**/caseworkers/sign-in/")
    tab_to(page, "#id_username")
    page.keyboard.type("sam")
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url("**/sign-in/code/")
    check("05-code")
    tab_to(page, "#id_code")
    page.keyboard.type(code_from_uri(uri, drift=1))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url("**/caseworkers/")
    check("06-cases-empty")

    # 4. An assisted case from two real photographs, fingerprinted in this browser.
    page.get_by_role("link", name="Start a case with a client").click()
    page.wait_for_url("**/caseworkers/cases/new/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    check("07-start-case")
    page.locator("[data-flow-input]").set_input_files([p.path for p in photos])
    page.locator("[data-flow-list] li").nth(1).wait_for()
    page.get_by_role("button", name="Make fingerprints").click()
    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=90_000)
    page.get_by_role("button", name="Send fingerprints").click()
    page.locator('[data-flow-step="receipt"]:not([hidden])').wait_for()
    reference = page.locator("[data-receipt-reference]").inner_text().strip()
    pin = page.locator("[data-receipt-pin]").inner_text().strip()
    assert len(reference.replace("-", "")) == 16 and pin.isdigit()
    check("08-receipt-for-the-client")
    assisted = AssistedCase.objects.select_related("case").get(organisation=north)
    assert assisted.created_by.username == "sam" and assisted.case.files.count() == 2

    # 5. The case in the list, its page, and a note added by keyboard.
    page.get_by_role("link", name="Back to your cases").click()
    page.wait_for_url("**/caseworkers/")
    row = page.locator(f'[data-case-row="{assisted.public_id}"]')
    assert row.locator("[data-case-status]").inner_text() != "Matches reported"
    check("09-cases")
    row.get_by_role("link").click()
    page.wait_for_url(f"**/caseworkers/cases/{assisted.public_id}/")
    tab_to(page, "#id_text")
    page.keyboard.type("Client present, calm. Two photos fingerprinted; receipt printed for them.")
    page.keyboard.press("Tab")
    while not page.evaluate("document.activeElement.textContent.trim() === 'Add note'"):
        page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("[data-note]").count() == 1 and "Client present, calm." in page.content()
    assert CaseNote.objects.get().author.username == "sam"
    check("10-case-with-note")

    # 6. A partner reads the feed and reports a match through the partner API.
    jobs.feed_publish()
    key = bank.partner_key_issue(partner=bank.partner_create(name="PhotoSite")).secret
    entries = api(base, "/api/v1/feed?cursor=0", key)["entries"]
    ours = set(assisted.case.fingerprints.values_list("public_id", flat=True))
    entry_id = next(e["id"] for e in entries if e["id"] in ours)
    result = api(
        base, "/api/v1/feedback", key, {"feedback": [{"id": entry_id, "outcome": "blocked", "idempotency_key": "r1"}]}
    )
    assert result["results"][0]["status"] == "recorded"
    page.reload()
    assert page.locator("[data-case-status]").inner_text() == "Matches reported"
    assert page.locator("[data-case-matches]").inner_text() == "1"
    page.get_by_role("link", name="Cases", exact=True).click()
    assert page.locator(f'[data-case-row="{assisted.public_id}"] [data-case-status]').inner_text() == "Matches reported"

    # 7. Another organisation's case: not found, whichever way it is asked for.
    for path in [f"/caseworkers/cases/{south_case.public_id}/", f"/caseworkers/cases/{south_case.case_id}/"]:
        response = page.goto(base + path)
        assert response.status == 404
        assert "bob" not in page.content()

    # 8. The lead sees the audit trail of it all.
    page.goto(base + "/caseworkers/")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill("lena")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(code_for(lead.user))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Audit trail").click()
    page.wait_for_url("**/caseworkers/audit/")
    check("11-audit-trail")
    assert "sam" in page.locator("table").inner_text() and "added a note" in page.content()
    sam_actions = set(AuditEvent.objects.filter(actor__username="sam").values_list("action", flat=True))
    assert {AuditAction.CASE_CREATED, AuditAction.CASE_VIEWED, AuditAction.NOTE_ADDED} <= sam_actions
    assert AuditAction.ACCESS_REFUSED in sam_actions

    # Clean under the strict CSP, nothing from elsewhere, nothing but 404s for the refusals.
    assert recorded_page.console_errors == [] or all("404" in e for e in recorded_page.console_errors)
    assert recorded_page.page_errors == []
    origin = urlsplit(base).netloc
    foreign = [
        r.url
        for r in recorded_page.requests
        if urlsplit(r.url).netloc not in {origin, ""} and not r.url.startswith(("blob:", "data:"))
    ]
    assert foreign == []
    assert len(checked) == 11

    if os.environ.get("CASEWORKER_SCREENSHOTS"):
        target = ROOT / "docs" / "caseworkers"
        target.mkdir(parents=True, exist_ok=True)
        for shot in sorted(Path(shots).glob("*.png")):
            shutil.copy(shot, target / shot.name)


def test_service_staff_review_a_held_fingerprint(live_server, recorded_page, tmp_path, transactional_db):
    """Staff sign in with both factors, land on the review queue (axe-clean) and remove a held
    fingerprint with a recorded reason."""
    from hashbank.models import Fingerprint, FingerprintReview
    from tests.test_caseworker_support import staff_user

    page = recorded_page.page
    staff = staff_user("ops")
    fingerprint = Fingerprint.objects.filter(case=assisted_case(member(organisation(), "alice")).assisted_case.case)[0]
    for n, name in enumerate(["PhotoSite", "VideoSite"]):
        bank.partner_feedback_record(
            partner=bank.partner_create(name=name),
            items=[
                bank.FeedbackItem(fingerprint_id=fingerprint.public_id, outcome="false_match", idempotency_key=f"{n}")
            ],
        )

    page.goto(live_server.url + "/caseworkers/sign-in/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(code_for(staff))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/staff/review/")
    item = page.locator(f'[data-held="{fingerprint.public_id}"]')
    assert "2 partners reported a false match" in item.inner_text()
    assert_no_axe_violations(page, "review queue")
    shots = tmp_path / "shots"
    shots.mkdir()
    shoot(page, shots, "12-review-queue")
    item.get_by_label("Remove it from the feed").check()
    item.get_by_label("Reason (recorded)").fill("Both reports checked: a different photo.")
    item.get_by_role("button", name="Record decision").click()
    page.wait_for_url("**/staff/review/")
    assert "Nothing is waiting for review." in page.content()
    assert_no_axe_violations(page, "review queue, empty")
    review = FingerprintReview.objects.get(fingerprint=fingerprint, action="removed")
    assert (review.reviewer_name, review.reason) == ("ops", "Both reports checked: a different photo.")
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
    if os.environ.get("CASEWORKER_SCREENSHOTS"):
        shutil.copy(shots / "12-review-queue.png", ROOT / "docs" / "caseworkers" / "12-review-queue.png")


def test_a_caseworker_works_in_arabic_right_to_left(live_server, recorded_page, transactional_db):
    """The language switch on the sign-in page turns the staff pages Arabic and right to left:
    signed in, the case list, a case with a note and its timeline, and the account page are
    translated, mirrored (the note's bar on the right, no sideways scrolling) and axe-clean."""
    page = recorded_page.page
    base = live_server.url
    lead = member(organisation("North Helpline"), "lena", Role.LEAD)
    assisted = assisted_case(lead).assisted_case
    services.note_add(membership=lead, assisted_case=assisted, text="Client present, calm.")

    def check(label: str) -> None:
        page.wait_for_load_state("networkidle")
        assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
        # Mirrored, not pushed off the edge: nothing makes an Arabic page scroll sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), label
        assert_no_axe_violations(page, label)

    page.goto(base + "/caseworkers/sign-in/")
    page.locator("#language-select").select_option("ar")
    with page.expect_navigation():
        page.get_by_role("button", name="Change").click()
    assert page.get_by_role("heading", level=1).inner_text() == "تسجيل دخول موظفي خطوط المساعدة"
    check("sign-in, Arabic")
    page.locator("#id_username").fill("lena")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="متابعة").click()
    page.wait_for_url("**/sign-in/code/")
    page.get_by_label("الرمز").fill(code_for(lead.user))
    page.get_by_role("button", name="تسجيل الدخول").click()
    page.wait_for_url("**/caseworkers/")
    assert page.get_by_role("heading", level=1).inner_text() == "North Helpline: الحالات المفتوحة بمساعدتكم"
    check("cases, Arabic")

    page.locator(f'[data-case-row="{assisted.public_id}"]').get_by_role("link").click()
    page.wait_for_url(f"**/caseworkers/cases/{assisted.public_id}/")
    assert "استلام البصمات" in page.locator(".cw-timeline").inner_text()
    note = page.locator("[data-note]")
    widths = note.evaluate("(el) => [getComputedStyle(el).borderRightWidth, getComputedStyle(el).borderLeftWidth]")
    assert widths == ["3px", "0px"], widths
    check("case, Arabic")

    page.get_by_role("link", name="حسابك").click()
    page.wait_for_url("**/caseworkers/account/")
    assert "رموز الاسترداد المتبقية" in page.content()
    check("account, Arabic")
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
