"""The pure-Python fingerprint library: validation, distances, thresholds, reference hashers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
import skimage
from PIL import Image, ImageDraw

from hashbank.fingerprints import SIGNAL_TYPES, FingerprintError, get_signal_type, validate
from hashbank.fingerprints.ahash import AHash
from hashbank.fingerprints.dhash import DHash
from hashbank.fingerprints.md5 import MD5
from hashbank.fingerprints.pdq import PDQ
from hashbank.fingerprints.phash import PHash
from hashbank.fingerprints.sha256 import SHA256
from hashbank.fingerprints.video_md5 import VideoMD5
from hashbank.fingerprints.vpdq import VPDQ
from tests.conftest import ROOT

HEX_TYPES = [PDQ, PHash, DHash, AHash, MD5, SHA256, VideoMD5]
PHOTOS = Path(skimage.__file__).parent / "data"


def test_library_imports_no_django():
    code = (
        "import sys, hashbank.fingerprints, hashbank.fingerprints.registry;"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_registry_names_match_python_threatexchange():
    assert {"pdq", "video_md5", "vpdq", "phash", "dhash", "ahash", "md5", "sha256"} == set(SIGNAL_TYPES)
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal

    assert PdqSignal.get_name() == PDQ.name
    assert VideoMD5Signal.get_name() == VideoMD5.name


@pytest.mark.parametrize("signal", list(SIGNAL_TYPES.values()), ids=list(SIGNAL_TYPES))
def test_examples_are_valid_and_already_normal(signal):
    examples = signal.get_examples()
    assert examples
    for value in examples:
        assert signal.validate(value) == value
        assert signal.distance(value, value) == 0
        assert signal.matches(value, value)


@pytest.mark.parametrize("signal", HEX_TYPES, ids=lambda s: s.name)
def test_uppercase_and_whitespace_are_normalised(signal):
    value = signal.get_examples()[0]
    assert signal.validate(f"  {value.upper()}\n") == value


@pytest.mark.parametrize("signal", HEX_TYPES, ids=lambda s: s.name)
def test_wrong_length_is_refused_with_the_lengths(signal):
    value = signal.get_examples()[0]
    with pytest.raises(FingerprintError, match=rf"expected {len(value)} hex digits, got {len(value) - 1}"):
        signal.validate(value[:-1])
    with pytest.raises(FingerprintError, match=rf"got {len(value) + 2}"):
        signal.validate(value + "ab")
    with pytest.raises(FingerprintError):
        signal.validate("")


@pytest.mark.parametrize("signal", HEX_TYPES, ids=lambda s: s.name)
def test_non_hex_is_refused_naming_the_character(signal):
    value = signal.get_examples()[0]
    bad = value[:5] + "g" + value[6:]
    with pytest.raises(FingerprintError, match=r"'g' at position 5 is not a hex digit"):
        signal.validate(bad)


@pytest.mark.parametrize("signal", HEX_TYPES, ids=lambda s: s.name)
@pytest.mark.parametrize("value", [None, 12, b"00", ["a"], {"v": 1}])
def test_non_strings_are_refused(signal, value):
    with pytest.raises(FingerprintError, match="expected a string"):
        signal.validate(value)


@pytest.mark.parametrize(
    ("signal", "value"),
    [
        (PDQ, "0" * 64),
        (PDQ, "f" * 64),
        (PDQ, "0" * 60 + "ffff"),  # 16 bits set: nothing a real image gives
        (PHash, "0" * 16),
        (DHash, "f" * 16),
        (AHash, "0" * 16),
        (MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        (VideoMD5, "D41D8CD98F00B204E9800998ECF8427E"),
        (SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ],
)
def test_degenerate_values_are_refused(signal, value):
    with pytest.raises(FingerprintError, match="degenerate"):
        signal.validate(value)


def test_pdq_quality_floor():
    value = PDQ.get_examples()[0]
    assert PDQ.validate(value, quality=50) == value
    assert PDQ.validate(value, quality=100) == value
    with pytest.raises(FingerprintError, match="quality 49 is below the floor of 50"):
        PDQ.validate(value, quality=49)
    for bad in (-1, 101, 50.5, "80", True):
        with pytest.raises(FingerprintError, match="quality"):
            PDQ.validate(value, quality=bad)


def flip_bits(value: str, count: int, bits: int) -> str:
    number = int(value, 16)
    for bit in range(count):
        number ^= 1 << (bit * 7 % bits)
    return f"{number:0{bits // 4}x}"


@pytest.mark.parametrize("signal", [PDQ, PHash, DHash, AHash], ids=lambda s: s.name)
def test_distance_and_threshold(signal):
    value = signal.get_examples()[0]
    bits = signal.bits
    at = flip_bits(value, signal.threshold, bits)
    beyond = flip_bits(value, signal.threshold + 1, bits)
    assert signal.distance(value, at) == signal.threshold
    assert signal.matches(value, at)
    assert signal.distance(value, beyond) == signal.threshold + 1
    assert not signal.matches(value, beyond)


def test_pdq_threshold_is_metas_31():
    assert PDQ.threshold == 31


@pytest.mark.parametrize("signal", [MD5, SHA256, VideoMD5], ids=lambda s: s.name)
def test_exact_signals_match_only_identical_values(signal):
    a, b = signal.get_examples()[:2]
    assert signal.threshold == 0
    assert signal.matches(a, a.upper())
    assert not signal.matches(a, b)


def test_unknown_signal_type_lists_the_known_ones():
    with pytest.raises(FingerprintError, match=r"unknown signal type 'photodna'.*pdq"):
        validate("photodna", "00")
    assert get_signal_type("pdq") is PDQ


def test_vpdq_validates_each_frame():
    example = VPDQ.get_examples()[0]
    assert VPDQ.validate(example) == example
    frames = json.loads(example)
    upper = json.dumps([frames[0].upper().replace("E", "e")])  # upper-case hex is normalised
    assert VPDQ.validate(upper) == VPDQ.serialise([(frames[0].split(",")[0], 100, 0.0)])
    for bad, message in [
        ("not json", "not valid JSON"),
        ("[]", "non-empty"),
        ('["abc,100,0"]', "expected 64 hex digits"),
        (json.dumps([frames[0].rsplit(",", 1)[0]]), "frame 0 is not"),
        (json.dumps([frames[0].replace(",100,", ",101,")]), "outside 0..100"),
        (json.dumps([frames[0].replace(",100,", ",x,")]), "not a number"),
        (json.dumps([frames[0].rsplit(",", 1)[0] + ",-1"]), "non-negative"),
        (json.dumps([frames[0].replace(",100,", ",10,")]), "quality floor"),
    ]:
        with pytest.raises(FingerprintError, match=message):
            VPDQ.validate(bad)


def test_vpdq_matching_is_by_share_of_frames():
    example = VPDQ.get_examples()[0]
    frames = VPDQ.parse(example)
    # The bridge-mods examples are all near one another; a disjoint video shares nothing.
    other = VPDQ.serialise([(f"{int(h, 16) ^ int('f' * 64, 16):064x}", q, t) for h, q, t in frames])
    assert VPDQ.matches(example, example)
    assert VPDQ.distance(example, example) == 0
    assert not VPDQ.matches(example, other)


# ---- reference hashers agree with the references on real files ---------------------------

def drawing(seed: int) -> Image.Image:
    """The seeded drawings the imagehash signal examples were computed from."""
    rng = np.random.default_rng(1)
    image = None
    for _ in range(seed + 1):
        image = Image.new("RGB", (200, 150), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        for _ in range(8):
            x, y = rng.integers(0, 200), rng.integers(0, 150)
            draw.ellipse([x, y, x + 40, y + 30], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return image


@pytest.mark.parametrize("signal", [PHash, DHash, AHash], ids=lambda s: s.name)
def test_imagehash_examples_are_real_hashes(signal):
    assert [signal.hash_image(drawing(i)) for i in range(3)] == signal.get_examples()


def real_files(tmp_path: Path) -> list[Path]:
    files = [PHOTOS / "chelsea.png", PHOTOS / "coffee.png", PHOTOS / "rocket.jpg", PHOTOS / "retina.jpg"]
    image = Image.open(PHOTOS / "astronaut.png").convert("RGB")
    image.save(tmp_path / "astronaut-q85.jpg", quality=85)
    image.save(tmp_path / "astronaut-progressive.jpg", quality=90, progressive=True)
    image.convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "astronaut-palette.png")
    return files + sorted(tmp_path.iterdir())


def test_pdq_reference_hasher_agrees_with_pdqhash(tmp_path):
    for path in real_files(tmp_path):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        bits, quality = pdqhash.compute(rgb)
        expected = f"{int(''.join(str(int(b)) for b in bits), 2):064x}"
        value, our_quality = PDQ.hash_file_with_quality(path)
        assert (value, our_quality) == (expected, quality), path.name
        assert PDQ.validate(value, quality=our_quality) == value
        variants, _ = PDQ.hash_pixels_dihedral(rgb)
        assert variants[0] == value and len(set(variants)) == 8


@pytest.mark.parametrize(
    ("signal", "function"),
    [(PHash, imagehash.phash), (DHash, imagehash.dhash), (AHash, imagehash.average_hash)],
    ids=["phash", "dhash", "ahash"],
)
def test_imagehash_reference_hashers_agree_with_imagehash(tmp_path, signal, function):
    for path in real_files(tmp_path):
        expected = str(function(Image.open(path)))
        assert signal.hash_file(path) == expected, path.name
        assert signal.validate(expected) == expected


def test_exact_reference_hashers_stream_files(tmp_path):
    import hashlib

    path = tmp_path / "big.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    path.write_bytes(data)
    assert MD5.hash_file(path) == hashlib.md5(data).hexdigest()
    assert SHA256.hash_file(path) == hashlib.sha256(data).hexdigest()
    assert VideoMD5.hash_file(path) == MD5.hash_file(path)


def test_near_copy_of_a_photo_matches_and_a_different_photo_does_not(tmp_path):
    original = Image.open(PHOTOS / "chelsea.png").convert("RGB")
    original.save(tmp_path / "copy.jpg", quality=70)
    a = PDQ.hash_file(PHOTOS / "chelsea.png")
    b = PDQ.hash_file(tmp_path / "copy.jpg")
    c = PDQ.hash_file(PHOTOS / "coffee.png")
    assert PDQ.matches(a, b)
    assert not PDQ.matches(a, c)
