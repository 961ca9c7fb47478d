"""The PDQ index's compiled scan (hashbank/platform/_pdqscan.c) against its numpy fallback, faiss
and a brute force over the whole bank: random, clustered, near-duplicate and real photo banks,
buckets larger than one pass of the inner loop, every inner loop the processor has, both ways
of scanning (query by query, and many queries in bucket order), several threads at once, and
tables that are corrupt on disk (an error, never a crash)."""

from __future__ import annotations

import io
import platform
import sys
import threading

import numpy as np
import pytest
import skimage.data
from PIL import Image

from hashbank.fingerprints.pdq import PDQ, QUALITY_FLOOR
from hashbank.platform import index as index_module
from hashbank.platform.index import PDQIndex, available_backends
from tests.conftest import IN_CI, require

BACKENDS = ["compiled", "numpy", "faiss"]
COMPILED = "the compiled scan (pip install -e . with a C compiler)"


def need_compiled() -> None:
    require("compiled" in available_backends(), COMPILED)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "faiss":
        require("faiss" in available_backends(), "faiss-cpu (the [platform] extra)")
    if request.param == "compiled":
        need_compiled()
    return request.param


def hexes(codes: np.ndarray) -> list[str]:
    return [row.tobytes().hex() for row in codes]


def build(bank: np.ndarray, **options) -> PDQIndex:
    return PDQIndex.build(list(zip(hexes(bank), [f"r{i}" for i in range(len(bank))], strict=True)), **options)


def brute_force(bank: np.ndarray, queries: np.ndarray, threshold: int = 31) -> list[list[tuple[int, int]]]:
    distance = np.bitwise_count(queries.view("<u8")[:, None, :] ^ bank.view("<u8")[None, :, :]).sum(axis=2)
    return [
        sorted((int(distance[q, r]), int(r)) for r in np.flatnonzero(distance[q] <= threshold))
        for q in range(len(queries))
    ]


def answers(index: PDQIndex, queries: np.ndarray, threshold: int | None = None) -> list[list[tuple[int, int]]]:
    out: list[list[tuple[int, int]]] = [[] for _ in queries]
    result = index.search(queries, threshold=threshold)
    for q, row, d in zip(result.query.tolist(), result.row.tolist(), result.distance.tolist(), strict=True):
        out[q].append((d, int(index.key_of(row)[1:])))
    # Already in (distance, row) order: the index sorts, this does not.
    return out


def flip_about(rng: np.random.Generator, code: np.ndarray, count: int, max_flips: int) -> np.ndarray:
    """``count`` copies of ``code``, each bit flipped with a probability drawn up to max_flips/256."""
    p = rng.uniform(0, max_flips / 256, size=(count, 1))
    return code[None, :] ^ np.packbits(rng.random((count, 256)) < p, axis=1)


# --------------------------------------------------------------------------------------------
# Banks


