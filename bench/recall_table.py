"""How often an edited copy of an image is still matched by PDQ, before and after submitting
extra fingerprints, beside the false-match rate between distinct images.

    .venv/bin/python bench/recall_table.py [--markdown]

Corpus: every photograph in scikit-image's wheel, each of their four quadrants (scaled back
up, so distinct content with camera statistics), and generated scenes (blurred shapes, light
gradients and grain). Hashes are pdqhash's (the reference platforms run); a copy "matches"
when some submitted fingerprint is within Hamming distance 31 of the copy's plain PDQ, which
is what a platform computes on an upload. False matches: the same rule over every ordered
pair of distinct images in the corpus (each image's submitted fingerprints against the other
image's plain PDQ).

Submission schemes compared:
  plain      the PDQ of the image as stored
  dihedral   plain + the 7 other dihedral variants (rotations and flips) from the same DCT
  +crops     dihedral + the PDQ of the central 95%, 90% and 80% (width and height) crops,
             computed as pdqhash does on each cropped copy (the ideal)
  +browser crops
             dihedral + the crop PDQs the browser actually submits (static/fingerprint/pdq.js,
             run here under Node on the same pixels): the whole image's PDQ blur sampled on
             each crop's 64x64 grid, an approximation of pdqhash on the cropped copy
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import fingerprint_corpus as corpus  # noqa: E402

THRESHOLD = 31
CROP_FINGERPRINTS = (0.95, 0.9, 0.8)


def to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2)


def pdq(image: Image.Image) -> int:
    bits, _ = pdqhash.compute(np.ascontiguousarray(np.asarray(image.convert("RGB"))))
    return to_int(bits)


def pdq_dihedral(image: Image.Image) -> list[int]:
    variants, _ = pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(image.convert("RGB"))))
    return [to_int(v) for v in variants]


def centre_crop(image: Image.Image, keep: float) -> Image.Image:
    w, h = image.size
    dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return image.crop((dw, dh, w - dw, h - dh))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


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


TRANSFORMS = {
    "rescale to 50%": lambda im: im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR),
    "rescale to 200%": lambda im: im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC),
    "JPEG re-compression q70": lambda im: jpeg(im, 70),
    "JPEG re-compression q40": lambda im: jpeg(im, 40),
    "border crop 5%": lambda im: centre_crop(im, 0.95),
    "border crop 10%": lambda im: centre_crop(im, 0.90),
    "border crop 20%": lambda im: centre_crop(im, 0.80),
    "border crop 7% (between the crop fingerprints)": lambda im: centre_crop(im, 0.93),
    "crop 10% off one side only": lambda im: im.crop((im.width // 10, 0, im.width, im.height)),
    "horizontal flip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "vertical flip": lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "rotate 90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rotate 180": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "rotate 270": lambda im: im.transpose(Image.Transpose.ROTATE_270),
    "sticker (emoji, 15% of side)": sticker,
    "colour filter (warm, +contrast)": colour_filter,
}


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


def build_corpus() -> list[tuple[str, Image.Image]]:
    images = []
    for name in corpus.available_photos():
        im = corpus.photo(name)
        images.append((name, im))
        w, h = im.size
        for qi, box in enumerate([(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h),
                                  (w // 2, h // 2, w, h)]):
            images.append((f"{name}#q{qi}", im.crop(box).resize((w, h), Image.Resampling.BICUBIC)))
    rng = np.random.default_rng(2024)
    images += [(f"scene{i}", generated_scene(rng)) for i in range(60)]
    return images


NODE_CROPS = """
import { readFileSync } from 'node:fs';
import { pdqFromPixels } from '%(pixels)s';
const manifest = JSON.parse(readFileSync(process.argv[1], 'utf8'));
const out = manifest.map(({ path, width, height }) =>
  pdqFromPixels({ width, height, data: new Uint8Array(readFileSync(path)) }).pdq_crops);
