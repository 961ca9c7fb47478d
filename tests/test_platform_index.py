"""The platform's exact PDQ index and the image matcher: every answer is checked against a brute
force over the whole bank, for every backend (the compiled scan, its numpy fallback, faiss), with
neighbours planted on both sides of the threshold and where multi-index hashing is most fragile
(every chunk but one at two flips). tests/test_platform_index_compiled.py adds clustered and
real photo banks and the compiled scan's own edge cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from hashbank.fingerprints import FingerprintError
from hashbank.platform import index as index_module
from hashbank.platform.index import MAX_THRESHOLD, Match, PDQIndex, available_backends, hashes_to_codes
from tests.conftest import ROOT, require

PHOTOS = Path(skimage.__file__).parent / "data"
BACKENDS = ["compiled", "numpy", "faiss"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "faiss":
        require("faiss" in available_backends(), "faiss-cpu (the [platform] extra)")
    if request.param == "compiled":
        require("compiled" in available_backends(), "the compiled scan (pip install -e . with a C compiler)")
    return request.param


# --------------------------------------------------------------------------------------------
# A bank with planted neighbours, and the brute-force oracle


def hexes(codes: np.ndarray) -> list[str]:
    return [row.tobytes().hex() for row in codes]


def flipped(code: np.ndarray, bits: list[int] | np.ndarray) -> np.ndarray:
    out = np.unpackbits(code.copy())
    out[np.asarray(bits, dtype=np.intp)] ^= 1
    return np.packbits(out)


def chunk_bits(chunk: int) -> np.ndarray:
    """Bit positions (in np.unpackbits order) of the index's 16-bit chunk ``chunk``: bytes
    2*chunk and 2*chunk+1 of the hash."""
    return np.arange(16 * chunk, 16 * chunk + 16)


def adversarial(rng: np.random.Generator, code: np.ndarray, distance: int) -> np.ndarray:
    """A neighbour at ``distance`` whose flips are spread as evenly as possible over the 16
    chunks (the fewest chunks within one flip, the worst case for the pigeonhole)."""
    per_chunk = [distance // 16 + (1 if c < distance % 16 else 0) for c in range(16)]
    order = rng.permutation(16)
    bits = [rng.choice(chunk_bits(int(c)), size=per_chunk[i], replace=False) for i, c in enumerate(order)]
    return flipped(code, np.concatenate(bits))


def plant(rng: np.random.Generator, size: int = 3000, queries: int = 160):
    """(bank, queries): every query has bank neighbours at 0, 1, 30, 31 and 32 bits, some with
    random flips, some adversarial, some with every flip in one half of the hash."""
    bank = [rng.integers(0, 256, size=(size, 32), dtype=np.uint8)]
    query_codes = rng.integers(0, 256, size=(queries, 32), dtype=np.uint8)
    distances = [0, 1, 2, 15, 16, 17, 30, 31, 32, 33, 40]
    for i, q in enumerate(query_codes):
        d = distances[i % len(distances)]
        kind = (i // len(distances)) % 4
        if kind == 0:
            neighbour = flipped(q, rng.choice(256, size=d, replace=False))
        elif kind == 1:
            neighbour = adversarial(rng, q, d)
        else:  # all flips in the first or the second half: the other half is the sketch
            half = np.arange(128) if kind == 2 else np.arange(128, 256)
            neighbour = flipped(q, rng.choice(half, size=min(d, 128), replace=False))
        bank.append(neighbour[None, :])
    # Exact duplicates of one stored hash under two keys.
    bank.append(bank[0][:1].copy())
    return np.concatenate(bank), query_codes


def brute_force(bank: np.ndarray, queries: np.ndarray, threshold: int, alive: np.ndarray | None = None):
    distance = np.bitwise_count(queries.view("<u8")[:, None, :] ^ bank.view("<u8")[None, :, :]).sum(axis=2)
    alive = np.ones(len(bank), dtype=bool) if alive is None else alive
    return [
        sorted((int(distance[q, r]), int(r)) for r in np.flatnonzero((distance[q] <= threshold) & alive))
        for q in range(len(queries))
    ]


def answers(index: PDQIndex, queries: np.ndarray, threshold: int | None = None) -> list[list[tuple[int, int]]]:
    """(distance, bank row) per query, with bank rows recovered from the keys "r<row>"."""
    out: list[list[tuple[int, int]]] = [[] for _ in queries]
    result = index.search(queries, threshold=threshold)
    for q, row, d in zip(result.query.tolist(), result.row.tolist(), result.distance.tolist(), strict=True):
        out[q].append((d, int(index.key_of(row)[1:])))
    return [sorted(x) for x in out]


def build(bank: np.ndarray, **options) -> PDQIndex:
    return PDQIndex.build(list(zip(hexes(bank), [f"r{i}" for i in range(len(bank))], strict=True)), **options)


# --------------------------------------------------------------------------------------------


def test_platform_imports_no_django():
    code = (
        "import sys, hashbank.platform, hashbank.platform.index, hashbank.platform.matcher, hashbank.platform.cli,"
        " hashbank.platform.feed, hashbank.platform.store, hashbank.platform.serve, hashbank.platform.exchange;"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_matches_brute_force_with_planted_neighbours(backend):
    rng = np.random.default_rng(7)
    bank, queries = plant(rng)
    index = build(bank, backend=backend)
    assert index.backend == backend
    expected = brute_force(bank, queries, 31)
    got = answers(index, queries)
    assert got == expected
    # The planted distances really are on both sides of the threshold.
    found = {d for matches in got for d, _ in matches}
    assert {0, 1, 30, 31} <= found
    assert max(found) == 31
    # Every query planted at 32 or more found nothing at that distance.
    assert sum(len(m) for m in got) == sum(len(m) for m in expected) > 100


def test_backends_give_identical_answers():
    require("faiss" in available_backends(), "faiss-cpu (the [platform] extra)")
    require("compiled" in available_backends(), "the compiled scan (pip install -e . with a C compiler)")
    rng = np.random.default_rng(11)
    bank, queries = plant(rng, size=4000, queries=220)
    a = build(bank, backend="numpy").search(queries)
    for other in ("faiss", "compiled"):
        b = build(bank, backend=other).search(queries)
        for left, right in zip(a, b, strict=True):
            np.testing.assert_array_equal(left, right)
            assert left.dtype == right.dtype
    assert len(a.query) > 0


def test_faiss_file_matches_faiss_own_writer(tmp_path):
    """The hand-written IVF file is byte for byte what faiss writes for the same inverted lists
    built through its public API (add_core with preassigned lists, then write_index_binary)."""
    require("faiss" in available_backends(), "faiss-cpu (the [platform] extra)")
    import faiss

    count = 100_000  # most of the 524,288 lists non-empty, so faiss writes its "full" layout
    codes = np.random.default_rng(17).integers(0, 256, size=(count, 32), dtype=np.uint8)
    for group in (0, 1):
        index_module._write_ivf(tmp_path / f"ours{group}.ivf", codes, group)
        ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(128), 128, index_module._GROUP_LISTS)
        ivf.is_trained = True
        first, second = index_module._sketch_words(group * 8)
        words = codes.view("<u8")
        sketch = np.ascontiguousarray(np.stack([words[:, first], words[:, second]], axis=1)).view(np.uint8)
        rows = np.arange(count, dtype=np.int64)
        for j in range(8):
            lists = np.ascontiguousarray(codes.view("<u2")[:, group * 8 + j].astype(np.int64) + j * 65536)
            ivf.add_core(count, faiss.swig_ptr(sketch), faiss.swig_ptr(rows), faiss.swig_ptr(lists))
        faiss.write_index_binary(ivf, str(tmp_path / f"faiss{group}.ivf"))
        assert (tmp_path / f"ours{group}.ivf").read_bytes() == (tmp_path / f"faiss{group}.ivf").read_bytes()


@pytest.mark.parametrize("threshold", [0, 15, 16, 47, MAX_THRESHOLD])
def test_other_thresholds(backend, threshold):
    rng = np.random.default_rng(threshold)
    bank = rng.integers(0, 256, size=(1500, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(40, 32), dtype=np.uint8)
    near = [adversarial(rng, q, d) for q in queries for d in (threshold, threshold + 1)]
    bank = np.concatenate([bank, np.array(near)])
    index = build(bank, backend=backend, threshold=threshold)
    assert answers(index, queries) == brute_force(bank, queries, threshold)
    if threshold:
        # A query may ask for less than the index's threshold, never more.
        assert answers(index, queries, threshold=threshold - 1) == brute_force(bank, queries, threshold - 1)
    if threshold < MAX_THRESHOLD:
        with pytest.raises(ValueError, match="above"):
            index.search(queries, threshold=threshold + 1)


def test_query_returns_keys_distances_and_hashes(backend):
    rng = np.random.default_rng(3)
    bank = rng.integers(0, 256, size=(500, 32), dtype=np.uint8)
    near = flipped(bank[42], [0, 100, 200])
    index = build(bank, backend=backend)
    assert index.query(near.tobytes().hex()) == [Match("r42", 3, bank[42].tobytes().hex())]
    assert index.query(rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()) == []
    many = index.query_many([near.tobytes().hex(), bank[7].tobytes().hex()])
    assert [[m.key for m in ms] for ms in many] == [["r42"], ["r7"]]
    assert len(index) == 500


def test_remove_is_honoured(backend, tmp_path):
    rng = np.random.default_rng(5)
    bank, queries = plant(rng, size=2000, queries=88)
    index = build(bank, backend=backend)
    alive = np.ones(len(bank), dtype=bool)

    # Withdraw by record key, and by hash (which removes every record holding it).
    assert index.remove_key("r2010") == 1
    alive[2010] = False
    assert index.remove(hexes(bank[2020:2021])[0]) == 1
    alive[2020] = False
    duplicate = hexes(bank[:1])[0]  # stored as r0 and as the last row
    assert index.remove(duplicate) == 2
    alive[0] = alive[-1] = False
    assert index.remove(duplicate) == 0
    assert index.remove_key("no-such-record") == 0
    assert len(index) == alive.sum()
    assert answers(index, queries) == brute_force(bank, queries, 31, alive)

    # Hashes added after the tables were built are found, and can be withdrawn too.
    extra = np.array([flipped(q, rng.choice(256, size=5, replace=False)) for q in queries[:10]])
    index.add_many(hexes(extra), [f"r{len(bank) + i}" for i in range(len(extra))])
    bank2 = np.concatenate([bank, extra])
    alive2 = np.concatenate([alive, np.ones(len(extra), dtype=bool)])
    assert answers(index, queries) == brute_force(bank2, queries, 31, alive2)
    assert index.remove_key(f"r{len(bank) + 3}") == 1
    alive2[len(bank) + 3] = False
    assert answers(index, queries) == brute_force(bank2, queries, 31, alive2)

    # Saved and loaded, the withdrawn hashes stay withdrawn and are gone from the files.
    index.save(tmp_path / "store")
    stored = {row.tobytes() for row in np.load(tmp_path / "store" / "codes.npy")}
    assert bank[2010].tobytes() not in stored
    assert bank[0].tobytes() not in stored
    assert extra[3].tobytes() not in stored
    assert len(stored) == alive2.sum()
    loaded = PDQIndex.load(tmp_path / "store", backend=backend)
    assert answers(loaded, queries) == brute_force(bank2, queries, 31, alive2)


def test_many_additions_rebuild_the_tables(backend, monkeypatch):
    monkeypatch.setattr(index_module, "PENDING_LIMIT", 50)
    rng = np.random.default_rng(9)
    bank, queries = plant(rng, size=600, queries=44)
    index = build(bank[:300], backend=backend)
    for start in range(300, len(bank), 40):
        index.add_many(hexes(bank[start : start + 40]), [f"r{i}" for i in range(start, min(start + 40, len(bank)))])
        index.search(queries[:1])  # rebuilds once more than 50 are waiting
    assert len(index._pending_alive) <= 50
    assert answers(index, queries) == brute_force(bank, queries, 31)


def test_save_and_load_round_trip(backend, tmp_path):
    rng = np.random.default_rng(13)
    bank, queries = plant(rng, size=2500, queries=66)
    index = build(bank, backend=backend, threshold=40)
    expected = index.search(queries)
    path = index.save(tmp_path / "pdq")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["count"] == len(bank)
    assert manifest["threshold"] == 40
    # The compiled scan reads the numpy backend's tables: one layout on disk for both.
    assert manifest["tables"] == ["numpy" if backend == "compiled" else backend]

    for other in BACKENDS:
        if other not in available_backends():
            continue
        for mmap in (True, False):
            loaded = PDQIndex.load(path, backend=other, mmap=mmap)
            assert loaded.threshold == 40
            assert len(loaded) == len(bank)
            got = loaded.search(queries)
            for left, right in zip(got, expected, strict=True):
                np.testing.assert_array_equal(left, right)
            assert [loaded.key_of(int(r)) for r in got.row] == [index.key_of(int(r)) for r in expected.row]
            loaded.close()

    # Saving over an existing store replaces it; saving over anything else is refused.
    index.remove_key("r1")
    index.save(path)
    assert len(PDQIndex.load(path, backend=backend)) == len(bank) - 1
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        index.save(tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pdq", "precious"]


def test_empty_index(backend, tmp_path):
    index = PDQIndex(backend=backend)
    q = np.zeros((3, 32), dtype=np.uint8)
    assert len(index.search(q).query) == 0
    index.save(tmp_path / "empty")
    loaded = PDQIndex.load(tmp_path / "empty", backend=backend)
    assert len(loaded) == 0
    loaded.add("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", "only")
    assert [m.key for m in loaded.query("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23")] == ["only"]


VALID = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.mark.parametrize(
    "bad",
    [VALID[:-1], VALID + "0", "", VALID[:-1] + "g", VALID[:-2] + " 2", "0x" + VALID[2:], "0" * 64, None, 12345],
)
def test_bad_hashes_are_refused(bad):
    index = build(np.random.default_rng(1).integers(0, 256, size=(50, 32), dtype=np.uint8))
    with pytest.raises(FingerprintError):
        index.query(bad)
    with pytest.raises(FingerprintError):
        index.add_many([VALID, bad], ["good", "bad"])
    assert len(index) == 50  # nothing was added, not even the valid one
    with pytest.raises(FingerprintError):
        index.remove(bad)
    with pytest.raises(FingerprintError):
        hashes_to_codes([bad])


def test_bad_keys_thresholds_and_arrays_are_refused():
    index = PDQIndex(backend="numpy")
    with pytest.raises(ValueError, match="empty"):
        index.add(VALID, "")
    with pytest.raises(TypeError):
        index.add(VALID, 7)
    with pytest.raises(ValueError, match="keys"):
        index.add_many([VALID, VALID], ["one"])
    for threshold in (-1, MAX_THRESHOLD + 1):
        with pytest.raises(ValueError):
            PDQIndex(threshold=threshold)
    with pytest.raises(TypeError):
        PDQIndex(threshold=True)
    with pytest.raises(ValueError):
        PDQIndex(backend="annoy")
    with pytest.raises(ValueError):
        index.search(np.zeros((2, 31), dtype=np.uint8))
    with pytest.raises(ValueError):
        index.search(np.zeros((2, 32), dtype=np.int64))
    assert len(index) == 0


# --------------------------------------------------------------------------------------------
# The matcher and the command line


@pytest.fixture
def image_store(tmp_path):
    from hashbank.platform.matcher import hash_image

    listed = hash_image(PHOTOS / "astronaut.png")
    other = hash_image(PHOTOS / "camera.png")
    index = PDQIndex.build([(listed.hashes[0], "case-1"), (other.hashes[0], "case-2")], backend="numpy")
    index.save(tmp_path / "store")
    rotated = tmp_path / "rotated.jpg"
    Image.open(PHOTOS / "astronaut.png").convert("RGB").transpose(Image.Transpose.ROTATE_90).save(rotated, quality=85)
    flat = tmp_path / "flat.png"
    Image.new("RGB", (64, 64), (120, 120, 120)).save(flat)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    return tmp_path / "store", rotated, flat, broken


def test_match_files_finds_rotated_copies(image_store, backend):
    from hashbank.platform.matcher import VARIANTS, match_files

    store, rotated, flat, broken = image_store
    index = PDQIndex.load(store, backend=backend)
    unrelated = PHOTOS / "coffee.png"
    original, turned, skipped, failed, other = match_files(
        index, [PHOTOS / "astronaut.png", rotated, flat, broken, unrelated]
    )

    assert [(m.key, m.distance, m.variant) for m in original.matches] == [("case-1", 0, "original")]
    assert [m.key for m in turned.matches] == ["case-1"]
    match = turned.matches[0]
    assert match.variant != "original" and match.variant in VARIANTS
    assert 0 < match.distance <= 31
    assert bin(int(match.query_hash, 16) ^ int(match.stored_hash, 16)).count("1") == match.distance
    assert (
        skipped.matches == [] and skipped.quality is not None and skipped.quality < 50 and "quality" in skipped.skipped
    )
    assert failed.error and failed.matches == []
    assert other.matches == [] and other.error is None and other.skipped is None


def test_match_command(image_store):
    store, rotated, flat, broken = image_store
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    run = [sys.executable, "-m", "hashbank.platform", "match", "--store", str(store)]

    ok = subprocess.run([*run, "--json", str(rotated), str(flat)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    lines = [json.loads(line) for line in ok.stdout.splitlines()]
    assert [m["key"] for m in lines[0]["matches"]] == ["case-1"]
    assert lines[1]["skipped"] and lines[1]["matches"] == []

    text = subprocess.run([*run, str(rotated), str(broken)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert text.returncode == 1  # one file could not be read
    assert "case-1  distance" in text.stdout and "broken.png: error" in text.stdout

    missing = subprocess.run(
        [sys.executable, "-m", "hashbank.platform", "match", "--store", str(store.parent / "nope"), str(rotated)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "not an index store" in missing.stderr
