"""Generate the conformance vectors for the browser fingerprint core (static/fingerprint/).

The expected values come from the REFERENCES, never from our own code:
  * PDQ: ``pdqhash.compute`` and ``pdqhash.compute_dihedral`` on the RGB channels (uint8);
  * phash / dhash / average_hash: ``imagehash`` on a PIL image built from the same RGBA pixels
    (Pillow converts RGBA to L itself, ignoring alpha, exactly as for a decoded file);
  * resize.json: Pillow's own LANCZOS ``Image.resize`` on mode-L images, to pin the resampler;
  * dct.json: ``scipy.fftpack.dct(dct(x, axis=0), axis=1)`` on 32x32 uint8 inputs (phash's DCT).

Everything is generated from one seed, so re-running gives byte-identical files.
Run from the repository root with the project's Python (same pinned Pillow/imagehash/pdqhash):

    python tests/vectors/make_vectors.py

Output goes to tests/js/vectors/*.json. Pixels are delta-filtered (PNG "Sub"), zlib-compressed and
base64-encoded so that the mid-size images (needed to exercise the Jarosz filter and both LANCZOS
pass orders) stay small.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import zlib
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

SEED = 20240603
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "js" / "vectors"


# ---------------------------------------------------------------------------------------------
# Reference helpers (shared with tests/test_js_vectors_fresh.py, which imports this module).


def pack(arr: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(arr).tobytes(), 9)).decode("ascii")


def unpack(text: str, shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=dtype).reshape(shape)


def pack_pixels(arr: np.ndarray) -> str:
    """Like PNG's 'Sub' filter: each byte minus the byte one pixel to its left (mod 256), then
    zlib. Gradients and shapes shrink a lot; the test decoder undoes it with a running sum."""
    a = np.ascontiguousarray(arr, dtype=np.uint8)
    h = a.shape[0]
    flat_rows = a.reshape(h, -1)
    step = a.shape[2] if a.ndim == 3 else 1
    filtered = flat_rows.copy()
    filtered[:, step:] = flat_rows[:, step:] - flat_rows[:, :-step]  # uint8 wraps mod 256
    return pack(filtered)


def unpack_pixels(text: str, shape: tuple[int, ...]) -> np.ndarray:
    h = shape[0]
    step = shape[2] if len(shape) == 3 else 1
    rows = unpack(text, (h, -1)).astype(np.uint64)
    out = np.empty_like(rows)
    for c in range(step):
        out[:, c::step] = np.cumsum(rows[:, c::step], axis=1) % 256
    return out.astype(np.uint8).reshape(shape)


def bits_to_hex(bits) -> str:
    """pdqhash returns 256 bits with element m = bit 255-m, so MSB-first is the usual hex."""
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:064x}"


def pillow13_vertical_first(w_in: int, h_in: int, w_out: int, h_out: int) -> bool:
    """Pillow 13.x resamples vertically first iff (H-h) > 0 and (H-h) > 2*(W-w)."""
    dh = h_in - h_out
    dw = w_in - w_out
    return dh > 0 and dh > 2 * dw


def reference_fingerprints(rgba: np.ndarray) -> dict:
    rgb = np.ascontiguousarray(rgba[:, :, :3])
    bits, quality = pdqhash.compute(rgb)
    dihedral, dihedral_quality = pdqhash.compute_dihedral(rgb)
    image = Image.fromarray(np.ascontiguousarray(rgba))  # (h, w, 4) uint8 -> mode RGBA
    assert image.mode == "RGBA"
    return {
        "pdq": bits_to_hex(bits),
        "pdq_quality": int(quality),
        "pdq_dihedral": [bits_to_hex(b) for b in dihedral],
        "pdq_dihedral_quality": int(dihedral_quality),
        "phash": str(imagehash.phash(image)),
        "dhash": str(imagehash.dhash(image)),
        "ahash": str(imagehash.average_hash(image)),
    }


def reference_resize(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS))


def reference_dct(block: np.ndarray) -> np.ndarray:
    import scipy.fftpack  # what imagehash.phash calls; imported here so the module loads fast

    return scipy.fftpack.dct(scipy.fftpack.dct(block, axis=0), axis=1)


def scipy_version() -> str:
    import scipy

    return scipy.__version__


# pocketfft's twiddle tables for the 32-point DCT-II, computed as pocketfft's sincos_2pibyn
# does (libm cos/sin, then a complex product of two table entries). static/fingerprint/dct.js
# embeds the results as literals; tests/test_js_vectors_fresh.py checks they are equal.
def pocketfft_sincos_2pibyn(n: int):
    ang = math.pi / 4 / n  # 0.25L*pi/n in long double, then double: same value for n = 2^k

    def calc(x: int) -> tuple[float, float]:
        x <<= 3
        if x < 4 * n:
            if x < 2 * n:
                if x < n:
                    return (math.cos(x * ang), math.sin(x * ang))
                return (math.sin((2 * n - x) * ang), math.cos((2 * n - x) * ang))
            x -= 2 * n
            if x < n:
                return (-math.sin(x * ang), math.cos(x * ang))
            return (-math.cos((2 * n - x) * ang), math.sin((2 * n - x) * ang))
        x = 8 * n - x
        if x < 2 * n:
            if x < n:
                return (math.cos(x * ang), -math.sin(x * ang))
            return (math.sin((2 * n - x) * ang), -math.cos((2 * n - x) * ang))
        x -= 2 * n
        if x < n:
            return (-math.sin(x * ang), -math.cos(x * ang))
        return (-math.cos((2 * n - x) * ang), -math.sin((2 * n - x) * ang))

    nval = (n + 2) // 2
    shift = 1
    while (1 << shift) * (1 << shift) < nval:
        shift += 1
    mask = (1 << shift) - 1
    v1 = [(1.0, 0.0)] + [calc(i) for i in range(1, mask + 1)]
    v2 = [(1.0, 0.0)] + [calc(i * (mask + 1)) for i in range(1, (nval + mask) // (mask + 1))]

    def get(idx: int) -> tuple[float, float]:
        if 2 * idx <= n:
            a, b = v1[idx & mask], v2[idx >> shift]
            return (a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0])
        idx = n - idx
        a, b = v1[idx & mask], v2[idx >> shift]
        return (a[0] * b[0] - a[1] * b[1], -(a[0] * b[1] + a[1] * b[0]))

    return get


def dct32_twiddles() -> dict[str, list[float]]:
    """The three tables dct.js embeds: radix-2 pass, radix-4 pass (as pairs), DCT post-twiddle."""
    t32 = pocketfft_sincos_2pibyn(32)
    radix2 = [v for i in range(1, 8) for v in t32(i)]
    radix4 = [v for j in range(1, 4) for v in t32(2 * j)]
    t128 = pocketfft_sincos_2pibyn(128)
    post = [t128(i + 1)[0] for i in range(32)]
    return {"TW_RADIX2": radix2, "TW_RADIX4_PAIRS": radix4, "TW_DCT": post}


# ---------------------------------------------------------------------------------------------
# Image generators: all RGBA uint8 (h, w, 4); alpha 255 unless the case is about alpha.


def opaque(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), np.uint8)
    out[:, :, :3] = rgb
    out[:, :, 3] = 255
    return out


def flat(w, h, color):
    return opaque(np.broadcast_to(np.array(color, np.uint8), (h, w, 3)).copy())


def noise(rng, w, h):
    return opaque(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def gray_noise(rng, w, h, levels=8):
    """Low-entropy noise (few grey levels) so that larger images still compress well."""
    v = (rng.integers(0, levels, (h, w)) * (255 // (levels - 1))).astype(np.uint8)
    return opaque(np.repeat(v[:, :, None], 3, axis=2))


def block_noise(rng, w, h, block):
    small = rng.integers(0, 256, ((h + block - 1) // block, (w + block - 1) // block, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(small, block, axis=0), block, axis=1)[:h, :w]
    return opaque(big)


def gradient(w, h, kind="diag"):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    fx = x / max(w - 1, 1)
    fy = y / max(h - 1, 1)
    if kind == "h":
        r = g = b = fx
    elif kind == "v":
        r = g = b = fy
    else:  # a different direction per channel
        r, g, b = fx, fy, (fx + fy) / 2
    rgb = np.stack([r, g, b], axis=2) * 255.0
    return opaque(np.floor(rgb + 0.5).astype(np.uint8))


def two_tone(w, h, kind="lr", a=(20, 40, 60), b=(230, 210, 190)):
    y, x = np.mgrid[0:h, 0:w]
    if kind == "lr":
        mask = x >= w // 2
    elif kind == "tb":
        mask = y >= h // 2
    else:  # diagonal
        mask = x * h > y * w
    rgb = np.where(mask[:, :, None], np.array(b, np.uint8), np.array(a, np.uint8))
    return opaque(rgb.astype(np.uint8))


def checker(w, h, cell, a=(0, 0, 0), b=(255, 255, 255)):
    y, x = np.mgrid[0:h, 0:w]
    mask = ((x // cell) + (y // cell)) % 2 == 1
    rgb = np.where(mask[:, :, None], np.array(b, np.uint8), np.array(a, np.uint8))
    return opaque(rgb.astype(np.uint8))


def shapes(rng, w, h, count=6):
    img = gradient(w, h, "diag")[:, :, :3].astype(np.int32)
    y, x = np.mgrid[0:h, 0:w]
    for _ in range(count):
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        rad = int(rng.integers(max(2, min(w, h) // 12), max(3, min(w, h) // 3)))
        color = rng.integers(0, 256, 3)
        if rng.integers(0, 2):
            mask = (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad
        else:
            mask = (abs(x - cx) <= rad) & (abs(y - cy) <= rad // 2)
        img[mask] = color
    return opaque(img.astype(np.uint8))


def with_alpha(rng, rgba, transparent_share=0.3, block=1):
    """Random alpha; a share of pixels fully transparent while keeping a NON-ZERO stored RGB.
    block > 1 draws alpha per block (keeps the larger vectors small)."""
    out = rgba.copy()
    h, w = out.shape[:2]
    bh, bw = (h + block - 1) // block, (w + block - 1) // block
    alpha = rng.integers(1, 256, (bh, bw), dtype=np.uint8)
    alpha[rng.random((bh, bw)) < transparent_share] = 0
    alpha = np.repeat(np.repeat(alpha, block, axis=0), block, axis=1)[:h, :w]
    out[:, :, 3] = alpha
    rgb = out[:, :, :3]
    rgb[rgb.sum(axis=2) == 0] = (1, 2, 3)  # make sure transparent pixels carry colour
    return out


def transparent_with_colour(rng, w, h):
    """Fully transparent everywhere, stored RGB is a pattern: a canvas would zero it."""
    out = shapes(rng, w, h, 4)
    out[:, :, 3] = 0
    return out


# ---------------------------------------------------------------------------------------------
# Cases.


def image_cases(rng):
    cases = []

    def add(name, rgba, note=""):
        cases.append((name, rgba, note))

    # Tiny: PDQ's fewer-than-5 rule and LANCZOS upscaling from a handful of pixels.
    add("tiny_1x1_grey", flat(1, 1, (128, 128, 128)))
    add("tiny_1x1_colour", flat(1, 1, (250, 3, 77)))
    add("tiny_2x2_noise", noise(rng, 2, 2))
    add("tiny_3x3_noise", noise(rng, 3, 3))
    add("tiny_4x4_noise", noise(rng, 4, 4))
    add("tiny_4x4_checker", checker(4, 4, 1))
    add("tiny_3x7_noise", noise(rng, 3, 7))
    add("tiny_7x3_noise", noise(rng, 7, 3))
    add("tiny_4x9_gradient", gradient(4, 9))
    add("small_5x5_noise", noise(rng, 5, 5), "smallest PDQ-hashable size")
    add("small_5x4_noise", noise(rng, 5, 4))
    add("small_4x5_noise", noise(rng, 4, 5))
    add("small_6x5_twotone", two_tone(6, 5, "diag"))
    add("small_9x8_noise", noise(rng, 9, 8), "dhash size: no resample for dhash")
    add("small_8x8_noise", noise(rng, 8, 8), "ahash size: no resample for ahash")
    add("small_1x40_noise", noise(rng, 1, 40))
    add("small_40x1_noise", noise(rng, 40, 1))
    add("tiny_4x4_alpha", with_alpha(rng, noise(rng, 4, 4)))

    # Exactly 32x32 (phash skips the resize) and 64x64 (PDQ skips the Jarosz filter).
    for n in (32, 64):
        add(f"exact_{n}_noise", noise(rng, n, n))
        add(f"exact_{n}_flat", flat(n, n, (90, 140, 200)))
        add(f"exact_{n}_flat_black", flat(n, n, (0, 0, 0)))
        add(f"exact_{n}_twotone_lr", two_tone(n, n, "lr"))
        add(f"exact_{n}_twotone_tb", two_tone(n, n, "tb"))
        add(f"exact_{n}_checker1", checker(n, n, 1))
        add(f"exact_{n}_checker4", checker(n, n, 4, (30, 60, 90), (200, 100, 50)))
        add(f"exact_{n}_gradient", gradient(n, n))
        add(f"exact_{n}_shapes", shapes(rng, n, n))
        add(f"exact_{n}_alpha", with_alpha(rng, shapes(rng, n, n)))
    add("exact_64_gradient_h", gradient(64, 64, "h"))
    add("exact_64_block_noise", block_noise(rng, 64, 64, 8))

    # Around the special sizes and Jarosz window changes (window = floor((n+127)/128)).
    add("near_63x65_noise", noise(rng, 63, 65))
    add("near_65x63_noise", noise(rng, 65, 63))
    add("near_31x33_noise", noise(rng, 31, 33))
    add("near_128x128_checker1", checker(128, 128, 1))
    add("near_129x130_noise", noise(rng, 129, 130), "Jarosz window 2")
    add("near_256x200_gradient", gradient(256, 200))
    add("near_257x129_shapes", shapes(rng, 257, 129))
    add("near_150x150_flat", flat(150, 150, (17, 99, 201)))
    add("near_160x120_twotone", two_tone(160, 120, "diag"))
    add("near_200x150_gray_noise", gray_noise(rng, 200, 150, 4))
    add("near_192x192_checker3", checker(192, 192, 3))

    # Extreme aspect ratios.
    add("aspect_2000x3_noise", noise(rng, 2000, 3))
    add("aspect_3x2000_noise", noise(rng, 3, 2000))
    add("aspect_1000x7_gradient", gradient(1000, 7))
    add("aspect_7x1000_noise", noise(rng, 7, 1000))
    add("aspect_1000x7_noise", noise(rng, 1000, 7))
    add("aspect_600x5_noise", noise(rng, 600, 5))
    add("aspect_5x600_shapes", shapes(rng, 5, 600))
    add("aspect_1x300_noise", noise(rng, 1, 300))
    add("aspect_300x1_noise", noise(rng, 300, 1))
    add("aspect_900x40_block_noise", block_noise(rng, 900, 40, 5))

    # Pillow 13 pass-order boundary (W=100): phash flips at H=169, dhash at 191, ahash at 193.
    for h in (168, 169, 190, 191, 192, 193):
        add(f"order_100x{h}_noise", gray_noise(rng, 100, h, 16))
    add("order_300x900_shapes", shapes(rng, 300, 900), "vertical-first for all three")
    add("order_900x300_shapes", shapes(rng, 900, 300), "horizontal-first for all three")
    add("order_120x700_block_noise", block_noise(rng, 120, 700, 3))

    # Mid-size: Jarosz windows 3-5 and long LANCZOS kernels.
    add("mid_640x480_shapes", shapes(rng, 640, 480, 10))
    add("mid_640x480_block_noise", block_noise(rng, 640, 480, 8))
    add("mid_333x517_gray_noise", gray_noise(rng, 333, 517, 8))
    add("mid_517x333_gradient", gradient(517, 333))
    add("mid_480x640_alpha_shapes", with_alpha(rng, shapes(rng, 480, 640, 8), 0.5, block=8))
    add("mid_400x300_checker2", checker(400, 300, 2, (10, 10, 10), (245, 245, 245)))
    add("mid_350x350_twotone_tb", two_tone(350, 350, "tb"))
    add("mid_300x200_transparent", transparent_with_colour(rng, 300, 200))
    add("mid_500x500_flat_white", flat(500, 500, (255, 255, 255)))
    return cases


def main() -> int:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)

    # 1. Full fingerprints.
    vectors = []
    for name, rgba, note in image_cases(rng):
        h, w = rgba.shape[:2]
        expected = reference_fingerprints(rgba)
        vectors.append(
            {
                "name": name,
                "note": note,
                "width": int(w),
                "height": int(h),
                "rgba_sub_zlib_b64": pack_pixels(rgba),
                "pillow13_vertical_first": {
                    "phash": pillow13_vertical_first(w, h, 32, 32),
                    "dhash": pillow13_vertical_first(w, h, 9, 8),
                    "ahash": pillow13_vertical_first(w, h, 8, 8),
                },
                "expected": expected,
            }
        )

    # 2. LANCZOS resize on mode L, many size pairs in both pass orders and both directions.
    resize_cases = []
    sizes = [
        ((100, 169), (32, 32)),
        ((100, 168), (32, 32)),
        ((333, 517), (32, 32)),
        ((517, 333), (9, 8)),
        ((200, 700), (8, 8)),
        ((3, 50), (32, 32)),
        ((50, 3), (32, 32)),
        ((1, 1), (32, 32)),
        ((7, 5), (9, 8)),
        ((32, 90), (32, 32)),
        ((90, 32), (32, 32)),
        ((40, 41), (64, 20)),
        ((257, 129), (31, 45)),
    ]
    for (w, h), (tw, th) in sizes:
        for kind in ("noise", "shapes"):
            if kind == "noise" and w * h <= 40000:
                gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
            elif kind == "noise":  # low-entropy noise keeps the file small
                gray = (rng.integers(0, 8, (h, w)) * 36).astype(np.uint8)
            else:
                gray = np.asarray(Image.fromarray(shapes(rng, w, h)).convert("L"))
            out = reference_resize(gray, (tw, th))
            resize_cases.append(
                {
                    "name": f"{kind}_{w}x{h}_to_{tw}x{th}",
                    "width": w,
                    "height": h,
                    "out_width": tw,
                    "out_height": th,
                    "vertical_first": pillow13_vertical_first(w, h, tw, th),
                    "gray_sub_zlib_b64": pack_pixels(gray),
                    "expected_zlib_b64": pack(out),
                }
            )

    # 3. phash's DCT: the full 32x32 float64 output, bit for bit (ties matter on flat images).
    dct_cases = []
    blocks = {
        "flat_0": np.zeros((32, 32), np.uint8),
        "flat_137": np.full((32, 32), 137, np.uint8),
        "twotone_lr": np.where(np.arange(32)[None, :] >= 16, 220, 30).repeat(32, 0).astype(np.uint8),
        "twotone_tb": np.where(np.arange(32)[:, None] >= 16, 220, 30).repeat(32, 1).astype(np.uint8),
        "checker1": (((np.indices((32, 32)).sum(0)) % 2) * 255).astype(np.uint8),
        "checker4": ((((np.indices((32, 32)) // 4).sum(0)) % 2) * 200 + 20).astype(np.uint8),
        "ramp": (np.indices((32, 32)).sum(0) * 4).astype(np.uint8),
    }
    for i in range(12):
        blocks[f"noise_{i}"] = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    for name, block in blocks.items():
        out = reference_dct(block)
        assert out.dtype == np.float64
        dct_cases.append(
            {
                "name": name,
                "input_zlib_b64": pack(block),
                "expected_f64le_zlib_b64": pack(out.astype("<f8")),
            }
        )

    files = {
        "fingerprints.json": {"seed": SEED, "cases": vectors},
        "resize.json": {"seed": SEED, "cases": resize_cases},
        "dct.json": {"seed": SEED, "cases": dct_cases},
    }
    meta = {
        "generator": "tests/vectors/make_vectors.py",
        "versions": {
            "Pillow": Image.__version__,
            "imagehash": imagehash.__version__,
            "pdqhash": pdqhash.__version__,
            "numpy": np.__version__,
            "scipy": scipy_version(),
        },
    }
    for fname, payload in files.items():
        payload = {**meta, **payload}
        (OUT / fname).write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
        print(f"{fname}: {len(payload['cases'])} cases, {(OUT / fname).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
