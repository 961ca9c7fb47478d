"""The matcher's query variants (hashbank.platform.variants): an upload with a caption bar, inside
a screenshot's frame or under an opaque sticker is matched against what the browser submitted
for the photo, where its plain (and dihedral) PDQs are not; an unedited photo gets no bar variants.

The survivor's side is the browser's own code (static/fingerprint/, run under Node on the same
pixels), so these tests hold the two halves of the design together: the variants cut an upload
to exactly the one-sided crops the browser fingerprints."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from hashbank.fingerprints.pdq import PDQ
from hashbank.platform import variants
from hashbank.platform.index import PDQIndex
from hashbank.platform.matcher import VARIANTS, ImageHashes, hash_image, match_files, match_hashes
from tests.browser import fingerprint_corpus as corpus
from tests.conftest import ROOT

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")

_NODE = """
import { readFileSync } from 'node:fs';
import { fingerprintPixels } from '%(pixels)s';
import { imageSignals } from '%(signals)s';
const [path, width, height] = process.argv.slice(1);
const data = new Uint8ClampedArray(readFileSync(path));
const r = fingerprintPixels({ width: +width, height: +height, data });
process.stdout.write(JSON.stringify(imageSignals({ ...r, md5: 'x', sha256: 'y' })));
"""


def browser_pdqs(image: Image.Image, tmp_path: Path) -> list[str]:
    """The PDQ values the browser submits for these pixels (static/fingerprint/signals.js)."""
    rgba = np.asarray(image.convert("RGBA"))
    raw = tmp_path / "pixels.rgba"
    raw.write_bytes(rgba.tobytes())
    script = _NODE % {
        "pixels": (ROOT / "static/fingerprint/pixels.js").as_uri(),
        "signals": (ROOT / "static/fingerprint/signals.js").as_uri(),
    }
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script, str(raw), str(image.width), str(image.height)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [s["value"] for s in json.loads(out) if s["type"] == "pdq"]


def caption_bar(image: Image.Image, share: float = 0.12) -> Image.Image:
    """A black bar with white caption text over the bottom `share` of the photo."""
    out = image.convert("RGB").copy()
    w, h = out.size
    bar = round(h * share)
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, h - bar, w, h), fill=(0, 0, 0))
    draw.text((w // 10, h - bar + bar // 4), "when you finally get the weekend off",
              font=ImageFont.load_default(size=max(8, bar // 2)), fill=(240, 240, 240))
    return out


def screenshot(image: Image.Image) -> Image.Image:
    """The photo in a phone screenshot: a white canvas 1.25x its width, a grey status bar with
    the time, the photo scaled to the width, a line of text under it."""
    w, h = image.size
    cw = round(w * 1.25)
    ch = round(cw * 19.5 / 9)
    canvas = Image.new("RGB", (cw, ch), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, cw, cw // 14), fill=(246, 246, 246))
    draw.text((cw // 25, cw // 80), "9:41", font=ImageFont.load_default(size=cw // 24), fill=(30, 30, 30))
    photo = image.convert("RGB").resize((cw, round(h * cw / w)), Image.Resampling.BILINEAR)
    top = cw // 5
    canvas.paste(photo, (0, top))
    draw.text((cw // 25, top + photo.height + cw // 30), "someone_42 nobody irl lol",
              font=ImageFont.load_default(size=cw // 26), fill=(30, 30, 30))
    return canvas


def sticker(image: Image.Image, share: float = 0.15) -> Image.Image:
    """An opaque square sticker (a colour with a disc of another in it) at the centre."""
    out = image.convert("RGB").copy()
    w, h = out.size
    s = round(min(w, h) * share)
    x0, y0 = w // 2 - s // 2, h // 2 - s // 2
    draw = ImageDraw.Draw(out)
    draw.rectangle((x0, y0, x0 + s - 1, y0 + s - 1), fill=(230, 40, 120))
    r = s * 0.3
    draw.ellipse((w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r), fill=(25, 215, 135))
    return out


def nearest(submitted: list[str], query: str) -> int:
    return min(PDQ.distance(s, query) for s in submitted)


def test_side_cuts_are_the_browsers():
    text = (ROOT / "static/fingerprint/pdq.js").read_text()
    found = re.search(r"export const SIDE_CUTS = Object\.freeze\(\[([^\]]*)\]\)", text)
    assert found is not None
    assert tuple(float(v) for v in found.group(1).split(",")) == variants.SIDE_CUTS
    sides = re.search(r"export const CROP_SIDES = Object\.freeze\(\[([^\]]*)\]\)", text)
    assert tuple(v.strip().strip("'") for v in sides.group(1).split(",")) == variants.SIDES


@pytest.mark.parametrize("name", PHOTOS)
def test_an_unedited_photo_gets_no_bar_variants(name):
    """No bar or frame, nothing trimmed. (A photo may have a flat patch that looks like a
    sticker, coffee.png's does: its fill is one more query, whose false matches the recall
    bench counts.)"""
    rgb = np.asarray(corpus.photo(name).convert("RGB"))
    assert variants.content_box(rgb) is None
    assert [v.name for v in variants.query_variants(rgb)] in ([], ["stickers_filled"])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [(caption_bar, "cut_bottom_20"), (screenshot, "trimmed"), (sticker, "stickers_filled")],
)
@pytest.mark.parametrize("name", PHOTOS)
def test_an_edited_copy_is_matched_through_its_variant(tmp_path, name, edit, expected):
    photo = corpus.photo(name).convert("RGB")
    submitted = browser_pdqs(photo, tmp_path)
    copy = np.asarray(edit(photo))
    if edit is screenshot:
        # The copy's own (dihedral) PDQs are all far from every submitted one: only the variant
        # matches. (Caption bars and stickers are often matched already by the one-sided and
        # centre crops the browser submits; bench/recall_table.py has the shares.)
        plain, _ = PDQ.hash_pixels_dihedral(copy)
        assert min(nearest(submitted, q) for q in plain) > PDQ.threshold
    found = {v.name: v for v in variants.query_variants(copy)}
    assert expected in found, (name, sorted(found))
    assert nearest(submitted, found[expected].hash) <= PDQ.threshold, (name, expected)


def test_a_caption_bar_is_cut_to_the_submitted_crop():
    """The caption variant is exactly the upload with its bottom 20% cut off (the browser's
    sideCropBox rounding), so it shows the part of the photo the browser fingerprinted."""
    rgb = np.asarray(caption_bar(corpus.photo("coffee.png")))
    h = rgb.shape[0]
    cut = {v.name: v for v in variants.query_variants(rgb)}["cut_bottom_20"]
    assert cut.hash == PDQ.hash_pixels(rgb[: h - int(h * 0.2 + 0.5)])[0]


def test_a_large_upload_is_worked_on_a_small_copy():
    photo = corpus.photo("astronaut.png").convert("RGB")
    big = np.asarray(caption_bar(photo.resize((3000, 3000), Image.Resampling.BICUBIC)))
    work = variants.working_copy(big)
    assert max(work.shape[:2]) == variants.WORK_SIDE < 3000
    assert variants.query_variants(big) == variants.query_variants(work)
    assert variants.working_copy(np.asarray(photo)) is not None
    assert variants.working_copy(np.asarray(photo)).shape == np.asarray(photo).shape


def test_a_flat_picture_is_not_trimmed_away():
    """A mostly flat upload (a line of text on white) has no content box and no sticker."""
    page = Image.new("RGB", (400, 300), (255, 255, 255))
    ImageDraw.Draw(page).text((20, 140), "nothing to see here", fill=(0, 0, 0))
    assert variants.content_box(np.asarray(page)) is None
    assert variants.query_variants(np.asarray(page)) == []


def test_the_matcher_finds_the_copy_by_its_variant_and_names_it(tmp_path):
    photo = corpus.photo("chelsea.png").convert("RGB")
    index = PDQIndex.build([(value, f"fp{i}") for i, value in enumerate(browser_pdqs(photo, tmp_path))],
                           backend="numpy")
    path = tmp_path / "upload.png"
    screenshot(photo).save(path)
    [result] = match_files(index, [path])
    assert result.matches, result
    assert result.matches[0].variant == "trimmed"
    assert result.as_dict()["matches"][0]["variant"] == "trimmed"
    # The dihedral queries alone miss it: the variant is what finds it.
    assert match_hashes(index, [hash_image(path, variants=False)]) == [[]]


def test_a_variant_under_the_quality_floor_is_not_looked_up():
    low = variants.Variant("stickers_filled", "f" * 32 + "0" * 32, 10)
    image = ImageHashes(tuple(["a" * 64] * len(VARIANTS)), 90, (low,))
    assert [name for name, _ in image.queries()] == list(VARIANTS)
    index = PDQIndex.build([(low.hash, "flat")], backend="numpy")
    assert match_hashes(index, [image]) == [[]]