def clustered_bank(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random hashes, and clusters of a hundred members at about 0..64 bits from a centre (a
    picture listed after lighter and heavier edits): queries near a centre have dozens of
    answers on both sides of the threshold."""
    centres = rng.integers(0, 256, size=(12, 32), dtype=np.uint8)
    parts = [rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)]
    parts += [flip_about(rng, c, 100, 64) for c in centres]
    bank = np.concatenate(parts)
    queries = np.concatenate(
        [
            np.concatenate([flip_about(rng, c, 4, 12) for c in centres]),
            bank[rng.choice(len(bank), 30, replace=False)],
            rng.integers(0, 256, size=(10, 32), dtype=np.uint8),
        ]
    )
    return bank, queries


def big_bucket_bank(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """300 near copies of one hash sharing its first four chunks (one bucket of 300 entries in
    four tables: more than the inner loop's 64 at once, and not a multiple of its 4), 130 of
    another sharing the next four, among random hashes."""
    bank = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
    bank[1:300] = flip_about(rng, bank[0], 299, 48)
    bank[:300, :8] = bank[0, :8]
    bank[301:430] = flip_about(rng, bank[300], 129, 48)
    bank[300:430, 8:16] = bank[300, 8:16]
    queries = np.concatenate(
        [
            flip_about(rng, bank[0], 6, 30),
            flip_about(rng, bank[300], 6, 30),
            bank[[5, 299, 301, 429, 2999]],
            rng.integers(0, 256, size=(5, 32), dtype=np.uint8),
        ]
    )
    # Every neighbour of the shared prefix: the first chunk differs in 0 or 1 bits.
    queries[:3, :8] = bank[0, :8]
    return bank, queries


def near_duplicate_bank(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Families: one hash listed under several records, exactly and with 1..31 flips."""
    base = rng.integers(0, 256, size=(1500, 32), dtype=np.uint8)
    family = base[:60]
    copies = [family, family.copy()]  # exact duplicates under other keys
    for flips in (1, 15, 16, 30, 31, 32, 33):
        bits = np.unpackbits(family, axis=1)
        for row in bits:
            row[rng.choice(256, size=flips, replace=False)] ^= 1
        copies.append(np.packbits(bits, axis=1))
    bank = np.concatenate([base, *copies])
    queries = np.concatenate([family[:30], flip_about(rng, family[30], 10, 20)])
    return bank, queries


_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "moon", "coins", "page", "clock", "brick", "cell")


def photo_variants(rng: np.random.Generator, count: int) -> np.ndarray:
    """PDQ hashes of random crops, rescales and JPEG re-encodings of real photographs."""
    images = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize((160, 160)) for name in _PHOTOS]
    out: list[bytes] = []
    while len(out) < count:
        image = images[int(rng.integers(len(images)))]
        x, y = (int(v) for v in rng.integers(0, 8, size=2))
        edit = image.crop((x, y, x + 150, y + 150)).resize((int(rng.integers(64, 140)),) * 2)
        buffer = io.BytesIO()
        edit.save(buffer, format="JPEG", quality=int(rng.integers(30, 95)))
        hex_hash, quality = PDQ.hash_pixels(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))
        if quality >= QUALITY_FLOOR:
            out.append(bytes.fromhex(hex_hash))
    return np.frombuffer(b"".join(out), dtype=np.uint8).reshape(-1, 32)


@pytest.fixture(scope="module")
def photo_bank() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(23)
    real = photo_variants(rng, 260)
    bank = np.concatenate([rng.integers(0, 256, size=(1500, 32), dtype=np.uint8), real[:200]])
    return bank, real[200:]


BANKS = {"clustered": clustered_bank, "big buckets": big_bucket_bank, "near duplicates": near_duplicate_bank}


@pytest.mark.parametrize("kind", list(BANKS))
def test_every_backend_matches_brute_force(backend, kind):
    bank, queries = BANKS[kind](np.random.default_rng(len(kind)))
    expected = brute_force(bank, queries)
    index = build(bank, backend=backend)
    assert index.backend == backend
    assert answers(index, queries) == expected
    assert sum(map(len, expected)) > len(queries)  # the banks really are crowded
    # A query may ask for less than the index's threshold (fewer probes in every backend).
    assert answers(index, queries, threshold=15) == brute_force(bank, queries, 15)


def test_real_photo_hashes_match_brute_force(backend, photo_bank):
    bank, queries = photo_bank
    expected = brute_force(bank, queries)
    assert sum(map(len, expected)) > 20  # other edits of the same photographs are found
    assert answers(build(bank, backend=backend), queries) == expected


# --------------------------------------------------------------------------------------------
# The compiled scan itself


def test_compiled_scan_is_built_and_preferred():
    """Under CI the extension must have been built by the normal install: a missing compiler
    fails here instead of silently testing only the numpy fallback."""
    need_compiled()
    assert available_backends()[0] == "compiled"
    assert PDQIndex().backend == "compiled"
    assert index_module._pdqscan.kernel() in index_module._pdqscan.kernels()


def test_without_the_extension_numpy_is_the_default(monkeypatch):
    monkeypatch.setattr(index_module, "_pdqscan", None)
    assert "compiled" not in available_backends()
    assert available_backends()[0] == "numpy"  # measured faster than faiss (bench/matcher_bench.py)
    assert PDQIndex().backend == "numpy"
    with pytest.raises(RuntimeError, match="not built"):
        PDQIndex(backend="compiled")


