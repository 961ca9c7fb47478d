"""The receipt can help withdraw one file: if the person ticks "Add file names and tiny blurred
pictures to my receipt" (unticked by default), the receipt lists each file's number, as the
case page will show it, with its name and a tiny, heavily blurred picture drawn on this device;
the copied and saved text list "File 1: name.jpg". The numbers are the server's: files are
numbered in the order they are sent, and a file removed or not fingerprinted gets none. On the
add page the new files continue the case's numbers, and the same list is offered.

In the flow itself names are hidden: a file is "File 1 (Photo)" until the person chooses to see
its preview, which shows the name with it. (That nothing of this is sent is proved by
test_journey_privacy.py.)"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashbank.models import CaseFile, Fingerprint
from hashbank.selectors import case_open
from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import THUMBNAILS, make_photos, no_horizontal_scroll
from tests.survivor_helpers import make_case

pytestmark = pytest.mark.browser

OPTION = "Add file names and tiny blurred pictures to my receipt"


def consent(page, base_url: str) -> None:
    page.goto(base_url + "/start/")
    page.get_by_label("18 or over").check()
    page.get_by_label("I am the person in the images").check()
    page.get_by_label("I agree that fingerprints").check()
    page.get_by_role("button", name="Continue").click()
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()


def labels(page, where: str) -> list[str]:
    selector = {"choose": "[data-flow-list] [data-item-name]", "review": "[data-flow-review-list] .fp-review-title"}
    return [text.strip() for text in page.locator(selector[where]).all_inner_texts()]


def fingerprint(page) -> None:
    page.get_by_role("button", name="Make fingerprints").click()
    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=60_000)


def tick_and_wait(page, count: int) -> list[str]:
    page.get_by_label(OPTION).check()
    page.locator("[data-receipt-files] li[data-thumbnail]").nth(count - 1).wait_for()
    items = page.locator("[data-receipt-files] li")
    assert items.count() == count
    # Accessible with the list shown, and long names wrap on a small phone.
    assert_no_axe_violations(page, "receipt with the files listed")
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    assert no_horizontal_scroll(page)
    page.set_viewport_size(size)
    return [" ".join(items.nth(i).inner_text().split()) for i in range(count)]


def saved_text(page) -> str:
    with page.expect_download() as download:
        page.get_by_role("button", name="Save as a text file").click()
    return Path(download.value.path()).read_text(encoding="utf-8")


def copied_text(page) -> str:
    page.get_by_role("button", name="Copy").click()
    page.wait_for_function("() => document.querySelector('[data-flow-status]').textContent === 'Copied.'")
    return page.evaluate("navigator.clipboard.readText()")


def md5_of_case_file(case_file: CaseFile) -> str:
    return Fingerprint.objects.get(case_file=case_file, signal_type="md5").value


def case_files(case) -> list[CaseFile]:
    return list(CaseFile.objects.filter(case=case).order_by("added_at", "pk"))


def detail(rgb: np.ndarray) -> float:
    """Fine detail (edges, texture): the mean size of the Laplacian, which blurring takes away."""
    p = rgb.astype(float)
    laplacian = 4 * p[1:-1, 1:-1] - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
    return float(np.abs(laplacian).mean())


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    yield context
    context.close()


def test_the_receipt_can_list_names_and_blurred_pictures_by_the_servers_numbers(live_server, context, tmp_path,
                                                                               transactional_db):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    photos = make_photos(tmp_path, count=3)
    broken = tmp_path / "private-broken-IMG_9999.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"not a photo at all" * 40)
    consent(page, live_server.url)

    # Four chosen, the last one removed: numbers only, no names, until a preview is asked for.
    page.locator("[data-flow-input]").set_input_files([photos[0].path, broken, photos[1].path, photos[2].path])
    page.locator("[data-flow-list] li").nth(3).wait_for()
    page.get_by_role("button", name="Remove: File 4 (Photo)").click()
    assert labels(page, "choose") == ["File 1 (Photo)", "File 2 (Photo)", "File 3 (Photo)"]
    flow_text = page.locator("[data-fingerprint-flow]").inner_text()
    names = [p.name for p in photos] + [broken.name]
    assert [name for name in names if name in flow_text or Path(name).stem in flow_text] == []
    first = page.locator("[data-flow-list] li").first
    page.get_by_role("button", name="Show preview: File 1 (Photo)").click()
    assert first.locator(".fp-blurred").count() == 0
    assert first.locator("[data-item-filename]").inner_text().strip() == photos[0].name
    page.get_by_role("button", name="Hide preview: File 1 (Photo)").click()
    assert first.locator(".fp-blurred").count() == 1 and not first.locator("[data-item-filename]").is_visible()
    assert photos[0].name not in page.locator("[data-fingerprint-flow]").inner_text()

    # The broken file is not sent, so it has no number and the next one moves up, here and
    # back on the first step, as on the case page.
    fingerprint(page)
    assert labels(page, "review") == ["File 1 (Photo)", "Not sent (Photo)", "File 2 (Photo)"]
    assert "Could not be fingerprinted" in page.locator("[data-flow-review-list] > li").nth(1).inner_text()
    page.get_by_role("button", name="Go back").click()
    assert labels(page, "choose") == ["File 1 (Photo)", "Not sent (Photo)", "File 2 (Photo)"]
    fingerprint(page)
    page.get_by_role("button", name="Send fingerprints").click()
    page.locator('[data-flow-step="receipt"]:not([hidden])').wait_for()
    reference = page.locator("[data-receipt-reference]").inner_text().strip()
    pin = page.locator("[data-receipt-pin]").inner_text().strip()

    # Unticked at first: nothing about the files on the receipt, in print or in the text.
    option = page.get_by_label(OPTION)
    assert not option.is_checked()
    assert "never sent" in page.locator("#fp-receipt-files-hint").inner_text()
    assert not page.locator("[data-receipt-files]").is_visible()
    plain = saved_text(page)
    assert "File 1" not in plain and photos[0].name not in plain and reference in plain and pin in plain
    assert copied_text(page) == plain

    # Ticked: number, name and picture, in the server's order.
    assert tick_and_wait(page, 2) == [f"File 1 {photos[0].name}", f"File 2 {photos[1].name}"]
    case = case_open(reference=reference, pin=pin)
    stored = case_files(case)
    assert len(stored) == 2
    assert [md5_of_case_file(f) for f in stored] == [hashlib.md5(p.data).hexdigest() for p in photos[:2]]
    listed = saved_text(page)
    assert f"File 1: {photos[0].name}\nFile 2: {photos[1].name}\n" in listed
    assert reference in listed and pin in listed and "data:" not in listed and broken.name not in listed
    assert copied_text(page) == listed

    # The pictures: at most 32 pixels, drawn from the photo, and blurred far beyond a plain
    # shrink of it to the same size.
    pictures = page.evaluate(THUMBNAILS)
    assert len(pictures) == 2
    for picture, photo in zip(pictures, photos, strict=False):
        assert max(picture["width"], picture["height"]) <= 32
        rgba = np.frombuffer(base64.b64decode(picture["rgba"]), dtype=np.uint8)
        drawn = rgba.reshape(picture["height"], picture["width"], 4)[1:-1, 1:-1, :3]  # inside the blurred rim
        sharp = np.asarray(Image.open(photo.path).convert("RGB").resize((picture["width"], picture["height"]),
                                                                         Image.Resampling.BOX))[1:-1, 1:-1]
        assert drawn.std() > 5  # a picture, not a blank
        assert abs(drawn.mean() - sharp.mean()) < 40  # of this photo's colours
        assert detail(drawn) < 0.2 * detail(sharp)

    # Printed: the list is on the paper, the option and the buttons are not; unticked, no list.
    page.emulate_media(media="print")
    assert page.locator("[data-receipt-files]").is_visible()
    assert page.locator("[data-receipt-files] canvas").first.is_visible()
    assert not page.locator(".receipt-files-option").is_visible()
    assert not page.get_by_role("button", name="Print").is_visible()
    page.emulate_media(media="screen")
    option.uncheck()
    assert not page.locator("[data-receipt-files]").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("[data-receipt-files]").is_visible()
    page.emulate_media(media="screen")
    assert photos[0].name not in saved_text(page)
    assert errors == []


def test_files_added_later_continue_the_cases_numbers(live_server, context, tmp_path, transactional_db):
    page = context.new_page()
    photos = make_photos(tmp_path, count=2)
    receipt = make_case(files=2)
    page.goto(live_server.url + "/case/")
    page.get_by_label("Case number").fill(receipt.reference)
    page.get_by_label("PIN").fill(receipt.pin)
    page.get_by_role("button", name="Open my case").click()
    page.wait_for_url("**/case/status/")
    page.get_by_role("link", name="Add more files").click()
    page.wait_for_url("**/case/add/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()

    page.locator("[data-flow-input]").set_input_files([p.path for p in photos])
    page.locator("[data-flow-list] li").nth(1).wait_for()
    assert labels(page, "choose") == ["File 3 (Photo)", "File 4 (Photo)"]
    fingerprint(page)
    assert labels(page, "review") == ["File 3 (Photo)", "File 4 (Photo)"]
    page.get_by_role("button", name="Send fingerprints").click()

    added = page.locator('[data-flow-step="added"]:not([hidden])')
    added.wait_for()
    assert page.title().startswith("Your files were added \u2013 ")
    assert not page.get_by_label(OPTION).is_checked() and not page.locator("[data-receipt-files]").is_visible()
    assert saved_text(page) == "Files added to your case:\nFile 3\nFile 4\n"
    assert tick_and_wait(page, 2) == [f"File 3 {photos[0].name}", f"File 4 {photos[1].name}"]
    assert saved_text(page) == f"Files added to your case:\nFile 3: {photos[0].name}\nFile 4: {photos[1].name}\n"
    stored = case_files(receipt.case)
    assert [md5_of_case_file(f) for f in stored[2:]] == [hashlib.md5(p.data).hexdigest() for p in photos]

    added.get_by_role("link", name="Back to your case").click()
    page.wait_for_url("**/case/status/")
    assert page.get_by_role("link", name="Withdraw file 4").count() == 1
