"""Helpers for the survivor journey browser tests: real photographs from scikit-image saved as
JPEG files with EXIF (so a leak of names, bytes or metadata would be visible), and the steps
of the journey as a person would take them."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"]
#: Text put into each file's EXIF: it must never appear in any request.
EXIF_MARKER = "ExifOwner-Jordan-7f3a9c"


@dataclass(frozen=True)
class JourneyFile:
    path: Path
    name: str
    data: bytes


def make_photos(directory: Path, count: int = 4) -> list[JourneyFile]:
    import skimage

    source = Path(skimage.__file__).parent / "data"
    files = []
    for index, name in enumerate(PHOTOS[:count]):
        image = Image.open(source / name).convert("RGB")
        exif = Image.Exif()
        exif[0x013B] = EXIF_MARKER  # Artist
        exif[0x010F] = "MarkerCam"  # Make
        exif[0x010E] = f"private description {index}"  # ImageDescription
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=88, exif=exif.tobytes())
        file_name = f"private-{index}-{Path(name).stem}-IMG_90{index}1.jpg"
        path = directory / file_name
        path.write_bytes(buffer.getvalue())
        files.append(JourneyFile(path=path, name=file_name, data=buffer.getvalue()))
    return files


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


# --- The journey, step by step --------------------------------------------------------------

SHOT_STEPS: list[str] = []


def shoot(page, directory: Path | None, name: str) -> None:
    """A full-page PNG, reduced to a small palette so the committed images stay small."""
    if directory is None:
        return
    png = page.screenshot(full_page=True, animations="disabled")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(directory / f"{name}.png", optimize=True)


@dataclass
class JourneyRun:
    reference: str = ""
    pin: str = ""
    saved_text: str = ""
    #: With receipt_files: what the receipt and the added step listed, and their pictures.
    listed: list[str] = field(default_factory=list)
    thumbnails: list[dict] = field(default_factory=list)


#: Each picture of the receipt's list as a PNG data URL and as raw RGBA bytes (base64), read
#: through the browser's debugging protocol: neither may ever appear in a request.
THUMBNAILS = """() => Array.from(document.querySelectorAll('[data-receipt-files] canvas'), (c) => {
  const rgba = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (const b of rgba) s += String.fromCharCode(b);
  return { width: c.width, height: c.height, png: c.toDataURL('image/png'), rgba: btoa(s) };
})"""


def list_files_on_receipt(page, run: JourneyRun, count: int) -> None:
    """Tick "Add file names and tiny blurred pictures to my receipt" and wait for the pictures."""
    page.get_by_label("Add file names and tiny blurred pictures to my receipt").check()
    page.locator("[data-receipt-files] li[data-thumbnail]").nth(count - 1).wait_for()
    items = page.locator("[data-receipt-files] li")
    assert items.count() == count
    run.listed += [" ".join(items.nth(i).inner_text().split()) for i in range(count)]
    run.thumbnails += page.evaluate(THUMBNAILS)


def run_journey(page, base_url: str, files: list[JourneyFile], *, check=None, shots: Path | None = None,
                prefix: str = "", receipt_files: bool = False) -> JourneyRun:
    """Eligibility, three files, fingerprinting, submitting, the receipt, opening the case,
    adding a file and withdrawing one. `check(page, label)` runs on every page (axe, layout).
    With `receipt_files` the receipt and the added step list the files' names and pictures."""
    check = check or (lambda page, label: None)
    run = JourneyRun()

    page.goto(base_url + "/")
    check(page, "start")
    shoot(page, shots, f"{prefix}01-start")
    page.get_by_role("link", name="Start", exact=True).click()

    page.wait_for_url("**/start/")
    check(page, "eligibility")
    shoot(page, shots, f"{prefix}02-eligibility")
    page.get_by_label("18 or over").check()
    page.get_by_label("I am the person in the images").check()
    page.get_by_label("I agree that fingerprints").check()
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url("**/start/files/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    check(page, "choose files (empty)")
    page.locator("[data-flow-input]").set_input_files([f.path for f in files[:3]])
    page.locator("[data-flow-list] li").nth(2).wait_for()
    assert page.locator("[data-flow-list] .fp-blurred").count() == 3
    page.get_by_role("button", name="Show preview: File 1 (Photo)").click()
    assert page.locator("[data-flow-list] .fp-blurred").count() == 2
    check(page, "choose files")
    shoot(page, shots, f"{prefix}03-choose-files")
    page.get_by_role("button", name="Make fingerprints").click()

    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=60_000)
    review = page.locator("[data-flow-review-list]").inner_text()
    assert "Could not be fingerprinted" not in review, review
    check(page, "review")
    shoot(page, shots, f"{prefix}04-review")
    page.get_by_role("button", name="Send fingerprints").click()

    page.locator('[data-flow-step="receipt"]:not([hidden])').wait_for()
    # The title follows the step: the receipt is not announced as "Make fingerprints".
    receipt_heading = page.locator("#fp-receipt-title").inner_text().strip()
    assert page.title().startswith(receipt_heading + " \u2013 "), (page.title(), receipt_heading)  # an en dash
    run.reference = page.locator("[data-receipt-reference]").inner_text().strip()
    run.pin = page.locator("[data-receipt-pin]").inner_text().strip()
    if receipt_files:
        list_files_on_receipt(page, run, 3)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Save as a text file").click()
    run.saved_text = Path(download_info.value.path()).read_text(encoding="utf-8")
    check(page, "receipt")
    shoot(page, shots, f"{prefix}05-receipt")
    page.get_by_role("link", name="Check your case").last.click()

    page.wait_for_url("**/case/")
    check(page, "open case")
    page.get_by_label("Case number").fill(run.reference)
    page.get_by_label("PIN").fill(run.pin)
    shoot(page, shots, f"{prefix}06-open-case")
    page.get_by_role("button", name="Open my case").click()

    page.wait_for_url("**/case/status/")
    check(page, "status")
    shoot(page, shots, f"{prefix}07-status")
    page.get_by_role("link", name="Add more files").click()

    page.wait_for_url("**/case/add/")
    page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
    page.locator("[data-flow-input]").set_input_files([files[3].path])
    page.get_by_role("button", name="Make fingerprints").click()
    page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=60_000)
    check(page, "add: review")
    shoot(page, shots, f"{prefix}08-add-review")
    page.get_by_role("button", name="Send fingerprints").click()

    added = page.locator('[data-flow-step="added"]:not([hidden])')
    added.wait_for()
    if receipt_files:
        list_files_on_receipt(page, run, 1)
    check(page, "add: added")
    added.get_by_role("link", name="Back to your case").click()
    page.wait_for_url("**/case/status/")
    page.get_by_role("link", name="Withdraw file 1").click()
    page.wait_for_url("**/withdraw/")
    check(page, "confirm withdrawal")
    shoot(page, shots, f"{prefix}09-confirm-withdraw")
    page.get_by_role("button", name="Yes, withdraw this file").click()
    page.wait_for_url("**/case/status/")
    check(page, "status after withdrawal")
    shoot(page, shots, f"{prefix}10-status-withdrawn")
    return run