def test_compiled_and_numpy_build_identical_tables():
    need_compiled()
    codes = np.random.default_rng(3).integers(0, 256, size=(120_000, 32), dtype=np.uint8)
    codes[:500, :2] = 7  # one large bucket
    numpy_tables = index_module._NumpyTables.build(codes, 1, "numpy")
    for threads in (1, 2):  # 120,000 rows: the chunks are shared among threads
        compiled = index_module._NumpyTables.build(codes, threads, "compiled")
        np.testing.assert_array_equal(compiled.offsets, numpy_tables.offsets)
        np.testing.assert_array_equal(compiled.rows_2d, numpy_tables.rows_2d)
        np.testing.assert_array_equal(compiled.sketch_3d, numpy_tables.sketch_3d)


def test_every_inner_loop_gives_the_same_answers():
    need_compiled()
    scan = index_module._pdqscan
    kernels = scan.kernels()
    assert "portable" in kernels
    if IN_CI and sys.platform == "linux" and platform.machine() == "x86_64":
        assert "popcnt" in kernels  # the x86 loops were compiled in
    bank, queries = big_bucket_bank(np.random.default_rng(8))
    clustered, cluster_queries = clustered_bank(np.random.default_rng(9))
    expected = brute_force(bank, queries), brute_force(clustered, cluster_queries)
    indexes = build(bank, backend="compiled"), build(clustered, backend="compiled")
    previous = scan.kernel()
    try:
        for kernel in kernels:
            assert scan.kernel(kernel) == kernel
            assert answers(indexes[0], queries) == expected[0], kernel
            assert answers(indexes[1], cluster_queries) == expected[1], kernel
    finally:
        scan.kernel(previous)
    with pytest.raises(ValueError):
        scan.kernel("no-such-loop")


@pytest.mark.parametrize("batch_from", [1, 10**9])
@pytest.mark.parametrize("threads", [1, 3])
def test_compiled_scans_in_both_orders_and_on_threads(monkeypatch, batch_from, threads):
    """Query by query and many queries at once in bucket order; one thread and a batch split
    across three: the same answers, sorted by query, distance and row."""
    need_compiled()
    monkeypatch.setattr(index_module, "COMPILED_BATCH_FROM", batch_from)
    monkeypatch.setattr(index_module, "COMPILED_THREADS_FROM", 5)
    bank, queries = clustered_bank(np.random.default_rng(31))
    index = build(bank, backend="compiled", threads=threads)
    result = index.search(queries)
    assert answers(index, queries) == brute_force(bank, queries)
    order = np.lexsort((result.row, result.distance, result.query))
    np.testing.assert_array_equal(order, np.arange(len(order)))
    assert result.query.dtype == np.intp and result.row.dtype == np.intp and result.distance.dtype == np.int32


def test_compiled_scan_honours_withdrawals_and_additions():
    """Removed rows are skipped inside the scan; hashes added since the tables were built are
    merged in order."""
    need_compiled()
    bank, queries = near_duplicate_bank(np.random.default_rng(41))
    index = build(bank[:-100], backend="compiled")
    index.add_many(hexes(bank[-100:]), [f"r{i}" for i in range(len(bank) - 100, len(bank))])
    alive = np.ones(len(bank), dtype=bool)
    for row in (0, 1, 1500, 1560, len(bank) - 1):
        assert index.remove_key(f"r{row}") == 1
        alive[row] = False
    kept = np.flatnonzero(alive)
    expected = [[(d, int(kept[r])) for d, r in matches] for matches in brute_force(bank[alive], queries)]
    assert answers(index, queries) == expected


def test_queries_on_several_threads_at_once():
    need_compiled()
    bank, queries = clustered_bank(np.random.default_rng(51))
    index = build(bank, backend="compiled")
    expected = answers(index, queries)
    got: dict[int, list] = {}

    def ask(number: int) -> None:
        got[number] = [answers(index, queries[i : i + 1])[0] for i in range(len(queries))]

    workers = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(got[n] == expected for n in range(4))


