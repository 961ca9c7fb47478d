"""Without JavaScript: the fingerprinting page explains why it needs JavaScript (and shows no
controls that cannot work), and checking, withdrawing and deleting a case still work."""

from __future__ import annotations

import pytest

from hashbank.models import Case, CaseFile
from tests.browser.axe import assert_no_axe_violations
from tests.survivor_helpers import make_case

pytestmark = pytest.mark.browser


def test_without_javascript_status_and_withdrawal_still_work(live_server, browser, transactional_db):
    receipt = make_case(files=2)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/start/")
        page.get_by_label("18 or over").check()
        page.get_by_label("I am the person in the images").check()
        page.get_by_label("I agree that fingerprints").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/start/files/")
        assert page.get_by_role("heading", name="This step needs JavaScript").is_visible()
        notice = page.locator(".notice")
        assert notice.is_visible() and "your images never have to be sent anywhere" in notice.inner_text()
        assert not page.get_by_role("button", name="Make fingerprints").is_visible()
        page.get_by_role("link", name="Check your case").last.click()

        page.wait_for_url("**/case/")
        page.get_by_label("Case number").fill(receipt.reference)
        page.get_by_label("PIN").fill(receipt.pin)
        page.get_by_role("button", name="Open my case").click()
        page.wait_for_url("**/case/status/")
        assert "We received the fingerprints of 2 files." in page.content()

        page.get_by_role("link", name="Withdraw file 2").click()
        page.get_by_role("button", name="Yes, withdraw this file").click()
        page.wait_for_url("**/case/status/")
        assert "You withdrew one file." in page.content()

        page.get_by_role("link", name="Withdraw the whole case").click()
        page.get_by_role("button", name="Yes, withdraw the case").click()
        page.wait_for_url("**/case/status/")
        assert "You withdrew the case." in page.content()
        assert set(CaseFile.objects.filter(case=receipt.case).values_list("status", flat=True)) == {"withdrawn"}

        page.get_by_role("link", name="Delete the case").click()
        page.get_by_role("button", name="Yes, delete the case").click()
        assert page.get_by_role("heading", name="Your case was deleted").is_visible()
        assert Case.objects.get(pk=receipt.case.pk).status == Case.Status.DELETED
    finally:
        context.close()


def test_the_confirmation_and_limit_pages_are_accessible(live_server, recorded_page, transactional_db):
    """Pages the main journey does not pass through: withdraw-all, delete, try later, under 18."""
    page = recorded_page.page
    receipt = make_case(files=1)
    page.goto(live_server.url + "/start/")
    page.get_by_label("Under 18").check()
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("link", name="Go to Take It Down").get_attribute("href") == "https://takeitdown.ncmec.org/"
    assert_no_axe_violations(page, "under 18")

    page.goto(live_server.url + "/start/")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("alert").is_visible()
    assert_no_axe_violations(page, "eligibility with errors")

    page.goto(live_server.url + "/case/")
    page.get_by_label("Case number").fill(receipt.reference)
    page.get_by_label("PIN").fill("000000" if receipt.pin != "000000" else "111111")
    page.get_by_role("button", name="Open my case").click()
    assert page.get_by_role("alert").is_visible()
    assert_no_axe_violations(page, "wrong case number or PIN")

    page.get_by_label("Case number").fill(receipt.reference)
    page.get_by_label("PIN").fill(receipt.pin)
    page.get_by_role("button", name="Open my case").click()
    page.wait_for_url("**/case/status/")
    for link, label in [("Withdraw the whole case", "confirm withdraw"), ("Delete the case", "confirm delete")]:
        page.get_by_role("link", name=link).click()
        assert_no_axe_violations(page, label)
        page.get_by_role("link", name="No, go back to my case").click()
    page.get_by_role("link", name="Delete the case").click()
    page.get_by_role("button", name="Yes, delete the case").click()
    assert_no_axe_violations(page, "deleted")
    assert recorded_page.console_errors == [] and recorded_page.page_errors == []