process.stdout.write(JSON.stringify(out));
"""


def browser_crops(images: list[Image.Image]) -> list[list[dict]]:
    """The crop PDQs static/fingerprint/ computes for each image (under Node, same pixels)."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = []
        for i, im in enumerate(images):
            path = Path(tmp) / f"{i}.rgba"
            path.write_bytes(np.asarray(im.convert("RGBA")).tobytes())
            manifest.append({"path": str(path), "width": im.width, "height": im.height})
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        script = NODE_CROPS % {"pixels": (ROOT / "static/fingerprint/pixels.js").as_uri()}
        out = subprocess.run(["node", "--input-type=module", "-e", script, str(Path(tmp) / "manifest.json")],
                             check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    images = build_corpus()
    schemes: dict[str, list[list[int]]] = {"plain": [], "dihedral": [], "+crops": [], "+browser crops": []}
    plain: list[int] = []
    js_crops = browser_crops([im for _, im in images])
    distances: dict[float, list[int]] = {k: [] for k in CROP_FINGERPRINTS}
    for (_, im), crops in zip(images, js_crops, strict=True):
        d = pdq_dihedral(im)
        p = pdq(im)
        plain.append(p)
        schemes["plain"].append([p])
        schemes["dihedral"].append([p, *d[1:]])
        ideal = [pdq(centre_crop(im, k)) for k in CROP_FINGERPRINTS]
        schemes["+crops"].append([p, *d[1:], *ideal])
        ours = {c["crop"]: int(c["pdq"], 16) for c in crops}
        schemes["+browser crops"].append([p, *d[1:], *ours.values()])
        for k, exact in zip(CROP_FINGERPRINTS, ideal, strict=True):
            if k in ours:
                distances[k].append(hamming(ours[k], exact))

    def matched(submitted: list[int], query: int) -> bool:
        return min(hamming(s, query) for s in submitted) <= THRESHOLD

    rows = []
    for tname, transform in TRANSFORMS.items():
        queries = [pdq(transform(im)) for _, im in images]
        rows.append((tname, [sum(matched(schemes[s][i], q) for i, q in enumerate(queries)) / len(images)
                             for s in schemes]))
    n = len(images)
    pairs = n * (n - 1)
    false = []
    for s in schemes:
        count = sum(matched(schemes[s][i], plain[j]) for i in range(n) for j in range(n) if i != j)
        false.append((count, count / pairs))
    names = list(schemes)
    for k, ds in distances.items():
        print(f"browser crop {k:.0%}: distance to pdqhash on the cropped copy: mean {np.mean(ds):.1f},"
              f" median {np.median(ds):.0f}, max {max(ds)} over {len(ds)} images", file=sys.stderr)
    for s in ("dihedral", "+crops", "+browser crops"):
        hits = [(images[i][0], images[j][0]) for i in range(n) for j in range(n)
                if i != j and matched(schemes[s][i], plain[j]) and not matched([plain[i]], plain[j])]
        print(f"false matches that {s} adds: {hits}", file=sys.stderr)
    if args.markdown:
        print(f"Corpus: {n} images; match = PDQ distance <= {THRESHOLD} to any submitted fingerprint.\n")
        print("| edit | " + " | ".join(f"{s} ({max(len(x) for x in schemes[s])} PDQ)" for s in names) + " |")
        print("| --- | " + " | ".join("---:" for _ in names) + " |")
        for tname, shares in rows:
            print(f"| {tname} | " + " | ".join(f"{x:.0%}" for x in shares) + " |")
        print("| **false matches** (ordered pairs of distinct images) | "
              + " | ".join(f"{c} of {pairs} ({r:.3%})" for c, r in false) + " |")
    else:
        print(f"corpus: {n} images; threshold {THRESHOLD}")
        print(f"{'edit':34}" + "".join(f"{s:>12}" for s in names))
        for tname, shares in rows:
            print(f"{tname:34}" + "".join(f"{x:12.0%}" for x in shares))
        print(f"{'false matches / ordered pairs':34}" + "".join(f"{c:>6}/{pairs:<5}" for c, _ in false))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
