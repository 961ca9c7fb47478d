"""Query-side variants: more PDQs computed on a platform's upload, beyond its eight dihedral ones.

An abuser's copy often hides the picture's edges or a patch of it: a caption bar over the
bottom, the photo inside a phone screenshot's frame, an opaque sticker. The plain PDQ of such a
copy is too far from every fingerprint a survivor submitted (the recall table in
docs/fingerprints.md: 16-21% of caption bars matched, no screenshot frames). These variants
undo the edit on the upload before hashing it:

* **bars and frames trimmed** (:func:`content_box`): rows and then columns that are flat (one
  colour, give or take a few icons or a line of text) are taken off each side; the box left is
  the photo, rescaled, whose plain PDQ is close to the survivor's;
* **a side cut to a submitted crop** (:func:`bar_variants`): a bar *over* the photo hides part
  of it, so the box inside the bar is not the whole photo; but the browser submits the photo
  with 10% and 20% cut off each side (static/fingerprint/pdq.js SIDE_CUTS), and the upload cut
  by the smallest of those that covers the bar shows exactly that part of the photo;
* **stickers filled** (:func:`fill_flat_patches`): opaque flat patches inside the picture are
  painted over with a smooth guess from their surroundings; PDQ sees the picture through a
  heavy blur, so the guess is far closer to what the sticker hides than the sticker is.

Every threshold here was chosen on bench/recall_table.py's tuning corpus and then measured,
unchanged, on its held-out photographs (docs/fingerprints.md has the table and the false
matches). All of it is plain arithmetic on the pixels (no randomness), so the same
upload always gives the same variants. An upload with no bar or frame gets no bar variant; a
flat patch in a real photo can still look like a sticker (139 of 315 unedited images in the
bench got one variant or more, mostly a fill), and the bench's false matches count those.

The work is done on a copy of at most WORK_SIDE pixels on its longer side (PDQ itself looks at
a 64x64 grid of a blur, so a larger copy adds nothing but time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from hashbank.fingerprints.pdq import PDQ

#: The one-sided cuts the browser submits PDQs of (static/fingerprint/pdq.js SIDE_CUTS; a test
#: holds the two equal): a share of the width (left, right) or height (top, bottom).
SIDE_CUTS = (0.1, 0.2)
SIDES = ("left", "right", "top", "bottom")

#: The longer side of the copy the variants are computed on. 1024 and not less: a phone
#: screenshot is tall and narrow, and at 640 its trimmed photo was too small to match as often
#: (tuning corpus, every third image: screenshot frames 49 of 59 matched at 640, 53 at 1024,
#: 52 with no limit).
WORK_SIDE = 1024

#: A line (row or column) is "flat" when FLAT_SHARE of its pixels are within FLAT_TOLERANCE of
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

#: Opaque stickers: pixels whose 5x5 neighbourhood has a luma standard deviation under
#: PATCH_STD are flat; a connected flat patch that does not touch the border, whose bounding
#: box is between PATCH_MIN and PATCH_MAX of the shorter side on both axes and which fills at
#: least PATCH_FILL of that box, is painted over (holes included) from its surroundings.
PATCH_STD = 1.0
PATCH_MIN = 0.05
PATCH_MAX = 0.35
PATCH_FILL = 0.4
#: The fill is estimated on a grid of at most this many cells along the longer side (PDQ samples
#: its blurred image 64x64, so finer detail cannot matter).
FILL_GRID = 128
#: The fill's Gaussian widths, in grid cells, finest first.
FILL_SIGMAS = (1, 2, 4, 8, 16, 32)

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Variant:
    """One query variant: what was done to the upload (`name`), its PDQ and that PDQ's quality."""

    name: str
    hash: str
    quality: int


def side_box(width: int, height: int, side: str, cut: float) -> Box:
    """The box [x0, y0, x1, y1) left after cutting round(size * cut) pixels off one side, halves
    rounded up (pdq.js sideCropBox, Math.round)."""
    dx, dy = int(width * cut + 0.5), int(height * cut + 0.5)
    return {
        "left": (dx, 0, width, height),
        "right": (0, 0, width - dx, height),
        "top": (0, dy, width, height),
        "bottom": (0, 0, width, height - dy),
    }[side]


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
    for i, f in enumerate(flat.tolist()):
        run = 0 if f else run + 1
        if run >= need:
            return i - need + 1
    return 0


def content_box(rgb: np.ndarray) -> Box | None:
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


def bar_variants(rgb: np.ndarray, cuts: tuple[float, ...] = SIDE_CUTS) -> list[tuple[str, np.ndarray]]:
    """(name, pixels) of the variants for bars and frames: the content box ("trimmed": a
    screenshot frame or letterbox taken off), and, for each side it cuts by at least MIN_BAR and
    at most the largest of `cuts`, the upload with that side cut by the smallest of `cuts` that
    covers the bar ("cut_bottom_20": a caption bar over the bottom 12% of the photo leaves the
    photo's top 80% showing, whose PDQ the browser submitted)."""
    box = content_box(rgb)
    if box is None:
        return []
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    out = [("trimmed", rgb[y0:y1, x0:x1])]
    for side, bar in zip(SIDES, (x0 / w, (w - x1) / w, y0 / h, (h - y1) / h), strict=True):
        if bar < MIN_BAR:
            continue
        cover = [c for c in cuts if c >= bar]
        if cover:
            cut = min(cover)
            bx0, by0, bx1, by1 = side_box(w, h, side, cut)
            out.append((f"cut_{side}_{round(cut * 100)}", rgb[by0:by1, bx0:bx1]))
    return out


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
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        ys, xs = found
        bh, bw = ys.stop - ys.start, xs.stop - xs.start
        if not (lo <= bh <= hi and lo <= bw <= hi) or area[index] < PATCH_FILL * bh * bw:
            continue
        if ys.start == 0 or xs.start == 0 or ys.stop == h or xs.stop == w:
            continue
        mask[found] |= ndimage.binary_fill_holes(labels[found] == index)
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


def fill_flat_patches(rgb: np.ndarray) -> np.ndarray | None:
    """The upload with its sticker-like patches painted over from their surroundings, or None
    when it has none. The estimate is a normalised Gaussian fill on a grid of f x f blocks
    (f = ceil(longer side / FILL_GRID)): the blurred known pixels over the blurred known-mask,
    each cell taking the finest of FILL_SIGMAS where the known pixels weigh more than 0.05 (so
    the fill runs smoothly in from the patch's edge); scaled back up bilinearly, and only the
    masked pixels replaced."""
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


def working_copy(rgb: np.ndarray) -> np.ndarray:
    """The upload at most WORK_SIDE pixels on its longer side (Lanczos), or itself if smaller."""
    h, w = rgb.shape[:2]
    if max(h, w) <= WORK_SIDE:
        return rgb
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image)


def query_variants(rgb: np.ndarray) -> list[Variant]:
    """The variants of an (h, w, 3) uint8 upload beyond its dihedral PDQs, in the order they are
    tried: bars and frames, then stickers."""
    work = working_copy(np.asarray(rgb, dtype=np.uint8))
    arrays = bar_variants(work)
    filled = fill_flat_patches(work)
    if filled is not None:
        arrays.append(("stickers_filled", filled))
    out = []
    for name, pixels in arrays:
        value, quality = PDQ.hash_pixels(pixels)
        out.append(Variant(name, value, quality))
    return out
