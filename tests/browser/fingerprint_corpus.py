"""Real image files for the browser fingerprint tests and benchmarks, and their reference
fingerprints computed the way platforms compute them (Pillow-decoded pixels into pdqhash and
imagehash; hashlib on the bytes).

The photographs ship inside scikit-image's wheel (skimage/data): nothing is downloaded. Files
are written by Pillow, except the PNG variants Pillow cannot write (16-bit RGB, interlaced,
low bit depths with chosen filters), which `write_png` builds chunk by chunk.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageCms

from hashbank.fingerprints.images import heif_registered
from hashbank.fingerprints.pdq import bits_to_hex

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg",
          "motorcycle_left.png", "immunohistochemistry.png", "camera.png", "coins.png", "moon.png", "page.png",
          "brick.png", "grass.png", "gravel.png", "color.png", "motorcycle_right.png", "cell.png",
          "microaneurysms.png", "text.png", "horse.png", "clock_motion.png", "logo.png"]


def photo(name: str) -> Image.Image:
    """A scikit-image photograph as an RGB Pillow image (grey ones replicated)."""
    path = SKIMAGE_DATA / name
    if not path.exists() and name == "immunohistochemistry.png":
        path = SKIMAGE_DATA / "ihc.png"
    with Image.open(path) as im:
        return im.convert("RGB")


def available_photos() -> list[str]:
    return [n for n in PHOTOS if (SKIMAGE_DATA / n).exists() or n == "immunohistochemistry.png"]


@dataclass
class Reference:
    pdq: str
    pdq_quality: int
    pdq_dihedral: list[str]
    phash: str
    dhash: str
    ahash: str
    md5: str
    sha256: str
    width: int
    height: int
    rgb: np.ndarray  # Pillow's convert('RGB') of frame 0, what pdqhash hashes


def reference(data: bytes) -> Reference:
    """What a platform's Python tools compute for these file bytes (HEIC through pillow-heif,
    as the reference hashers and the platform tools open it)."""
    heif_registered()
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        with warnings.catch_warnings():
            # Pillow warns about palette transparency expressed in bytes; the colours are
            # still the palette's, which is what every platform hashes.
            warnings.simplefilter("ignore")
            rgb = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
            phash = str(imagehash.phash(im))
            dhash = str(imagehash.dhash(im))
            ahash = str(imagehash.average_hash(im))
    bits, quality = pdqhash.compute(rgb)
    variants, _ = pdqhash.compute_dihedral(rgb)
    return Reference(
        pdq=bits_to_hex(bits),
        pdq_quality=int(quality),
        pdq_dihedral=[bits_to_hex(v) for v in variants],
        phash=phash,
        dhash=dhash,
        ahash=ahash,
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        width=rgb.shape[1],
        height=rgb.shape[0],
        rgb=rgb,
    )


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


# --- PNG written by hand ------------------------------------------------------------------

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pack_rows(samples: np.ndarray, bit_depth: int) -> list[bytes]:
    """samples: (h, w, channels) integers < 2**bit_depth -> packed scanlines (no filter byte)."""
    h = samples.shape[0]
    rows = []
    for y in range(h):
        flat = samples[y].reshape(-1)
        if bit_depth == 16:
            rows.append(flat.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            bits = np.unpackbits(flat.astype(np.uint8)[:, None], axis=1)[:, 8 - bit_depth:].reshape(-1)
            rows.append(np.packbits(bits).tobytes())
    return rows


def _filter(rows: list[bytes], bpp: int, filters: list[int]) -> bytes:
    """Apply PNG filters (cycling through `filters`) so the decoder's unfiltering is exercised.
    Encoding predicts from the original bytes, so each row is one vectorised step."""
    out = bytearray()
    prev = np.zeros(len(rows[0]) if rows else 0, dtype=np.int32)
    for y, row in enumerate(rows):
        f = filters[y % len(filters)]
        cur = np.frombuffer(row, dtype=np.uint8).astype(np.int32)
        a = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])[: len(cur)]
        c = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])[: len(cur)]
        b = prev
        if f == 0:
            p = np.zeros_like(cur)
        elif f == 1:
            p = a
        elif f == 2:
            p = b
        elif f == 3:
            p = (a + b) >> 1
        else:
            pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
            p = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        out.append(f)
        out += ((cur - p) & 255).astype(np.uint8).tobytes()
        prev = cur
    return bytes(out)


def write_png(samples: np.ndarray, color_type: int, bit_depth: int, *, interlace: bool = False,
              palette: np.ndarray | None = None, trns: bytes | None = None,
              filters: tuple[int, ...] = (0, 1, 2, 3, 4), extra_chunks: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A PNG of raw samples (h, w) or (h, w, channels), any colour type and bit depth."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w, ch = samples.shape
    assert ch == CHANNELS[color_type]
    bpp = max(1, ch * bit_depth // 8)
    if not interlace:
        raw = _filter(_pack_rows(samples, bit_depth), bpp, list(filters))
    else:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.size:
                raw += _filter(_pack_rows(sub, bit_depth), bpp, list(filters))
    header = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, int(interlace))
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    for kind, data in extra_chunks:
        parts.append(_chunk(kind, data))
    if palette is not None:
        parts.append(_chunk(b"PLTE", palette.astype(np.uint8).tobytes()))
    if trns is not None:
        parts.append(_chunk(b"tRNS", trns))
    comp = zlib.compress(raw, 6)
    # Several IDAT chunks, as large encoders write them.
    for i in range(0, len(comp), 65536):
        parts.append(_chunk(b"IDAT", comp[i:i + 65536]))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def with_exif_orientation(image: Image.Image, orientation: int, **options) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes(), **options)


def lossless_files() -> dict[str, bytes]:
    """Files whose pixels the browser must reproduce exactly: PNG in all its forms, GIF, WebP
    lossless, BMP. Built from photographs so the hashes are meaningful."""
    files: dict[str, bytes] = {}
    astronaut = photo("astronaut.png")
    chelsea = photo("chelsea.png")
    coffee = photo("coffee.png")
    rocket = photo("rocket.jpg")
    a = np.asarray(astronaut)
    files["astronaut-rgb8.png"] = encode(astronaut, "PNG")
    files["coffee-rgb8-filters-interlaced.png"] = write_png(np.asarray(coffee), 2, 8, interlace=True)
    # 16 bits: the low byte varies too, so taking the wrong byte or rounding would show.
    rng = np.random.default_rng(3)
    a16 = a.astype(np.uint16) * 256 + rng.integers(0, 256, a.shape, dtype=np.uint16)
    files["astronaut-rgb16.png"] = write_png(a16, 2, 16)
    files["chelsea-rgba16-interlaced.png"] = write_png(
        np.dstack([np.asarray(chelsea).astype(np.uint16) * 257,
                   np.tile(np.linspace(0, 65535, chelsea.width).astype(np.uint16), (chelsea.height, 1))]),
        6, 16, interlace=True)
    grey = np.asarray(photo("camera.png"))[:, :, 0]
    files["camera-grey16.png"] = write_png((grey.astype(np.uint16) * 2 + 60), 0, 16)  # Pillow clips > 255
    files["camera-grey8.png"] = encode(Image.fromarray(grey), "PNG")
    for bits in (1, 2, 4):
        files[f"camera-grey{bits}.png"] = write_png(grey >> (8 - bits), 0, bits, interlace=bits == 2)
    files["camera-grey-alpha8.png"] = write_png(np.dstack([grey, 255 - grey]), 4, 8)
    # Transparency: many fully transparent pixels that keep a stored colour.
    ch = np.asarray(chelsea)
    alpha = np.where((np.arange(ch.shape[1])[None, :] // 16 + np.arange(ch.shape[0])[:, None] // 16) % 2 == 0, 0, 255)
    alpha = np.minimum(alpha, np.linspace(40, 255, ch.shape[1])[None, :]).astype(np.uint8)
    files["chelsea-rgba8-transparent.png"] = encode(Image.fromarray(np.dstack([ch, alpha]), "RGBA"), "PNG")
    # Palette: 256 colours with tRNS, and a 4-bit palette of 16 colours.
    pal = coffee.quantize(256)
    files["coffee-palette8-trns.png"] = encode(pal, "PNG", transparency=bytes([0, 128] + [255] * 30))
    pal16 = rocket.quantize(16)
    files["rocket-palette4.png"] = write_png(
        np.asarray(pal16), 3, 4, palette=np.asarray(pal16.getpalette()[:48]).reshape(16, 3), trns=bytes([0, 200]))
    # sRGB / gAMA / iCCP-like chunks that browsers would act on and Pillow ignores.
    files["astronaut-gamma.png"] = write_png(a, 2, 8, extra_chunks=((b"gAMA", struct.pack(">I", 100000)),))
    # Animated GIF: frame 0 counts; a transparent index keeps its palette colour.
    f0 = astronaut.resize((256, 256)).quantize(255)
    f1 = chelsea.resize((256, 256)).quantize(255)
    files["animated.gif"] = encode(f0, "GIF", save_all=True, append_images=[f1], duration=100, loop=0, transparency=3)
    files["chelsea-interlaced.gif"] = encode(chelsea.quantize(64), "GIF", interlace=True)
    files["coffee-lossless.webp"] = encode(coffee, "WEBP", lossless=True)
    files["rocket.bmp"] = encode(rocket, "BMP")
    return files


def jpeg_files() -> dict[str, tuple[bytes, int]]:
    """JPEG (and lossy WebP) files of photographs, with the quality they were written at."""
    files: dict[str, tuple[bytes, int]] = {}
    for name in ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg",
                 "motorcycle_left.png", "camera.png", "immunohistochemistry.png"]:
        im = photo(name)
        stem = name.rsplit(".", 1)[0]
        files[f"{stem}-q90.jpg"] = (encode(im, "JPEG", quality=90), 90)
        files[f"{stem}-q80-progressive.jpg"] = (encode(im, "JPEG", quality=80, progressive=True), 80)
    chelsea = photo("chelsea.png")
    files["chelsea-q95-444.jpg"] = (encode(chelsea, "JPEG", quality=95, subsampling=0), 95)
    files["chelsea-q60.jpg"] = (encode(chelsea, "JPEG", quality=60), 60)
    files["astronaut-exif6.jpg"] = (with_exif_orientation(photo("astronaut.png").resize((400, 300)), 6, quality=90), 90)
    files["coffee-exif3.jpg"] = (with_exif_orientation(photo("coffee.png"), 3, quality=90), 90)
    files["grey-q90.jpg"] = (encode(photo("camera.png").convert("L"), "JPEG", quality=90), 90)
    return files


def cmyk_jpeg() -> bytes:
    return encode(photo("coffee.png").convert("CMYK"), "JPEG", quality=92)


def lossy_webp() -> bytes:
    return encode(photo("astronaut.png"), "WEBP", quality=90)


# --- colour profiles (ICC) ----------------------------------------------------------------
#
# Phones tag their photos with a colour profile: iPhones write Display P3 (ICC v4, a 3x3
# matrix with the sRGB tone curve). Pillow and so pdqhash/imagehash ignore it; a browser that
# applies it changes the pixels. The profiles here are built byte by byte from the published
# primaries (no profile file is downloaded or needed), in the layout Apple's Display P3 has,
# and lcms2 (through Pillow's ImageCms) reads and applies them, which proves they are valid.

_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
_D50 = np.array([0.9642, 1.0, 0.8249])
DISPLAY_P3 = {"primaries": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), "white": (0.3127, 0.3290)}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _mluc(text: str) -> bytes:
    s = text.encode("utf-16-be")
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(s), 28) + s


def _srgb_curve() -> bytes:
    # parametricCurveType, function 3: the sRGB tone curve exactly as Apple's profile has it.
    params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in params)


def _sampled_curve(gamma: float, n: int) -> bytes:
    table = np.round(np.linspace(0, 1, n) ** gamma * 65535).astype(">u2").tobytes()
    return b"curv" + bytes(4) + struct.pack(">I", n) + table


def _xy(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def icc_profile(description: str = "Display P3", *, primaries=DISPLAY_P3["primaries"], white=DISPLAY_P3["white"],
                curve_entries: int = 0) -> bytes:
    """An ICC v4 display profile: `primaries` and `white` (CIE xy), adapted to D50 with
    Bradford as ICC requires, with the sRGB tone curve, or (curve_entries > 0) a sampled
    gamma-2.2 curve of that many entries per channel, to make a profile too large for one
    JPEG marker segment."""
    w = _xy(*white)
    p = np.column_stack([_xy(*c) for c in primaries])
    rgb_to_xyz = p * np.linalg.solve(p, w)
    chad = np.linalg.inv(_BRADFORD) @ np.diag((_BRADFORD @ _D50) / (_BRADFORD @ w)) @ _BRADFORD
    m = chad @ rgb_to_xyz
    curve = _sampled_curve(2.2, curve_entries) if curve_entries else _srgb_curve()
    tags = [(b"desc", _mluc(description)), (b"cprt", _mluc("No copyright, use freely")), (b"wtpt", _xyz_tag(_D50)),
            (b"chad", b"sf32" + bytes(4) + b"".join(_s15(v) for v in chad.ravel())),
            (b"rXYZ", _xyz_tag(m[:, 0])), (b"gXYZ", _xyz_tag(m[:, 1])), (b"bXYZ", _xyz_tag(m[:, 2])),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    table_end = 128 + 4 + 12 * len(tags)
    entries, blobs, offsets = [], b"", {}
    for sig, data in tags:
        if data not in offsets:  # the three tone curves share one copy, as in Apple's profile
            offsets[data] = table_end + len(blobs)
            blobs += data + bytes(-len(data) % 4)
        entries.append(sig + struct.pack(">II", offsets[data], len(data)))
    size = table_end + len(blobs)
    header = (struct.pack(">I", size) + b"lcms" + bytes([4, 0x30, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2022, 1, 1, 0, 0, 0) + b"acspAPPL" + bytes(4) + b"APPL" + bytes(4) + bytes(8)
              + struct.pack(">I", 0) + b"".join(_s15(v) for v in _D50) + b"lcms" + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + blobs


def as_if_profile_applied(image: Image.Image, profile: bytes) -> np.ndarray:
    """What a colour-managing decoder shows: the stored pixels converted from `profile` to sRGB."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    converted = ImageCms.profileToProfile(image.convert("RGB"), source, ImageCms.createProfile("sRGB"),
                                          renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB")
    return np.asarray(converted)


