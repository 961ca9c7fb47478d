"""Fingerprinting shows progress per file and overall, and can be stopped: stopping sends
nothing and keeps the chosen files, ready to start again."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.browser.axe import assert_no_axe_violations
from tests.browser.journey import make_photos

pytestmark = pytest.mark.browser


def big_photo(path, source) -> None:
    """A large (24 megapixel) photograph, so fingerprinting takes long enough to watch."""
    tile = Image.open(source).convert("RGB").resize((1500, 1000))
    canvas = Image.new("RGB", (6000, 4000))
    for x in range(0, 6000, 1500):
        for y in range(0, 4000, 1000):
            canvas.paste(tile, (x, y))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=90)
    path.write_bytes(buffer.getvalue())


def test_progress_is_shown_and_stopping_sends_nothing(live_server, recorded_page, tmp_path, transactional_db):
    page = recorded_page.page
    photos = make_photos(tmp_path)
    big = [tmp_path / f"big-{i}.jpg" for i in range(3)]
    for path, photo in zip(big, photos, strict=False):
        big_photo(path, photo.path)
    page.goto(live_server.url + "/start/")
    page.get_by_label("18 or over").check()
    page.get_by_label("I am the person in the images").check()
    page.get_by_label("I agree that fingerprints").check()
    page.get_by_role("button", name="Continue").click()
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    page.locator("[data-flow-input]").set_input_files(big)
    page.get_by_role("button", name="Make fingerprints").click()

    progress = page.locator('[data-flow-step="progress"]')
    progress.wait_for()
    assert page.locator("[data-flow-progress-list] progress").count() == 3  # one bar per file
    assert page.get_by_label("All files").count() == 1  # and one overall
    assert "of 3 files done" in page.locator("[data-flow-overall-text]").inner_text()
    assert_no_axe_violations(page, "progress")
    page.get_by_role("button", name="Stop").click()

    page.locator('[data-flow-step="choose"]:not([hidden])').wait_for()
    assert page.locator("[data-flow-list] li").count() == 3
    page.wait_for_function("() => document.querySelector('[data-flow-status]').textContent.includes('Stopped')")
    assert [r.url for r in recorded_page.requests if r.method == "POST" and "/api/" in r.url] == []

    # Starting again from the same files works to the end.
    page.get_by_role("button", name="Make fingerprints").click()
    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=120_000)
    assert "Could not be fingerprinted" not in page.locator("[data-flow-review-list]").inner_text()
    assert recorded_page.page_errors == []
