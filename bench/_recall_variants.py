"""Edits, submission schemes and query-side variants for bench/recall_table.py.

Three parts, each a plain function of pixels (no state, no randomness that is not seeded by the
image's name), so that the browser engine and the matcher can reproduce them exactly:

* edits: what abusers and platforms do to a copy (one-sided crops, caption bars, screenshot
  frames, stickers, mirror + crop + re-compression);
* submission: the crop PDQs the browser submits (`browser_crop_pdqs`, the shipped
  static/fingerprint/pdq.js run under Node);
* query side: hashbank.platform.variants, the matcher's own (imported as `variants`).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hashbank.platform import variants  # noqa: E402

#: Mirror (Pillow's FLIP_LEFT_RIGHT) among pdqhash.compute_dihedral's eight variants
#: (original, rot90, rot180, rot270, flipX, flipY, flip+1, flip-1): its "flipY".
MIRROR = 5
SIDES = variants.SIDES

# --- hashes --------------------------------------------------------------------------------


def bits_to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2)


def rgb_array(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def pdq_of(rgb: np.ndarray) -> tuple[int, int]:
    """(hash, quality) as pdqhash.compute gives them (what HMA and python-threatexchange run)."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return bits_to_int(bits), int(quality)


def dihedral_of(rgb: np.ndarray) -> tuple[list[int], int]:
    variants, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [bits_to_int(v) for v in variants], int(quality)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def seeded(name: str, salt: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{name}/{salt}".encode()))


# --- boxes ---------------------------------------------------------------------------------


def side_box(width: int, height: int, side: str, amount: float) -> tuple[int, int, int, int]:
    """The box [x0, y0, x1, y1) left after cutting `amount` of the width (left, right) or the
    height (top, bottom) off one side (round(size * amount) pixels, halves up, as pdq.js)."""
    return variants.side_box(width, height, side, amount)


def side_boxes(width: int, height: int, amounts: Iterable[float]) -> list[tuple[str, float, tuple[int, int, int, int]]]:
    """(side, amount, box) for every side and amount, amounts outer, sides in SIDES order."""
    return [(side, a, side_box(width, height, side, a)) for a in amounts for side in SIDES]


def crop_side(image: Image.Image, side: str, amount: float) -> Image.Image:
    return image.crop(side_box(image.width, image.height, side, amount))


# --- edits ---------------------------------------------------------------------------------

_WORDS = (
    "when",
    "you",
    "finally",
    "get",
    "the",
    "weekend",
    "off",
    "me",
    "irl",
    "lol",
    "this",
    "is",
    "fine",
    "nobody",
    "literally",
    "every",
    "time",
    "monday",
    "mood",
    "cannot",
    "even",
    "right",
    "now",
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def caption_bar(image: Image.Image, name: str, share: float = 0.12) -> Image.Image:
    """A solid bar over the bottom `share` of the height with a line of caption text on it (the
    photo's bottom is covered, the size is unchanged): white with black text or black with
    white, chosen per image."""
    out = image.convert("RGB").copy()
    rng = seeded(name, "caption")
    w, h = out.size
    bar = max(1, round(h * share))
    light = rng.random() < 0.5
    fill, ink = ((255, 255, 255), (20, 20, 20)) if light else ((0, 0, 0), (240, 240, 240))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, h - bar, w, h), fill=fill)
    text = " ".join(rng.choice(_WORDS, size=int(rng.integers(3, 7))))
    font = _font(int(bar * 0.55))
    box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    while tw > w * 0.92 and font.size > 8:
        font = _font(font.size - 2)
        box = draw.textbbox((0, 0), text, font=font)
        tw, th = box[2] - box[0], box[3] - box[1]
    draw.text(((w - tw) // 2 - box[0], h - bar + (bar - th) // 2 - box[1]), text, font=font, fill=ink)
    return out


def screenshot_frame(image: Image.Image, name: str) -> Image.Image:
    """The photo as a phone screenshot of a social app shows it: a 9:19.5 canvas 1.25x the
    photo's width, a status bar (time, signal, battery), the app's header (avatar, user
    name), the photo scaled to the canvas width, a row of action icons and caption text under
    it, and the navigation bar at the bottom. Light or dark theme per image."""
    rng = seeded(name, "frame")
    w, h = image.size
    cw = max(360, round(w * 1.25))
    ch = round(cw * 19.5 / 9)
    dark = rng.random() < 0.5
    bg, ink, bar_bg = (
        ((0, 0, 0), (235, 235, 235), (18, 18, 18)) if dark else ((255, 255, 255), (30, 30, 30), (246, 246, 246))
    )
    canvas = Image.new("RGB", (cw, ch), bg)
    draw = ImageDraw.Draw(canvas)
    u = cw / 100  # layout unit: 1% of the width
    status = round(7 * u)
    draw.rectangle((0, 0, cw, status), fill=bar_bg)
    draw.text((4 * u, 1.2 * u), "9:41", font=_font(round(4.2 * u)), fill=ink)
    for k in range(4):  # signal bars
        x = cw - 22 * u + k * 2 * u
        draw.rectangle((x, 5.5 * u - (k + 1) * u, x + 1.2 * u, 5.5 * u), fill=ink)
    draw.rectangle((cw - 12 * u, 2 * u, cw - 4 * u, 5.5 * u), outline=ink, width=max(1, round(0.4 * u)))
    draw.rectangle((cw - 11.2 * u, 2.8 * u, cw - 6.5 * u, 4.7 * u), fill=ink)
    header = status + round(12 * u)
    avatar = tuple(int(c) for c in rng.integers(60, 200, 3))
    draw.ellipse((4 * u, status + 2.5 * u, 11 * u, status + 9.5 * u), fill=avatar)
    user = "someone_" + str(int(rng.integers(10, 99)))
    draw.text((14 * u, status + 3.5 * u), user, font=_font(round(4 * u)), fill=ink)
    ph = round(h * cw / w)
    photo = image.convert("RGB").resize((cw, ph), Image.Resampling.BILINEAR)
    top = header + round(1 * u)
    canvas.paste(photo, (0, top))
    y = top + ph + round(3 * u)
    for k in range(3):  # heart, comment, share outlines
        x = 4 * u + k * 10 * u
        draw.ellipse((x, y, x + 6 * u, y + 6 * u), outline=ink, width=max(1, round(0.6 * u)))
    y += round(10 * u)
    for _ in range(2):
        text = " ".join(rng.choice(_WORDS, size=int(rng.integers(4, 8))))
        draw.text((4 * u, y), text, font=_font(round(3.8 * u)), fill=ink)
        y += round(6 * u)
    nav = round(9 * u)
    draw.rectangle((0, ch - nav, cw, ch), fill=bar_bg)
    for k, shape in enumerate(("tri", "circle", "square")):
        cx, cy, r = cw * (0.25 + 0.25 * k), ch - nav / 2, 2.2 * u
        if shape == "tri":
            draw.polygon([(cx + r, cy - r), (cx + r, cy + r), (cx - r, cy)], outline=ink)
        elif shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=max(1, round(0.5 * u)))
        else:
            draw.rectangle((cx - r, cy - r, cx + r, cy + r), outline=ink, width=max(1, round(0.5 * u)))
    return canvas


#: Where the square stickers go (their centres, as fractions of width and height).
STICKER_SPOTS = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75), (0.5, 0.5))