def phone_exif(orientation: int = 1) -> bytes:
    """EXIF as a phone writes it for a Display P3 photo: ColorSpace 'uncalibrated' (65535)."""
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0xA001] = 0xFFFF
    return exif.tobytes()


def icc_files() -> dict[str, bytes]:
    """Photographs tagged with a colour profile, in every container that carries one: what
    the browser must decode to the stored pixels, as Pillow does."""
    p3 = icc_profile()
    big = icc_profile("Display P3, sampled curves", curve_entries=40000)  # 80 kB > 65,519: two APP2 segments
    astronaut = photo("astronaut.png")
    coffee = photo("coffee.png")
    chelsea = photo("chelsea.png")
    return {
        "astronaut-p3-q90.jpg": encode(astronaut, "JPEG", quality=90, icc_profile=p3, exif=phone_exif()),
        "coffee-p3-q85-progressive.jpg": encode(coffee, "JPEG", quality=85, progressive=True, icc_profile=p3),
        "chelsea-p3-exif6.jpg": encode(chelsea, "JPEG", quality=90, icc_profile=p3, exif=phone_exif(6)),
        "rocket-p3-two-segments.jpg": encode(photo("rocket.jpg"), "JPEG", quality=90, icc_profile=big),
        "astronaut-p3.png": encode(astronaut, "PNG", icc_profile=p3),
        "coffee-p3-q90.webp": encode(coffee, "WEBP", quality=90, icc_profile=p3),
        "chelsea-p3-lossless.webp": encode(chelsea, "WEBP", lossless=True, icc_profile=p3),
    }


