"""Edits, submission schemes and query-side variants for bench/recall_table.py.

Three parts, each a plain function of pixels (no state, no randomness that is not seeded by the
image's name), so that the browser engine and the matcher can reproduce them exactly:

* edits: what abusers and platforms do to a copy (one-sided crops, caption bars, screenshot
  frames, stickers, mirror + crop + re-compression);
* submission: the boxes whose PDQ is submitted besides the whole image's (`side_boxes`), and
  the two ways of computing them (pdqhash on the cropped pixels, or the browser's cheap way of
  sampling the whole image's blur on the box, run under Node with static/fingerprint/pdq.js);
* query side: what our matcher could compute on a platform's upload besides its dihedral PDQs
  (`bar_variants`: trim uniform bars and frames; `fill_flat_patches`: paint over opaque
  stickers from their surroundings).
"""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent

#: Mirror (Pillow's FLIP_LEFT_RIGHT) among pdqhash.compute_dihedral's eight variants
#: (original, rot90, rot180, rot270, flipX, flipY, flip+1, flip-1): its "flipY".
MIRROR = 5
SIDES = ("left", "right", "top", "bottom")

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
    height (top, bottom) off one side; the cut is round(size * amount) pixels (round half to
    even, Python's round: the browser must use the same, or pass these boxes)."""
    dx, dy = round(width * amount), round(height * amount)
    return {
        "left": (dx, 0, width, height),
        "right": (0, 0, width - dx, height),
        "top": (0, dy, width, height),
        "bottom": (0, 0, width, height - dy),
    }[side]


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


# --- the browser's cheap crop PDQs (under Node, static/fingerprint/pdq.js) ------------------

_NODE_BOXES = """
import { readFileSync } from 'node:fs';
import { JaroszDownsampler, BLOCK_ROWS, pdqLumaFromRGBA, pdqDct16, dihedralDcts, pdqHexFromDct, pdqQuality }
  from '%(pdq)s';
const manifest = JSON.parse(readFileSync(process.argv[1], 'utf8'));
const out = manifest.map(({ path, width, height, boxes }) => {
  const data = new Uint8Array(readFileSync(path));
  const down = new JaroszDownsampler(width, height, boxes);
  const luma = new Float32Array(width * BLOCK_ROWS);
  for (let y = 0; y < height; y += BLOCK_ROWS) {
    const n = Math.min(BLOCK_ROWS, height - y);
    pdqLumaFromRGBA(data, y * width * 4, n * width, luma);
    down.pushRows(luma, n);
  }
  const [, ...grids] = down.finish();
  return grids.map((a64) => {
    const d = dihedralDcts(pdqDct16(a64));
    return { pdq: pdqHexFromDct(d[0]), mirror: pdqHexFromDct(d[%(mirror)d]), quality: pdqQuality(a64) };
  });
});
process.stdout.write(JSON.stringify(out));
"""


def sampled_box_pdqs(images: list[np.ndarray], boxes: list[list[tuple[int, int, int, int]]]) -> list[list[dict]]:
    """For each image (RGB array) and each of its boxes: the PDQ the browser gets by sampling the
    whole image's Jarosz blur on the box's 64x64 grid (as it computes its centre-crop PDQs
    today), the mirror of that PDQ from the same DCT, and the box's quality. Run under Node with
    the project's own static/fingerprint/pdq.js, on the same pixels."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = []
        for i, (rgb, bx) in enumerate(zip(images, boxes, strict=True)):
            path = Path(tmp) / f"{i}.rgba"
            rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
            path.write_bytes(np.ascontiguousarray(rgba).tobytes())
            manifest.append(
                {"path": str(path), "width": rgb.shape[1], "height": rgb.shape[0], "boxes": [list(b) for b in bx]}
            )
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        script = _NODE_BOXES % {"pdq": (ROOT / "static/fingerprint/pdq.js").as_uri(), "mirror": MIRROR}
        out = subprocess.run(
            ["node", "--input-type=module", "-e", script, str(Path(tmp) / "manifest.json")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return [
        [{"pdq": int(c["pdq"], 16), "mirror": int(c["mirror"], 16), "quality": c["quality"]} for c in row]
        for row in json.loads(out)
    ]


# --- query side: bars, frames and stickers on the upload -------------------------------------

#: A line (row or column) is "flat" when this share of its pixels is within FLAT_TOLERANCE of
#: the line's median luma (0.299 R + 0.587 G + 0.114 B): a bar, a frame's background, a status
#: bar with a few icons. Content starts where an unbroken run of non-flat lines reaches
#: CONTENT_RUN of the dimension.
FLAT_SHARE = 0.95
FLAT_TOLERANCE = 3
CONTENT_RUN = 0.06
#: Bars thinner than this share of the dimension are not trimmed (a hairline is not a bar).
MIN_BAR = 0.02
#: A trim that leaves less than this share of a dimension is refused (a mostly flat picture).
MIN_KEEP = 0.15


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _flat_lines(luma: np.ndarray, axis: int) -> np.ndarray:
    """Per row (axis=1) or column (axis=0) of the luma: is the line flat?"""
    lines = luma if axis == 1 else luma.T
    median = np.median(lines, axis=1, keepdims=True)
    return (np.abs(lines - median) <= FLAT_TOLERANCE).mean(axis=1) >= FLAT_SHARE


def _content_start(flat: np.ndarray) -> int:
    """The first line of content: the start of the first unbroken run of non-flat lines at
    least CONTENT_RUN of the dimension long (UI text and icons make shorter runs, with flat
    lines between them even after JPEG's ringing)."""
    need = max(2, round(len(flat) * CONTENT_RUN))
    run = 0
    for i, f in enumerate(flat):
        run = 0 if f else run + 1
        if run >= need:
            return i - need + 1
    return 0


def content_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box inside the upload's flat bars and frame: rows first (the first content line from
    the top and from the bottom), then columns inside those rows. None when there is no bar of
    at least MIN_BAR on any side, or the box would keep less than MIN_KEEP of a dimension."""
    h, w = rgb.shape[:2]
    luma = _luma(rgb)
    rows = _flat_lines(luma, 1)
    y0 = _content_start(rows)
    y1 = h - _content_start(rows[::-1])
    if y1 - y0 < h * MIN_KEEP:
        return None
    cols = _flat_lines(luma[y0:y1], 0)
    x0 = _content_start(cols)
    x1 = w - _content_start(cols[::-1])
    if x1 - x0 < w * MIN_KEEP:
        return None
    if max(x0 / w, y0 / h, (w - x1) / w, (h - y1) / h) < MIN_BAR:
        return None
    return x0, y0, x1, y1


def bar_variants(rgb: np.ndarray, amounts: tuple[float, ...]) -> list[np.ndarray]:
    """Query variants for bars and frames: the content box (a screenshot frame or letterbox
    taken off: its plain PDQ is the photo's, rescaled), and, for each side it cuts by at least
    MIN_BAR and at most the largest submitted amount, the upload with that side cut by the
    smallest submitted amount that covers the bar (a caption bar over the bottom 12% of the
    photo: the upload's top 80% is the photo's top 80%, whose PDQ is submitted)."""
    box = content_box(rgb)
    if box is None:
        return []
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    out = [rgb[y0:y1, x0:x1]]
    for side, cut in zip(SIDES, (x0 / w, (w - x1) / w, y0 / h, (h - y1) / h), strict=True):
        if cut < MIN_BAR:
            continue
        cover = [a for a in amounts if a >= cut]
        if cover:
            bx0, by0, bx1, by1 = side_box(w, h, side, min(cover))
            out.append(rgb[by0:by1, bx0:bx1])
    return out


#: Opaque stickers: pixels whose 5x5 neighbourhood has a luma standard deviation under
#: PATCH_STD are flat; a connected flat patch that does not touch the border, whose bounding
#: box is between PATCH_MIN and PATCH_MAX of the shorter side on both axes and which fills at
#: least PATCH_FILL of that box, is painted over (holes included) from its surroundings.
PATCH_STD = 1.0
PATCH_MIN = 0.05
PATCH_MAX = 0.35
PATCH_FILL = 0.4


def flat_patches(rgb: np.ndarray) -> np.ndarray | None:
    """The mask of opaque sticker-like patches, or None when there are none."""
    luma = _luma(rgb)
    mean = ndimage.uniform_filter(luma, 5)
    var = ndimage.uniform_filter(luma * luma, 5) - mean * mean
    flat = var < PATCH_STD**2
    labels, n = ndimage.label(flat)
    if n == 0:
        return None
    h, w = luma.shape
    lo, hi = PATCH_MIN * min(h, w), PATCH_MAX * min(h, w)
    area = np.bincount(labels.ravel(), minlength=n + 1)
    mask = np.zeros_like(flat)
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = sl
        bh, bw = ys.stop - ys.start, xs.stop - xs.start
        if not (lo <= bh <= hi and lo <= bw <= hi) or area[index] < PATCH_FILL * bh * bw:
            continue
        if ys.start == 0 or xs.start == 0 or ys.stop == h or xs.stop == w:
            continue
        mask[sl] |= ndimage.binary_fill_holes(labels[sl] == index)
    if not mask.any():
        return None
    # The 5x5 test leaves a 2-pixel rim of the sticker unflagged, and its edge is anti-aliased:
    # widen the mask by 3 pixels (a 7x7 maximum).
    return ndimage.maximum_filter(mask, size=7)


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[:2]
    ph, pw = -h % f, -w % f
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    return a.reshape(a.shape[0] // f, f, a.shape[1] // f, f, *a.shape[2:]).mean(axis=(1, 3))


#: The fill is estimated on a grid of at most this many cells along the longer side (PDQ samples
#: its blurred image 64x64, so finer detail cannot matter).
FILL_GRID = 128
#: The fill's Gaussian widths, in grid cells, finest first.
FILL_SIGMAS = (1, 2, 4, 8, 16, 32)


def fill_flat_patches(rgb: np.ndarray) -> np.ndarray | None:
    """The upload with its sticker-like patches painted over from their surroundings, or None
    when it has none. The estimate is a normalised Gaussian fill on a grid of f x f blocks
    (f = ceil(longer side / FILL_GRID)): the blurred known pixels over the blurred known-mask,
    each cell taking the finest of FILL_SIGMAS where the known pixels weigh at least 0.05
    (so the fill runs smoothly in from the patch's edge); scaled back up
    bilinearly, and only the masked pixels replaced. PDQ sees the image through a heavy blur,
    so a smooth guess of what a sticker hides is much closer to the original than the sticker."""
    mask = flat_patches(rgb)
    if mask is None:
        return None
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    f = max(1, -(-max(h, w) // FILL_GRID))
    known = (~mask).astype(np.float32)
    stack = np.concatenate([rgb.astype(np.float32) * known[..., None], known[..., None]], axis=2)
    small = _block_mean(stack, f)
    est = np.zeros((*small.shape[:2], 3), np.float32)
    done = np.zeros(small.shape[:2], bool)
    wanted = small[..., 3] < 1  # cells with a masked pixel
    for sigma in FILL_SIGMAS:
        blurred = ndimage.gaussian_filter(small, (sigma, sigma, 0))
        weight = blurred[..., 3]
        ok = (weight > 0.05) & ~done
        est[ok] = blurred[ok][:, :3] / weight[ok][:, None]
        done |= ok
        if done[wanted].all():
            break
    # Scale up only the cells around the mask (one cell of margin: bilinear reads neighbours).
    sh, sw = small.shape[:2]
    cy0, cy1 = max(0, ys.min() // f - 1), min(sh, ys.max() // f + 2)
    cx0, cx1 = max(0, xs.min() // f - 1), min(sw, xs.max() // f + 2)
    out = rgb.copy()
    region = (slice(cy0 * f, min(h, cy1 * f)), slice(cx0 * f, min(w, cx1 * f)))
    inside = mask[region]
    for c in range(3):
        layer = Image.fromarray(np.ascontiguousarray(est[cy0:cy1, cx0:cx1, c]), "F")
        up = np.asarray(layer.resize(((cx1 - cx0) * f, (cy1 - cy0) * f), Image.Resampling.BILINEAR))
        up = up[: inside.shape[0], : inside.shape[1]]
        out[region][..., c][inside] = np.clip(up[inside] + 0.5, 0, 255).astype(np.uint8)
    return out