def square_sticker(image: Image.Image, name: str, share: float, spot: tuple[float, float]) -> Image.Image:
    """An opaque square sticker, its side `share` of the shorter side, centred at `spot`: a
    solid colour with a disc of another colour in it (a badge or an emoji's face)."""
    rng = seeded(name, f"sticker{share}{spot}")
    out = image.convert("RGB").copy()
    w, h = out.size
    s = max(2, round(min(w, h) * share))
    cx, cy = round(w * spot[0]), round(h * spot[1])
    x0, y0 = cx - s // 2, cy - s // 2
    draw = ImageDraw.Draw(out)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    disc = tuple(255 - c for c in colour)
    draw.rectangle((x0, y0, x0 + s - 1, y0 + s - 1), fill=colour)
    r = s * 0.3
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=disc)
    return out


def mirror_crop_jpeg(image: Image.Image, side: str, amount: float, quality: int = 75) -> Image.Image:
    """Mirrored, then `amount` cut off one side of the mirrored picture, then re-compressed."""
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return jpeg(crop_side(mirrored, side, amount), quality)


# --- what the browser submits (under Node, static/fingerprint/pdq.js) -----------------------

_NODE = """
import { readFileSync } from 'node:fs';
import { PdqStream, BLOCK_ROWS, pdqLumaFromRGBA } from '%(pdq)s';
const manifest = JSON.parse(readFileSync(process.argv[1], 'utf8'));
const out = manifest.map(({ path, width, height }) => {
  const data = new Uint8Array(readFileSync(path));
  const stream = new PdqStream(width, height);
  const luma = new Float32Array(width * BLOCK_ROWS);
  for (let y = 0; y < height; y += BLOCK_ROWS) {
    const n = Math.min(BLOCK_ROWS, height - y);
    pdqLumaFromRGBA(data, y * width * 4, n * width, luma);
    stream.pushRows(luma, n);
  }
  return stream.finish().crops;
});
process.stdout.write(JSON.stringify(out));
"""


def browser_crop_pdqs(images: list[np.ndarray]) -> list[list[dict]]:
    """For each image (RGB array): the crop PDQs the browser submits, as static/fingerprint/
    pdq.js's PdqStream gives them (the whole image's Jarosz blur sampled on each crop's 64x64
    grid): {crop, pdq, quality} for a centre crop, {side, cut, pdq, mirror, quality} for a
    one-sided one, hashes as ints. Run under Node with the project's own code, on the same
    pixels."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = []
        for i, rgb in enumerate(images):
            path = Path(tmp) / f"{i}.rgba"
            rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
            path.write_bytes(np.ascontiguousarray(rgba).tobytes())
            manifest.append({"path": str(path), "width": rgb.shape[1], "height": rgb.shape[0]})
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        script = _NODE % {"pdq": (ROOT / "static/fingerprint/pdq.js").as_uri()}
        out = subprocess.run(
            ["node", "--input-type=module", "-e", script, str(Path(tmp) / "manifest.json")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rows = json.loads(out)
    for row in rows:
        for c in row:
            c["pdq"] = int(c["pdq"], 16)
            if "mirror" in c:
                c["mirror"] = int(c["mirror"], 16)
    return rows


# --- query side: bars, frames and stickers on the upload -------------------------------------
# The matcher's own (hashbank.platform.variants): what this bench measures is what ships.