def transparent_lossy_webp() -> bytes:
    """A WebP with partial transparency: the browser's canvas premultiplies it, so it must be
    reported inexact in every browser."""
    chelsea = np.asarray(photo("chelsea.png"))
    alpha = np.tile(np.linspace(30, 255, chelsea.shape[1]).astype(np.uint8), (chelsea.shape[0], 1))
    return encode(Image.fromarray(np.dstack([chelsea, alpha]), "RGBA"), "WEBP", quality=90)


def heif_file(image: Image.Image, *, bit_depth: int = 8, quality: int = 85, **options) -> bytes:
    """A HEIC as pillow-heif (libheif with x265) writes it; `bit_depth` 10 or 12 for HDR
    photos, `exif` with an orientation becomes an irot/imir box, `icc_profile` an ICC colr."""
    import pillow_heif

    if bit_depth == 8:
        heif = pillow_heif.from_pillow(image)
    else:
        # A high-bit-depth image is given as 16-bit samples; pillow-heif keeps the top bits.
        mode = {"RGB": "RGB;16", "RGBA": "RGBA;16", "L": "L;16"}[image.mode]
        samples = np.asarray(image).astype(np.uint16) * 257
        heif = pillow_heif.from_bytes(mode, image.size, samples.tobytes())
        heif.info.update(image.info)
    out = io.BytesIO()
    heif.save(out, quality=quality, save_to_12bit=bit_depth == 12, **options)
    return out.getvalue()


