"""How often an edited copy of an image is still matched by PDQ: with what we submit today, with
a larger submission any platform can match on plain PDQ, and with that submission plus the
query-side variants our matcher and hosted lookup can compute; beside the false-match rates.

    .venv/bin/python bench/recall_table.py [--markdown] [--held-out DIR] [--crops exact|sampled]

Corpora. "tuning": every photograph in scikit-image's wheel, each of their four quadrants
(scaled back up: distinct content with camera statistics) and 60 generated scenes; the centre
crop fractions submitted today were chosen on it, and so were this bench's query-side
thresholds. "held-out" (with --held-out DIR): the 28 photographs of HELD_OUT_PHOTOS, found by
name under DIR (Debian's mate-backgrounds, lomiri-wallpapers-16.04 and lomiri-wallpapers-20.04
packages: `apt-get download` them and `dpkg -x` each into DIR; nothing is fetched at run
time), each scaled to at most HELD_OUT_SIDE pixels on its longer side, and their quadrants.
Nothing was tuned on them.

Hashes are pdqhash's (what HMA and python-threatexchange run). A copy "matches" when some
fingerprint submitted for its image is within Hamming distance 31 of a query hash. Columns:
  today          submitted: the 8 dihedral PDQs + the browser's 3 centre-crop PDQs (what
                 static/fingerprint/ sends, run under Node); query: the copy's plain PDQ
  today, our matcher
                 the same submission; query: the copy's 8 dihedral PDQs (what
                 hashbank.platform.matcher does today)
  any platform   submitted: what static/fingerprint/ sends now (today's + the 0.925 centre
                 crop + one-sided crops of 10% and 20% off each side, SIDE_AMOUNTS, each with
                 its mirror); query: the copy's plain PDQ (any platform, HMA included)
  our matcher    submitted: as "any platform"; query: the copy's 8 dihedral PDQs + the
                 query-side variants of hashbank.platform.variants (bars and frames trimmed,
                 bars cut to a submitted crop, opaque stickers painted over)
"exact" and "sampled" say how the one-sided crop PDQs are computed: pdqhash on the cropped
pixels (the browser can reproduce it bit for bit by running its PDQ over the box's pixels), or
the browser's cheap way (the whole image's blur sampled on the box's 64x64 grid, as its centre
crops are today; run under Node with static/fingerprint/pdq.js). --crops picks one of them for
the Markdown table; the text output shows both.

False matches: the same rule over every ordered pair of distinct images (image i's submitted
fingerprints against the queries computed on image j's unedited copy), per corpus and over
both corpora together. Quality is ignored as before (the browser leaves out PDQs under quality
50 and the matcher skips uploads under it, which can only lower both recall and false matches),
except that a query variant whose own quality is under 50 is not looked up (the hosted lookup
skips such hashes anyway).

--ladder adds to "our matcher" the upload cut by 2, 4, 6, 8 and 10% on each side (LADDER, 20
more PDQs per upload): one-sided crops of other amounts than the submitted ones then match.
--held-out with 2 workers: about 5 minutes on a quiet machine, 8 with --ladder.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _recall_variants as rv  # noqa: E402

from hashbank.feedformat.canonical import entry_bytes  # noqa: E402
from tests.browser import fingerprint_corpus as corpus  # noqa: E402


def _service_cap(name: str) -> int:
    # hashbank.services needs Django set up; the bench only needs two numbers from it.
    text = (ROOT / "hashbank/services.py").read_text()
    return int(re.search(rf"^{name} = (\d+)", text, re.M).group(1))


MAX_FILES_PER_CASE = _service_cap("MAX_FILES_PER_CASE")
MAX_FINGERPRINTS_PER_FILE = _service_cap("MAX_FINGERPRINTS_PER_FILE")

THRESHOLD = 31
#: The centre crops the browser submitted before the one-sided ones ("today"'s column: the
#: browser since December 2026 submits these, 0.925, and the one-sided crops of SIDE_AMOUNTS,
#: static/fingerprint/pdq.js CROP_FRACTIONS and SIDE_CUTS).
CROP_FINGERPRINTS = (0.95, 0.9, 0.8)
#: One-sided crops the browser submits: this share of the width (left, right) or height (top,
#: bottom) cut off one side, each PDQ submitted with its mirror.
SIDE_AMOUNTS = rv.variants.SIDE_CUTS
#: Non-PDQ values the browser submits per image (phash, dhash, ahash, md5, sha256).
OTHER_SIGNALS = 5  # len(OTHER_HEX)
HELD_OUT_SIDE = 640
HELD_OUT_PHOTOS = (
    # mate-backgrounds (usr/share/backgrounds/mate/nature)
    "Aqua.jpg",
    "Blinds.jpg",
    "Dune.jpg",
    "FreshFlower.jpg",
    "Garden.jpg",
    "GreenMeadow.jpg",
    "LadyBird.jpg",
    "RainDrops.jpg",
    "Storm.jpg",
    "TwoWings.jpg",
    "Wood.jpg",
    "YellowFlower.jpg",
    # lomiri-wallpapers-16.04 (usr/share/backgrounds), photographs only
    "Bridge_by_Sander_Klootwijk.jpg",
    "Dragonfly_by_Bolly.jpg",
    "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg",
    "Wine_by_Jakkub_Mede.jpg",
    "aitzgorri_by_Aitzol_Berasategi.jpg",
    "analogpattern_by_Peter_Nerlich.jpg",
    "free_by_Peter_Nerlich.jpg",
    "friends_by_Aitzol_Berasategi.jpg",
    "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg",
    "sunset_by_Aitzol_Berasategi.jpg",
    # lomiri-wallpapers-20.04, photographs only
    "Infinite-Sea_by_Aury88.jpg",
    "Kleiber_by_Lukas_Baubkus.jpg",
)


def centre_crop(image: Image.Image, keep: float) -> Image.Image:
    w, h = image.size
    dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return image.crop((dw, dh, w - dw, h - dh))


def sticker(image: Image.Image) -> Image.Image:
    """A smiley the size of 15% of the shorter side, near the lower right corner."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    r = int(min(w, h) * 0.075)
    cx, cy = int(w * 0.75), int(h * 0.72)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 204, 51), outline=(120, 80, 0), width=max(1, r // 10))
    e = max(1, r // 5)
    for ex in (cx - r // 3, cx + r // 3):
        draw.ellipse((ex - e // 2, cy - r // 3 - e, ex + e // 2, cy - r // 3 + e), fill=(60, 40, 20))
    draw.arc((cx - r // 2, cy - r // 3, cx + r // 2, cy + r // 2), 20, 160, fill=(60, 40, 20), width=max(1, r // 8))
    return out


def colour_filter(image: Image.Image) -> Image.Image:
    """A warm 'vintage' filter: sepia-like toning, lifted blacks, more contrast."""
    grey = ImageOps.grayscale(image)
    toned = ImageOps.colorize(grey, black=(40, 20, 10), white=(255, 240, 200), mid=(170, 120, 80))
    blended = Image.blend(image.convert("RGB"), toned, 0.6)
    return ImageEnhance.Contrast(blended).enhance(1.2)


Edit = Callable[[str, Image.Image], Image.Image]


@dataclass(frozen=True)
class Row:
    """One edit. `copies` are the edited copies made of each image (several for a pooled row);
    `goal` is the kind of row: "geometric" (crops, rescales, re-compression, rotations, mirrors:
    90% on both paths), "overlay" (stickers, caption bars, frames: 80% with our matcher),
    "other" (90% with our matcher) or "probe" (no goal: it shows where the coverage ends)."""

    name: str
    goal: str
    copies: tuple[Edit, ...]


def _row(name: str, goal: str, *copies: Edit) -> Row:
    return Row(name, goal, copies)


def _plain(fn: Callable[[Image.Image], Image.Image]) -> Edit:
    return lambda _name, im: fn(im)


def _sides(amount: float, sides: tuple[str, ...] = rv.SIDES) -> tuple[Edit, ...]:
    return tuple((lambda side: lambda _n, im: rv.crop_side(im, side, amount))(s) for s in sides)


def _one_side(side: str, amount: float) -> Edit:
    return lambda _n, im: rv.crop_side(im, side, amount)


def _stickers(share: float) -> tuple[Edit, ...]:
    return tuple((lambda spot: lambda n, im: rv.square_sticker(im, n, share, spot))(s) for s in rv.STICKER_SPOTS)


def _mirror_crops(amount: float) -> tuple[Edit, ...]:
    return tuple((lambda side: lambda _n, im: rv.mirror_crop_jpeg(im, side, amount))(s) for s in rv.SIDES)


ROWS: tuple[Row, ...] = (
    _row(
        "rescale to 50%",
        "geometric",
        _plain(lambda im: im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR)),
    ),
    _row(
        "rescale to 200%",
        "geometric",
        _plain(lambda im: im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC)),
    ),
    _row("JPEG re-compression q70", "geometric", _plain(lambda im: rv.jpeg(im, 70))),
    _row("JPEG re-compression q40", "geometric", _plain(lambda im: rv.jpeg(im, 40))),
    _row("border crop 5%", "geometric", _plain(lambda im: centre_crop(im, 0.95))),
    _row("border crop 10%", "geometric", _plain(lambda im: centre_crop(im, 0.90))),
    _row("border crop 20%", "geometric", _plain(lambda im: centre_crop(im, 0.80))),
    _row("border crop 7% (between the crop fingerprints)", "geometric", _plain(lambda im: centre_crop(im, 0.93))),
    _row("crop 10% off one side only (left)", "geometric", _one_side("left", 0.1)),
    _row("one-sided crop 10%: right", "geometric", _one_side("right", 0.1)),
    _row("one-sided crop 10%: top", "geometric", _one_side("top", 0.1)),
    _row("one-sided crop 10%: bottom", "geometric", _one_side("bottom", 0.1)),
    _row("one-sided crop 20%: left", "geometric", _one_side("left", 0.2)),
    _row("one-sided crop 20%: right", "geometric", _one_side("right", 0.2)),
    _row("one-sided crop 20%: top", "geometric", _one_side("top", 0.2)),
    _row("one-sided crop 20%: bottom", "geometric", _one_side("bottom", 0.2)),
    _row("mirror + one-sided crop 10% + JPEG q75 (4 sides)", "geometric", *_mirror_crops(0.1)),
    _row("mirror + one-sided crop 20% + JPEG q75 (4 sides)", "geometric", *_mirror_crops(0.2)),
    _row("horizontal flip", "geometric", _plain(lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
    _row("vertical flip", "geometric", _plain(lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM))),
    _row("rotate 90", "geometric", _plain(lambda im: im.transpose(Image.Transpose.ROTATE_90))),
    _row("rotate 180", "geometric", _plain(lambda im: im.transpose(Image.Transpose.ROTATE_180))),
    _row("rotate 270", "geometric", _plain(lambda im: im.transpose(Image.Transpose.ROTATE_270))),
    _row("sticker (emoji, 15% of side)", "overlay", _plain(sticker)),
    _row("opaque sticker 10% of the shorter side (5 spots)", "overlay", *_stickers(0.10)),
    _row("opaque sticker 15% of the shorter side (5 spots)", "overlay", *_stickers(0.15)),
    _row(
        "opaque sticker 15%, then JPEG q75 (centre)",
        "overlay",
        lambda n, im: rv.jpeg(rv.square_sticker(im, n, 0.15, (0.5, 0.5)), 75),
    ),
    _row("caption bar over the bottom 12%", "overlay", lambda n, im: rv.caption_bar(im, n)),
    _row("caption bar over the bottom 12%, then JPEG q75", "overlay", lambda n, im: rv.jpeg(rv.caption_bar(im, n), 75)),
    _row("screenshot frame (phone canvas, status and nav bars)", "overlay", lambda n, im: rv.screenshot_frame(im, n)),
    _row("screenshot frame, then JPEG q75", "overlay", lambda n, im: rv.jpeg(rv.screenshot_frame(im, n), 75)),
    _row("colour filter (warm, +contrast)", "other", _plain(colour_filter)),
    _row("probe: one-sided crop 5% (left, top)", "probe", *_sides(0.05, ("left", "top"))),
    _row("probe: one-sided crop 15% (right, bottom)", "probe", *_sides(0.15, ("right", "bottom"))),
)

#: The result columns: (key, heading). "sampled" columns use the browser's cheap crop PDQs.
COLUMNS = (
    ("today", "today (plain PDQ)"),
    ("today_matcher", "today, our matcher (dihedral queries)"),
    ("any_exact", "any platform, exact crops"),
    ("any_sampled", "any platform, sampled crops"),
    ("ours_exact", "our matcher, exact crops"),
    ("ours_sampled", "our matcher, sampled crops"),
)


# --- corpora -------------------------------------------------------------------------------


def generated_scene(rng: np.random.Generator, w: int = 480, h: int = 360) -> Image.Image:
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (top * (1 - t) + bottom * t) * np.ones((1, w, 1))
    im = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.integers(4, 12)):
        x0, y0 = rng.integers(-w // 4, w), rng.integers(-h // 4, h)
        x1, y1 = x0 + rng.integers(w // 10, w // 2), y0 + rng.integers(h // 10, h // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 6))))
    grain = rng.normal(0, 4, (h, w, 1))
    return Image.fromarray(np.clip(np.asarray(im).astype(float) + grain, 0, 255).astype(np.uint8))


def with_quadrants(name: str, im: Image.Image) -> list[tuple[str, Image.Image]]:
    w, h = im.size
    out = [(name, im)]
    for qi, box in enumerate(
        [(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)]
    ):
        out.append((f"{name}#q{qi}", im.crop(box).resize((w, h), Image.Resampling.BICUBIC)))
    return out


def build_corpus() -> list[tuple[str, Image.Image]]:
    images = []
    for name in corpus.available_photos():
        images += with_quadrants(name, corpus.photo(name))
    rng = np.random.default_rng(2024)
    images += [(f"scene{i}", generated_scene(rng)) for i in range(60)]
    return images


def held_out_corpus(folder: Path) -> list[tuple[str, Image.Image]]:
    found = {p.name: p for p in folder.rglob("*") if p.name in HELD_OUT_PHOTOS}
    missing = [n for n in HELD_OUT_PHOTOS if n not in found]
    if missing:
        raise SystemExit(f"--held-out {folder}: missing {len(missing)} photographs, e.g. {missing[:3]}")
    images = []
    for name in HELD_OUT_PHOTOS:
        with Image.open(found[name]) as im:
            rgb = im.convert("RGB")
        rgb.thumbnail((HELD_OUT_SIDE, HELD_OUT_SIDE), Image.Resampling.LANCZOS)
        images += with_quadrants(name, rgb)
    return images


# --- per image -----------------------------------------------------------------------------


@dataclass
class Submission:
    today: list[int]
    exact: list[int]
    sampled: list[int]
    #: the one-sided crop PDQs and their mirrors (side_boxes order), both ways, for comparing
    side_exact: list[int]
    side_sampled: list[int]
    #: each submitted value's PDQ quality (the image's for its dihedral variants, each crop's own)
    quality: dict[int, int] = field(default_factory=dict)


@dataclass
class ImageResult:
    #: row name -> per copy: {column key: matched}
    rows: dict[str, list[dict[str, bool]]] = field(default_factory=dict)
    #: the queries computed on the unedited image: plain, and our matcher's (dihedral + variants)
    plain_query: int = 0
    matcher_queries: list[int] = field(default_factory=list)
    #: each query value's PDQ quality
    quality: dict[int, int] = field(default_factory=dict)
    #: how many of the copies needed the query-side variants, and of those, which matched
    variant_hits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def side_crop_hashes(rgb: np.ndarray, sides: list[dict]) -> list[tuple[int, int, int]]:
    """(PDQ, mirrored PDQ, quality) of each of the browser's one-sided crops `sides`, by pdqhash
    on the cropped pixels."""
    h, w = rgb.shape[:2]
    out = []
    for c in sides:
        x0, y0, x1, y1 = rv.side_box(w, h, c["side"], c["cut"])
        variants, quality = rv.dihedral_of(rgb[y0:y1, x0:x1])
        out.append((variants[0], variants[rv.MIRROR], quality))
    return out


#: The deployed quality rule (hashbank.fingerprints.pdq.QUALITY_FLOOR): the browser submits no
#: PDQ under it, the matcher skips an upload under it, the hosted lookup skips a hash under it.
#: The recall rows ignore it, as this table always has; the false matches are given both ways.
QUALITY_FLOOR = 50


def query_variants(rgb: np.ndarray) -> list[tuple[int, int]]:
    """(PDQ, quality) of the query-side variants beyond the dihedral PDQs, in the order the
    matcher tries them (hashbank.platform.variants: the bar and frame variants, then the sticker
    fill)."""
    return [(int(v.hash, 16), v.quality) for v in rv.variants.query_variants(rgb)]


#: --ladder: also query the upload with LADDER of its width or height cut off each side (a
#: one-sided crop of any amount up to about 21% then lands within about 1% of a submitted
#: 10% or 20% one: upload cut a, then b, is cut a + b(1 - a)). Off by default: 20 more PDQs
#: per upload, and the run would pass 10 minutes.
LADDER = (0.02, 0.04, 0.06, 0.08, 0.10)
LADDER_ON = False


def _set_ladder(on: bool) -> None:
    global LADDER_ON
    LADDER_ON = on


def ladder_variants(rgb: np.ndarray) -> list[tuple[int, int]]:
    """(PDQ, quality) of the upload cut by each LADDER amount on each side, if --ladder."""
    if not LADDER_ON:
        return []
    h, w = rgb.shape[:2]
    return [rv.pdq_of(rgb[y0:y1, x0:x1]) for _s, _a, (x0, y0, x1, y1) in rv.side_boxes(w, h, LADDER)]


def within(submitted: list[int], queries: list[int]) -> bool:
    return any(rv.hamming(s, q) <= THRESHOLD for q in queries for s in submitted)


def measure_image(job: tuple[str, np.ndarray, list[dict]]) -> tuple[Submission, ImageResult]:
    """One image: its submissions (`sampled` are the browser's crop PDQs, computed under
    Node), then every edited copy against them (a copy's query variants are computed only as
    far as needed: once a copy matched, no further variant can change its row)."""
    name, rgb, sampled = job
    started = time.process_time()
    dihedral, image_quality = rv.dihedral_of(rgb)
    centres = [c for c in sampled if "crop" in c]
    sides = [c for c in sampled if "side" in c]
    today = dihedral + [c["pdq"] for c in centres if c["crop"] in CROP_FINGERPRINTS]
    centre = [c["pdq"] for c in centres if c["crop"] not in CROP_FINGERPRINTS]
    side_sampled = [h for c in sides for h in (c["pdq"], c["mirror"])]
    exact_crops = side_crop_hashes(rgb, sides)
    side_exact = [h for pdq, mirror, _ in exact_crops for h in (pdq, mirror)]
    sub = Submission(
        today=list(dict.fromkeys(today)),
        exact=list(dict.fromkeys(today + centre + side_exact)),
        sampled=list(dict.fromkeys(today + centre + side_sampled)),
        side_exact=side_exact,
        side_sampled=side_sampled,
    )
    sub.quality = dict.fromkeys(dihedral, image_quality)
    for c in sampled:
        sub.quality.setdefault(c["pdq"], c["quality"])
        sub.quality.setdefault(c.get("mirror", c["pdq"]), c["quality"])
    for pdq, mirror, quality in exact_crops:
        sub.quality.setdefault(pdq, quality)
        sub.quality.setdefault(mirror, quality)
    image = Image.fromarray(rgb)
    result = ImageResult()
    for row in ROWS:
        per_copy = []
        for edit in row.copies:
            copy = rv.rgb_array(edit(name, image))
            queries, _ = rv.dihedral_of(copy)
            plain = rv.pdq_of(copy)[0] if copy.shape[:2] == (64, 64) else queries[0]
            flags = {
                "today": within(sub.today, [plain]),
                "any_exact": within(sub.exact, [plain]),
                "any_sampled": within(sub.sampled, [plain]),
                "today_matcher": within(sub.today, queries),
                "ours_exact": within(sub.exact, queries),
                "ours_sampled": within(sub.sampled, queries),
            }
            if not (flags["ours_exact"] and flags["ours_sampled"]):
                result.variant_hits["needed"] = result.variant_hits.get("needed", 0) + 1
                for extra in (query_variants, ladder_variants):
                    hashes = [h for h, _ in extra(copy)]
                    for key, s in (("ours_exact", sub.exact), ("ours_sampled", sub.sampled)):
                        if not flags[key] and within(s, hashes):
                            flags[key] = True
                            result.variant_hits[key] = result.variant_hits.get(key, 0) + 1
                    if flags["ours_exact"] and flags["ours_sampled"]:
                        break
            per_copy.append(flags)
        result.rows[row.name] = per_copy
    result.plain_query = rv.pdq_of(rgb)[0] if rgb.shape[:2] == (64, 64) else dihedral[0]
    variants = query_variants(rgb) + ladder_variants(rgb)
    result.matcher_queries = dihedral + [h for h, _ in variants]
    result.quality = dict.fromkeys(dihedral, image_quality) | {h: q for h, q in variants if h not in dihedral}
    result.seconds = time.process_time() - started
    return sub, result


def run(
    images: list[tuple[str, Image.Image]], workers: int, ladder: bool = False
) -> tuple[list[Submission], list[ImageResult]]:
    arrays = [rv.rgb_array(im) for _, im in images]
    crops = rv.browser_crop_pdqs(arrays)
    jobs = [(name, rgb, found) for (name, _), rgb, found in zip(images, arrays, crops, strict=True)]
    with ProcessPoolExecutor(max_workers=workers, initializer=_set_ladder, initargs=(ladder,)) as pool:
        out = list(pool.map(measure_image, jobs, chunksize=2))
    return [s for s, _ in out], [r for _, r in out]


# --- false matches -------------------------------------------------------------------------


def to_codes(values: list[int]) -> np.ndarray:
    return np.array([[(v >> (64 * k)) & (2**64 - 1) for k in range(4)] for v in values], dtype=np.uint64)


def false_pairs(submitted: list[list[int]], queries: list[list[int]]) -> set[tuple[int, int]]:
    """Ordered pairs (i, j), i != j, where some query of image j is within the threshold of some
    fingerprint submitted for image i."""
    s_owner = np.array([i for i, s in enumerate(submitted) for _ in s])
    s_codes = to_codes([v for s in submitted for v in s])
    q_owner = np.array([j for j, q in enumerate(queries) for _ in q])
    q_codes = to_codes([v for q in queries for v in q])
    pairs: set[tuple[int, int]] = set()
    step = 256
    for start in range(0, len(q_codes), step):
        block = q_codes[start : start + step]
        dist = np.bitwise_count(block[:, None, :] ^ s_codes[None, :, :]).sum(axis=2)
        qi, si = np.nonzero(dist <= THRESHOLD)
        for q, s in zip(q_owner[start + qi].tolist(), s_owner[si].tolist(), strict=True):
            if q != s:
                pairs.add((s, q))
    return pairs


# --- report --------------------------------------------------------------------------------


#: The other signals the browser submits per image and their hex lengths.
OTHER_HEX = {"phash": 16, "dhash": 16, "ahash": 16, "md5": 32, "sha256": 64}


def feed_entry_size(signal_type: str = "pdq", hex_len: int = 64) -> int:
    """Bytes of one addition in the feed as served (hashbank.feed.publish.entry_line's fields,
    the docs/feed.md example's sizes, a seven-digit position), plus its separator."""
    entry = {
        "case": "e4db505578767eab09e5eeb7",
        "id": "110d0763367453eab5d0",
        "op": "add",
        "origin": "survivor",
        "position": 1234567,
        "quality": 90 if signal_type == "pdq" else None,
        "signal_type": signal_type,
        "time": "2026-11-23T15:48:10Z",
        "value": "f" * hex_len,
    }
    return len(entry_bytes(entry)) + 1


def feed_bytes_per_file(n_pdq: int) -> int:
    return n_pdq * feed_entry_size() + sum(feed_entry_size(t, n) for t, n in OTHER_HEX.items())


def goal_met(goal: str, column: str, share: float) -> bool | None:
    if goal == "probe":
        return None
    if column.startswith("any"):
        return share >= 0.9 if goal == "geometric" else None
    if column.startswith("ours"):
        return share >= (0.8 if goal == "overlay" else 0.9)
    return None


def shares(results: list[ImageResult]) -> dict[str, dict[str, float]]:
    out = {}
    for row in ROWS:
        flags = [f for r in results for f in r.rows[row.name]]
        out[row.name] = {key: sum(f[key] for f in flags) / len(flags) for key, _ in COLUMNS}
    return out


def false_counts(subs: list[Submission], results: list[ImageResult], floor: int = 0) -> dict[str, set[tuple[int, int]]]:
    """False pairs per column; with `floor`, submitted and query values under that quality are
    left out first (as deployed). A 64x64 image's plain PDQ (pdqhash.compute skips the blur)
    has no quality recorded here and is kept."""

    def keep(values: list[int], quality: dict[int, int]) -> list[int]:
        return [v for v in values if quality.get(v, 100) >= floor]

    plain = [keep([r.plain_query], r.quality) for r in results]
    dihedral = [keep(r.matcher_queries[:8], r.quality) for r in results]
    ours = [keep(r.matcher_queries, r.quality) for r in results]
    today = [keep(s.today, s.quality) for s in subs]
    exact = [keep(s.exact, s.quality) for s in subs]
    sampled = [keep(s.sampled, s.quality) for s in subs]
    return {
        "today": false_pairs(today, plain),
        "today_matcher": false_pairs(today, dihedral),
        "any_exact": false_pairs(exact, plain),
        "any_sampled": false_pairs(sampled, plain),
        "ours_exact": false_pairs(exact, ours),
        "ours_sampled": false_pairs(sampled, ours),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--held-out", type=Path, help="folder holding the held-out photographs (HELD_OUT_PHOTOS)")
    parser.add_argument(
        "--crops",
        choices=("exact", "sampled"),
        default="sampled",
        help="which one-sided crop PDQs the Markdown columns use (default sampled, the recommended design)",
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--ladder", action="store_true", help="our matcher also queries the LADDER cuts")
    parser.add_argument("--every", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    started = time.perf_counter()
    corpora = {"tuning": build_corpus()}
    if args.held_out:
        corpora["held-out"] = held_out_corpus(args.held_out)
    if args.every > 1:  # a quick look while developing: every n-th image only
        corpora = {label: images[:: args.every] for label, images in corpora.items()}
    measured = {}
    for label, images in corpora.items():
        measured[label] = run(images, args.workers, args.ladder)
        print(f"{label}: {len(images)} images measured in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    names = {label: [n for n, _ in images] for label, images in corpora.items()}
    all_subs = [s for subs, _ in measured.values() for s in subs]
    all_results = [r for _, results in measured.values() for r in results]
    all_names = [n for ns in names.values() for n in ns]
    falses = {label: false_counts(*m) for label, m in measured.items()}
    floored = {label: false_counts(*m, floor=QUALITY_FLOOR) for label, m in measured.items()}
    if len(corpora) > 1:
        falses["both"] = false_counts(all_subs, all_results)
        floored["both"] = false_counts(all_subs, all_results, floor=QUALITY_FLOOR)
    sizes = {label: len(images) for label, images in corpora.items()} | {"both": len(all_names)}

    per_file = {
        "today": [len(s.today) for s in all_subs],
        "exact": [len(s.exact) for s in all_subs],
        "sampled": [len(s.sampled) for s in all_subs],
    }
    variants = [len(r.matcher_queries) - 8 for r in all_results]
    entry = feed_entry_size()
    report_diagnostics(all_subs, all_results, all_names, falses, names)

    elapsed = time.perf_counter() - started
    tables = {label: shares(m[1]) for label, m in measured.items()}
    if args.markdown:
        print_markdown(tables, falses, floored, sizes, per_file, variants, entry, args.crops, elapsed)
    else:
        print_text(tables, falses, floored, sizes, per_file, variants, entry, elapsed)
    return 0


def report_diagnostics(subs, results, names, falses, corpus_names) -> None:
    """On stderr: how far the sampled crop PDQs are from the exact ones, which variants matched,
    and the false-match pairs each column adds to today's."""
    gaps = [rv.hamming(a, b) for s in subs for a, b in zip(s.side_exact, s.side_sampled, strict=True)]
    if gaps:
        print(
            f"sampled vs exact one-sided crop PDQs (incl. mirrors): mean {np.mean(gaps):.1f}, "
            f"median {np.median(gaps):.0f}, 95th pct {np.percentile(gaps, 95):.0f}, max {max(gaps)}",
            file=sys.stderr,
        )
    hits: dict[str, int] = {}
    for r in results:
        for k, v in r.variant_hits.items():
            hits[k] = hits.get(k, 0) + v
    print(f"copies needing query variants / matched by them: {hits}", file=sys.stderr)
    print(
        f"query variants on unedited images: {sum(len(r.matcher_queries) > 8 for r in results)} of "
        f"{len(results)} images get any",
        file=sys.stderr,
    )
    for label, cols in falses.items():
        ns = names if label == "both" else corpus_names[label]
        base = cols["today"]
        for key, pairs in cols.items():
            extra = sorted(pairs - base)
            if extra:
                shown = ", ".join(f"{ns[i]} -> {ns[j]}" for i, j in extra[:12])
                print(
                    f"[{label}] {key}: {len(pairs)} false pairs, {len(extra)} beyond today's: {shown}"
                    + (" ..." if len(extra) > 12 else ""),
                    file=sys.stderr,
                )


def _fmt_false(pairs: set, n: int) -> str:
    total = n * (n - 1)
    return f"{len(pairs)} of {total:,} ({len(pairs) / total:.3%})"


def print_text(tables, falses, floored, sizes, per_file, variants, entry, elapsed) -> None:
    keys = [k for k, _ in COLUMNS]
    for label, table in tables.items():
        print(f"\n{label} corpus: {sizes[label]} images; threshold {THRESHOLD}; * = under the goal for that path")
        print(f"{'edit':54}" + "".join(f"{k:>15}" for k in keys))
        for row in ROWS:
            cells = []
            for k in keys:
                x = table[row.name][k]
                met = goal_met(row.goal, k, x)
                cells.append(f"{x:14.0%}" + ("*" if met is False else " "))
            print(f"{row.name[:54]:54}" + "".join(cells))
    for label, cols in falses.items():
        for how, counts in (("quality ignored", cols), (f"quality >= {QUALITY_FLOOR} only", floored[label])):
            print(
                f"false matches [{label}, {sizes[label]} images, {how}]: "
                + "; ".join(f"{k} {_fmt_false(counts[k], sizes[label])}" for k in keys)
            )
    print(
        f"PDQ per file: today max {max(per_file['today'])} (mean {np.mean(per_file['today']):.1f}), "
        f"new exact max {max(per_file['exact'])} (mean {np.mean(per_file['exact']):.1f}), "
        f"new sampled max {max(per_file['sampled'])} (mean {np.mean(per_file['sampled']):.1f}); "
        f"+{OTHER_SIGNALS} other signals; server cap {MAX_FINGERPRINTS_PER_FILE} per file"
    )
    most = max(per_file["exact"]) + OTHER_SIGNALS
    print(
        f"feed: {entry} bytes per PDQ addition; per file (all signals) today "
        f"{feed_bytes_per_file(max(per_file['today'])):,} B, new {feed_bytes_per_file(max(per_file['exact'])):,} B; "
        f"values per file {most}; a case at the {MAX_FILES_PER_CASE}-file cap: today "
        f"{feed_bytes_per_file(max(per_file['today'])) * MAX_FILES_PER_CASE / 1e6:.1f} MB, new "
        f"{feed_bytes_per_file(max(per_file['exact'])) * MAX_FILES_PER_CASE / 1e6:.1f} MB"
    )
    print(f"query variants per upload beyond the 8 dihedral: mean {np.mean(variants):.2f}, max {max(variants)}")
    print(f"run time {elapsed:.0f} s")


def print_markdown(tables, falses, floored, sizes, per_file, variants, entry, crops, elapsed) -> None:
    cols = [
        ("today", "today: what we submit, plain PDQ of the copy"),
        (f"any_{crops}", "any platform: new submission, plain PDQ of the copy"),
        (f"ours_{crops}", "our matcher / hosted lookup: new submission + query variants"),
    ]
    n_new = max(per_file[crops])
    n_today = max(per_file["today"])
    print(
        f"Threshold {THRESHOLD}. One-sided crop PDQs: {crops}. PDQ values per file: today at most {n_today}, "
        f"new at most {n_new} (+{OTHER_SIGNALS} other signals). Goals: any platform 90% on every crop, rescale, "
        "re-compression, rotation and mirror row; our matcher 80% on stickers, caption bar and frame, 90% on "
        "the rest; probe rows have none. Under a goal: *.\n"
    )
    for label, table in tables.items():
        print(f"**{label} corpus** ({sizes[label]} images)\n")
        print("| edit | " + " | ".join(h for _, h in cols) + " |")
        print("| --- | " + " | ".join("---:" for _ in cols) + " |")
        for row in ROWS:
            cells = []
            for k, _ in cols:
                x = table[row.name][k]
                cells.append(f"{x:.0%}" + (" *" if goal_met(row.goal, k, x) is False else ""))
            print(f"| {row.name} | " + " | ".join(cells) + " |")
        f, g = falses[label], floored[label]
        print(
            "| **false matches** (ordered pairs of distinct images) | "
            + " | ".join(_fmt_false(f[k], sizes[label]) for k, _ in cols)
            + " |"
        )
        print(
            f"| false matches, only PDQs of quality {QUALITY_FLOOR} or more (as deployed) | "
            + " | ".join(_fmt_false(g[k], sizes[label]) for k, _ in cols)
            + " |\n"
        )
    if "both" in falses:
        for how, f in (("", falses["both"]), (f", quality {QUALITY_FLOOR} or more", floored["both"])):
            print(
                f"False matches over both corpora together{how}: "
                + "; ".join(f"{h.split(':')[0]} {_fmt_false(f[k], sizes['both'])}" for k, h in cols)
                + ".\n"
            )
    print(
        f"Feed: {entry} bytes per PDQ addition; per file, all signals: {feed_bytes_per_file(n_today):,} B today, "
        f"{feed_bytes_per_file(n_new):,} B new ({n_today + OTHER_SIGNALS} and {n_new + OTHER_SIGNALS} values). "
        f"Query variants per upload beyond the 8 dihedral PDQs: mean {np.mean(variants):.2f}, max {max(variants)}. "
        f"Run time {elapsed:.0f} s."
    )


if __name__ == "__main__":
    raise SystemExit(main())