def test_corrupt_tables_raise_instead_of_reading_out_of_bounds(tmp_path):
    need_compiled()
    rng = np.random.default_rng(61)
    bank = rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)
    bank[0, :2] = (5, 0)  # chunk 0 holds the value 5
    build(bank, backend="compiled").save(tmp_path / "store")
    rows_file = tmp_path / "store" / "numpy" / "rows.npy"
    offsets_file = tmp_path / "store" / "numpy" / "offsets.npy"
    good_rows, good_offsets = np.load(rows_file), np.load(offsets_file)
    query = bank[:1].copy()

    np.save(rows_file, np.full_like(good_rows, len(bank) + 5))  # rows past the end
    for batch_from in (1, 10**9):
        index = PDQIndex.load(tmp_path / "store", backend="compiled")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(index_module, "COMPILED_BATCH_FROM", batch_from)
            with pytest.raises(ValueError, match="corrupt"):
                index.search(query)

    np.save(rows_file, good_rows)
    bad_offsets = good_offsets.copy()
    bad_offsets[0, 5] = len(bank) + 10  # a bucket that ends past the table
    np.save(offsets_file, bad_offsets)
    for batch_from in (1, 10**9):
        index = PDQIndex.load(tmp_path / "store", backend="compiled")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(index_module, "COMPILED_BATCH_FROM", batch_from)
            with pytest.raises(ValueError, match="corrupt"):
                index.search(query)

    np.save(offsets_file, good_offsets)
    assert PDQIndex.load(tmp_path / "store", backend="compiled").query(bank[0].tobytes().hex())[0].key == "r0"


def test_compiled_scan_refuses_buffers_that_do_not_fit():
    need_compiled()
    scan = index_module._pdqscan
    codes = np.random.default_rng(71).integers(0, 256, size=(100, 32), dtype=np.uint8)
    t = index_module._NumpyTables.build(codes, 1, "compiled")
    masks = index_module._flip_masks(1)
    handle = scan.tables(t.offsets, t.rows_2d, t.sketch_3d, codes)
    args = [handle, None, codes[:2], masks, 1, 31, 0, 64]
    assert len(np.frombuffer(scan.search(*args)[0], dtype=np.intp)) == 2  # each finds itself
    assert scan.search(handle, None, np.zeros((1, 32), np.uint8), masks, 1, 31, 0, 64) is None
    for table_args in [
        (t.offsets, t.rows_2d[:, :50].copy(), t.sketch_3d, codes),  # rows for fewer hashes
        (t.offsets[:, :-1].copy(), t.rows_2d, t.sketch_3d, codes),  # offsets cut short
        (t.offsets, t.rows_2d, t.sketch_3d, codes[:99]),  # codes for fewer hashes
    ]:
        with pytest.raises(ValueError):
            scan.tables(*table_args)
    for position, bad in [
        (0, object()),  # not a handle
        (1, np.ones(99, dtype=np.uint8)),  # an alive flag too few
        (2, np.zeros(33, dtype=np.uint8)),  # not whole hashes
        (2, np.zeros(65, dtype=np.uint8)[1:].reshape(2, 32)),  # not aligned to 8 bytes
        (3, np.array([3], dtype=np.uint16)),  # a mask with more bits than flips
    ]:
        broken = list(args)
        broken[position] = bad
        with pytest.raises((ValueError, TypeError)):
            scan.search(*broken)


def test_one_query_at_a_time_matches_the_batch(backend):
    """query() has a short path of its own for the compiled scan: it must say what search()
    says, with rows removed, and with hashes added since the tables were built."""
    bank, queries = near_duplicate_bank(np.random.default_rng(81))
    index = build(bank[:-50], backend=backend)

    def agree() -> None:
        batch = index.query_many(hexes(queries))
        assert [index.query(h) for h in hexes(queries)] == batch
        assert sum(map(len, batch)) > len(queries)

    agree()
    for row in (0, 1, 1500, 1560):  # a hash and its exact duplicate among them
        assert index.remove_key(f"r{row}") == 1
    agree()
    assert index.query(hexes(bank[:1])[0], threshold=0) == []  # both copies of row 0 withdrawn
    index.add_many(hexes(bank[-50:]), [f"r{i}" for i in range(len(bank) - 50, len(bank))])
    agree()