def heif_files() -> dict[str, bytes]:
    """iPhone-style HEICs of every kind the browser must decode as pillow-heif does: 8, 10 and
    12 bits, with alpha, grey, rotated and mirrored by EXIF orientation (stored as irot/imir),
    with a Display P3 profile, odd sizes, 4:4:4 chroma and a lossless one."""
    astronaut = photo("astronaut.png")
    coffee = photo("coffee.png")
    chelsea = photo("chelsea.png")
    rgba = chelsea.convert("RGBA")
    alpha = np.asarray(rgba).copy()
    alpha[..., 3] = np.linspace(0, 255, alpha.shape[1], dtype=np.uint8)[None, :]
    rgba = Image.fromarray(alpha, "RGBA")
    grey = photo("camera.png").convert("L")
    files = {
        "astronaut-q85.heic": heif_file(astronaut),
        "coffee-10bit.heic": heif_file(coffee, bit_depth=10),
        "chelsea-12bit.heic": heif_file(chelsea, bit_depth=12, quality=90),
        "chelsea-alpha.heic": heif_file(rgba),
        "chelsea-alpha-10bit.heic": heif_file(rgba, bit_depth=10),
        "camera-grey.heic": heif_file(grey),
        "astronaut-exif6.heic": heif_file(astronaut, exif=phone_exif(6)),
        "coffee-exif5.heic": heif_file(coffee, exif=phone_exif(5)),  # mirrored and turned
        "chelsea-exif3.heic": heif_file(chelsea, exif=phone_exif(3)),
        "astronaut-p3.heic": heif_file(astronaut, icc_profile=icc_profile(), exif=phone_exif()),
        "rocket-odd-size.heic": heif_file(photo("rocket.jpg").crop((0, 0, 301, 207))),
        "coffee-444.heic": heif_file(coffee, chroma=444),
        "astronaut-lossless.heic": heif_file(astronaut.resize((192, 160)), quality=-1),
    }
    return files
