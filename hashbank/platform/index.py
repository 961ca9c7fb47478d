"""An exact PDQ index: every stored hash within the threshold of a query, with its distance.

How it avoids scanning the whole bank
-------------------------------------
Multi-index hashing (Norouzi, Punjani and Fleet). The 256 bits are cut into 16 chunks of 16 bits.
If two hashes differ in at most ``t`` bits, at least one of the 16 chunks differs in at most
``t // 16`` bits (pigeonhole; one bit at ``t = 31``). For every chunk the bank is sorted by the
chunk's value into 65,536 buckets; a query looks up, in every chunk, the bucket of its own value
and those of every value within ``t // 16`` flips (17 buckets per chunk, 272 in all at
``t = 31``). Every hash within ``t`` is in one of those buckets.

Next to each bucket entry the tables keep 128 further bits of the hash: the half of the hash that
does not contain the chunk (a "sketch"). The distance on those 128 bits can only be smaller than
the distance on all 256, so a candidate whose sketch already differs in more than ``t`` bits is
dropped without reading the full hash: about one random candidate in a billion gets through.
The survivors are checked on all 256 bits. Nothing is approximated: the candidates are a superset
of the answer, and the answer is computed exactly.

Three backends keep the same buckets:

- ``compiled`` (the default wherever it was built): the numpy backend's tables, built and
  searched by a small C extension (``_pdqscan.c``, compiled by ``pip install``; no numpy
  headers). A few queries are scanned one at a time in a prefetching pipeline over their 272
  probes; from ``COMPILED_BATCH_FROM`` queries on, chunk by chunk in bucket order, so that each
  table is read front to back once for the whole batch, on ``threads`` threads that take the
  16 tables in turn. The inner loop uses AVX-512's 64-bit popcount, the scalar popcount
  instruction or portable C, whichever the processor has. It verifies, de-duplicates (a hash is
  reported only from the first chunk within ``t // 16`` bits of the query) and sorts by itself,
  with the GIL released;
- ``numpy``: the fallback when the extension was not built: sorted row ids and two 64-bit sketch
  words per chunk, searched with vectorised gathers and ``np.bitwise_count`` over batches of
  queries, on several threads;
- ``faiss``: the buckets are the inverted lists of two ``faiss.IndexBinaryIVF`` (one list per
  chunk value, lists chosen by us instead of by a quantiser), so faiss scans them in C++.

The numpy and faiss backends hand their candidates to one exact verification; tests compare all
three with each other and with a brute force, so they give identical answers. ``"auto"`` takes
the first of :func:`available_backends`, fastest first as ``bench/matcher_bench.py`` measures
them: compiled, then numpy (faster than faiss at every size measured), then faiss.

Withdrawals are honoured at once: a removed hash is flagged dead and never reported, and
:meth:`PDQIndex.save` writes only live hashes, so a withdrawn hash does not survive on disk.
A saved index is a directory of ``.npy`` files (and, for faiss, IVF files in faiss's own format)
that :meth:`PDQIndex.load` memory-maps: a server starts in well under a second. The compiled and
numpy backends read the same files.

Not safe for mutation from several threads: queries may run concurrently with each other, but
``add``, ``remove``, ``compact`` and ``save`` must not run while anything else uses the index.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hashbank.fingerprints import FingerprintError
from hashbank.fingerprints.pdq import validate as _validate_pdq

try:  # the compiled scan (hashbank/platform/_pdqscan.c), built by `pip install`; optional
    from hashbank.platform import _pdqscan
except ImportError:  # pragma: no cover - exercised where no C compiler was at hand
    _pdqscan = None

log = logging.getLogger(__name__)

HASH_BYTES = 32
CHUNKS = 16
CHUNK_VALUES = 1 << 16
#: Meta's threshold for a confident PDQ match (python-threatexchange and HMA use it too).
DEFAULT_THRESHOLD = 31
#: Largest threshold an index accepts. The work grows fast with ``t // 16`` (17 buckets per
#: chunk below 32, 137 below 48, 697 below 64); PDQ matching never needs more.
MAX_THRESHOLD = 63
#: Hashes added since the tables were built are compared one by one with every query; past this
#: many, the next query or save rebuilds the tables.
PENDING_LIMIT = 4096
#: Queries per vectorised step of the numpy backend (keeps the temporaries in cache).
NUMPY_BATCH = 64
#: Smaller batches are answered by faiss on the calling thread only.
FAISS_PARALLEL_BATCH = 32
#: The compiled backend answers batches of at least this many queries together, chunk by chunk
#: in bucket order (each table read front to back once), and smaller ones query by query. The
#: bucket order has a fixed cost (a pass over the 65,536 buckets of every table), so it pays
#: from about a thousand queries: measured on the 2-core development machine, one thread, at
#: 100,000 hashes 112,000 against 104,000 queries/s at 1,024 and 116,000 against 201,000 at
#: 4,096; at 1,000,000 hashes 36,000 against 36,000 at 1,024 and 37,000 against 74,000 at 4,096.
COMPILED_BATCH_FROM = 1024
#: Batches of at least this many queries are scanned by several threads (``threads``).
COMPILED_THREADS_FROM = 256

STORE_FORMAT = "hashbank-pdq-index"
STORE_VERSION = 1
BACKENDS = ("compiled", "numpy", "faiss")

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_THRESHOLD",
    "FingerprintError",
    "Match",
    "PDQIndex",
    "SearchResult",
    "available_backends",
    "codes_to_hashes",
    "hashes_to_codes",
    "parse_hash",
]


# --------------------------------------------------------------------------------------------
# Values in and out


def parse_hash(value: object) -> bytes:
    """The 32 bytes of a PDQ hash written as 64 hex digits.

    Validation is the fingerprint library's (one rule for the whole project); a refused value
    raises :class:`hashbank.fingerprints.FingerprintError` (a ``ValueError``)."""
    return bytes.fromhex(_validate_pdq(value))


#: Hashes validated and converted at a time (bounds the temporary strings of a large bank).
_CONVERT_BLOCK = 1 << 16


def hashes_to_codes(values: Iterable[object]) -> np.ndarray:
    """Validate PDQ hex strings and return them as an ``(n, 32)`` uint8 array."""
    values = values if isinstance(values, Sequence) else list(values)
    if len(values) <= _CONVERT_BLOCK:
        texts = [_validate_pdq(value) for value in values]
        if not texts:
            return np.empty((0, HASH_BYTES), dtype=np.uint8)
        return np.frombuffer(bytes.fromhex("".join(texts)), dtype=np.uint8).reshape(-1, HASH_BYTES)
    # Block by block, so that ten million hashes never exist as ten million new strings at once.
    out = np.empty((len(values), HASH_BYTES), dtype=np.uint8)
    flat = out.reshape(-1)
    for start in range(0, len(values), _CONVERT_BLOCK):
        texts = [_validate_pdq(value) for value in values[start : start + _CONVERT_BLOCK]]
        flat[start * HASH_BYTES : (start + len(texts)) * HASH_BYTES] = np.frombuffer(
            bytes.fromhex("".join(texts)), dtype=np.uint8
        )
    return out


def codes_to_hashes(codes: np.ndarray) -> list[str]:
    """``(n, 32)`` uint8 rows as lowercase hex strings (the inverse of :func:`hashes_to_codes`)."""
    codes = _as_codes(codes)
    return [row.tobytes().hex() for row in codes]


def _as_codes(codes: object) -> np.ndarray:
    array = np.asarray(codes)
    if array.ndim == 1 and array.shape == (HASH_BYTES,):
        array = array.reshape(1, HASH_BYTES)
    if array.dtype != np.uint8 or array.ndim != 2 or array.shape[1] != HASH_BYTES:
        raise ValueError(f"expected an (n, {HASH_BYTES}) uint8 array of PDQ hashes, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"record keys are strings, got {type(key).__name__}")
    if not key:
        raise ValueError("record keys must not be empty")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"record key is not valid UTF-8 text: {key!r}") from exc
    return key


def _check_threshold(threshold: object) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer):
        raise TypeError(f"threshold must be an integer, got {type(threshold).__name__}")
    value = int(threshold)
    if not 0 <= value <= MAX_THRESHOLD:
        raise ValueError(f"threshold must be between 0 and {MAX_THRESHOLD}, got {value}")
    return value


@lru_cache(maxsize=8)
def _flip_masks(max_flips: int) -> np.ndarray:
    """Every 16-bit mask with at most ``max_flips`` bits set, smallest first."""
    values = np.arange(CHUNK_VALUES, dtype=np.uint32)
    masks = values[np.bitwise_count(values) <= max_flips].astype(np.uint16)
    masks.setflags(write=False)
    return masks


@dataclass(frozen=True, slots=True)
class Match:
    """One stored hash within the threshold of a query."""

    key: str
    distance: int
    hash: str


class SearchResult(NamedTuple):
    """Matches as parallel arrays, sorted by query, then distance, then row.

    ``row`` numbers are internal and valid until the index is next changed; turn them into
    record keys with :meth:`PDQIndex.key_of` and into hashes with :meth:`PDQIndex.hash_of`."""

    query: np.ndarray
    row: np.ndarray
    distance: np.ndarray


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


#: Shared by every empty answer (read-only, so that no caller can change it for the others).
_EMPTY = SearchResult(*(_read_only(np.empty(0, dtype)) for dtype in (np.intp, np.intp, np.int32)))


def _empty_result() -> SearchResult:
    return _EMPTY


# --------------------------------------------------------------------------------------------
# Record keys: one UTF-8 blob and offsets (memory-mappable), plus a list of keys added since


class _Keys:
    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def from_list(cls, keys: Sequence[str]) -> _Keys:
        # Block by block, so that a large bank's keys are never all held twice more as bytes.
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        blobs: list[bytes] = []
        for start in range(0, len(keys), _CONVERT_BLOCK):
            encoded = [key.encode("utf-8") for key in keys[start : start + _CONVERT_BLOCK]]
            offsets[start + 1 : start + 1 + len(encoded)] = np.fromiter(map(len, encoded), np.int64, len(encoded))
            blobs.append(b"".join(encoded))
        np.cumsum(offsets, out=offsets)
        blob = np.frombuffer(b"".join(blobs), dtype=np.uint8) if blobs else np.empty(0, np.uint8)
        return cls(blob, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def get(self, row: int) -> str:
        start, end = self.offsets[row : row + 2].tolist()
        return self.blob[start:end].tobytes().decode("utf-8")

    def all(self) -> list[str]:
        data = self.blob.tobytes()
        offsets = self.offsets.tolist()
        return [data[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(self))]

    def select(self, rows: np.ndarray, extra: Sequence[str] = ()) -> _Keys:
        """The keys of ``rows`` (in that order) followed by ``extra``, as a new column."""
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        gather = np.repeat(starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)
        head = self.blob[gather]
        tail = _Keys.from_list(extra)
        offsets = np.concatenate([[0], ends, total + tail.offsets[1:]]).astype(np.int64)
        return _Keys(np.concatenate([head, tail.blob]), offsets)

    def save(self, directory: Path) -> None:
        np.save(directory / "key_blob.npy", np.asarray(self.blob))
        np.save(directory / "key_offsets.npy", np.asarray(self.offsets))

    @classmethod
    def load(cls, directory: Path, count: int, mmap_mode: str | None) -> _Keys:
        blob = np.load(directory / "key_blob.npy", mmap_mode=mmap_mode)
        offsets = np.load(directory / "key_offsets.npy", mmap_mode=mmap_mode)
        if (
            blob.dtype != np.uint8
            or blob.ndim != 1
            or offsets.dtype != np.int64
            or offsets.shape != (count + 1,)
            or int(offsets[0]) != 0
            or int(offsets[-1]) != len(blob)
        ):
            raise ValueError(f"corrupt index store {directory}: record keys do not fit the hashes")
        return cls(blob, offsets)


# --------------------------------------------------------------------------------------------
# The numpy backend


def _sketch_words(chunk: int) -> tuple[int, int]:
    """The two 64-bit words of the half of the hash that does not contain ``chunk``."""
    return (2, 3) if chunk < CHUNKS // 2 else (0, 1)


class _NumpyTables:
    """The sorted tables, scanned by numpy (``kernel="numpy"``) or by the compiled extension
    (``kernel="compiled"``). Both kernels build byte-identical tables and store them under the
    same name, so a store saved by one is loaded by the other without a rebuild."""

    name = "numpy"

    def __init__(
        self, offsets: np.ndarray, rows: np.ndarray, sketch: np.ndarray, threads: int, kernel: str = "numpy"
    ) -> None:
        count = rows.shape[1]
        self.offsets = offsets
        self.rows_2d = rows
        self.sketch_3d = sketch
        self.threads = max(1, threads)
        self.kernel = kernel
        self.exact = kernel == "compiled"
        self._prepared: tuple[np.ndarray, Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        if kernel == "compiled":
            return
        self._flat_offsets = (offsets.astype(np.int64) + (np.arange(CHUNKS, dtype=np.int64) * count)[:, None]).ravel()
        self._rows = rows.reshape(-1)
        # Each entry's two sketch words side by side, gathered as one 16-byte unit (a raw copy).
        self._sketch = sketch.reshape(-1, 2).view("V16").reshape(-1)
        self._chunk_base = (np.arange(CHUNKS, dtype=np.intp) * (CHUNK_VALUES + 1))[None, :, None]

    @classmethod
    def build(cls, codes: np.ndarray, threads: int, kernel: str = "numpy") -> _NumpyTables:
        count = len(codes)
        if count >= 2**32:
            raise ValueError("an index holds fewer than 2**32 hashes")
        offsets = np.zeros((CHUNKS, CHUNK_VALUES + 1), dtype=np.int64)
        rows = np.empty((CHUNKS, count), dtype=np.uint32)
        sketch = np.empty((CHUNKS, count, 2), dtype="<u8")
        if kernel == "compiled":
            # A counting sort per chunk in C (the GIL released), chunks shared among threads.
            codes = np.ascontiguousarray(codes)

            def one(chunk: int) -> None:
                _pdqscan.build_chunk(codes, chunk, offsets[chunk], rows[chunk], sketch[chunk])

            workers = min(max(1, threads), CHUNKS)
            if workers > 1 and count >= 100_000:
                with ThreadPoolExecutor(workers, thread_name_prefix="pdq-index-build") as pool:
                    list(pool.map(one, range(CHUNKS)))
            else:
                for chunk in range(CHUNKS):
                    one(chunk)
            return cls(offsets, rows, sketch, threads, kernel)
        chunks = codes.view("<u2")
        words = codes.view("<u8")
        for chunk in range(CHUNKS):
            values = chunks[:, chunk]
            order = np.argsort(values, kind="stable")  # a radix sort for 16-bit keys
            rows[chunk] = order
            first, second = _sketch_words(chunk)
            ordered = np.take(words, order, axis=0)  # one pass of whole rows, not two of words
            sketch[chunk, :, 0] = ordered[:, first]
            sketch[chunk, :, 1] = ordered[:, second]
            np.cumsum(np.bincount(values, minlength=CHUNK_VALUES), out=offsets[chunk, 1:])
        return cls(offsets, rows, sketch, threads, kernel)

    def save(self, directory: Path) -> None:
        directory.mkdir()
        np.save(directory / "offsets.npy", np.asarray(self.offsets))
        np.save(directory / "rows.npy", np.asarray(self.rows_2d))
        np.save(directory / "sketch.npy", np.asarray(self.sketch_3d))

    @classmethod
    def load(
        cls, directory: Path, count: int, mmap_mode: str | None, threads: int, kernel: str = "numpy"
    ) -> _NumpyTables:
        offsets = np.load(directory / "offsets.npy", mmap_mode=mmap_mode)
        rows = np.load(directory / "rows.npy", mmap_mode=mmap_mode)
        sketch = np.load(directory / "sketch.npy", mmap_mode=mmap_mode)
        if (
            offsets.shape != (CHUNKS, CHUNK_VALUES + 1)
            or rows.shape != (CHUNKS, count)
            or rows.dtype != np.uint32
            or sketch.shape != (CHUNKS, count, 2)
            or sketch.dtype != np.dtype("<u8")
            or int(offsets[:, -1].min(initial=count)) != count
            or int(offsets[:, -1].max(initial=count)) != count
        ):
            raise ValueError(f"corrupt index store {directory}: numpy tables do not fit the hashes")
        return cls(offsets, rows, sketch, threads, kernel)

    def close(self) -> None:
        self._prepared = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def search(self, codes: np.ndarray, codes_all: np.ndarray, alive: np.ndarray | None, limit: int) -> SearchResult:
        """The compiled kernel's exact answer: every live row within ``limit``, each once,
        sorted by query, distance and row (``alive`` is None when no row is removed)."""
        flips = limit // CHUNKS
        # A batch is shared by the kernel's own threads chunk by chunk (each takes the next of
        # the 16 tables), so a thread that the machine holds back is not waited for.
        threads = self.threads if len(codes) >= COMPILED_THREADS_FROM else 1
        found = _pdqscan.search(
            self._handle(codes_all), alive, codes, _flip_masks(flips), flips, limit, 0, COMPILED_BATCH_FROM, threads
        )
        if found is None:
            return _empty_result()
        q, r, d = found
        return SearchResult(
            np.frombuffer(q, dtype=np.intp), np.frombuffer(r, dtype=np.intp), np.frombuffer(d, dtype=np.int32)
        )

    def search_one(self, code: bytes, codes_all: np.ndarray, alive: np.ndarray | None, limit: int) -> Any:
        """One query's raw answer from the kernel: None, or (query, row, distance) buffers."""
        flips = limit // CHUNKS
        return _pdqscan.search(self._handle(codes_all), alive, code, _flip_masks(flips), flips, limit, 0, 1 << 62)

    def _handle(self, codes_all: np.ndarray) -> Any:
        prepared = self._prepared
        if prepared is None or prepared[0] is not codes_all:
            # The stored hashes are the index's, handed over with every query; the kernel's
            # handle on them and the tables is made once (a race here only makes it twice).
            handle = _pdqscan.tables(self.offsets, self.rows_2d, self.sketch_3d, codes_all)
            prepared = self._prepared = (codes_all, handle)
        return prepared[1]

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="pdq-index")
            return self._pool

    def candidates(self, codes: np.ndarray, masks: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        batches = [(start, codes[start : start + NUMPY_BATCH]) for start in range(0, len(codes), NUMPY_BATCH)]
        if len(batches) > 1 and self.threads > 1:
            pool = self._get_pool()
            parts = list(pool.map(lambda item: self._batch(item[0], item[1], masks, threshold), batches))
        else:
            parts = [self._batch(start, batch, masks, threshold) for start, batch in batches]
        if not parts:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _batch(
        self, first_query: int, codes: np.ndarray, masks: np.ndarray, threshold: int
    ) -> tuple[np.ndarray, np.ndarray]:
        count = len(codes)
        per_query = CHUNKS * len(masks)
        # Bucket numbers of every probe, (query, chunk, flip) in that order.
        probes = (codes.view("<u2")[:, :, None] ^ masks[None, None, :]).astype(np.intp)
        probes += self._chunk_base
        starts = self._flat_offsets[probes].ravel()
        lengths = self._flat_offsets[probes + 1].ravel() - starts
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        if total == 0:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        # Positions of every bucket entry, bucket after bucket.
        positions = np.repeat(starts - (ends - lengths), lengths)
        positions += np.arange(total, dtype=np.intp)
        # The query's own sketch words for each probe: chunks 0-7 compare words 2 and 3,
        # chunks 8-15 compare words 0 and 1.
        words = codes.view("<u8")
        half = CHUNKS // 2
        own = np.empty((count, CHUNKS, 2), dtype="<u8")
        own[:, :half] = words[:, None, 2:4]
        own[:, half:] = words[:, None, 0:2]
        per_probe = np.ascontiguousarray(np.broadcast_to(own[:, :, None, :], (count, CHUNKS, len(masks), 2)))
        bits = np.take(self._sketch, positions).view("<u8").reshape(-1, 2)
        bits ^= np.repeat(per_probe.reshape(-1, 2), lengths, axis=0)
        counts = np.bitwise_count(bits)
        distance = counts[:, 0] + counts[:, 1]
        survivors = np.flatnonzero(distance <= threshold)
        rows = self._rows[positions[survivors]].astype(np.intp)
        queries = np.searchsorted(ends, survivors, side="right") // per_query + first_query
        return queries.astype(np.intp), rows


# --------------------------------------------------------------------------------------------
# The faiss backend


def _faiss() -> Any:
    import faiss

    return faiss


def _compiled_available() -> bool:
    return _pdqscan is not None and np.dtype(np.intp).itemsize == 8 and sys.byteorder == "little"


def available_backends() -> tuple[str, ...]:
    """The backends this interpreter can run, fastest first (measured with
    ``bench/matcher_bench.py``: the compiled scan, then numpy, then faiss; ``"auto"`` takes
    the first)."""
    found = ["compiled"] if _compiled_available() else []
    found.append("numpy")
    try:
        _faiss()
    except ImportError:
        pass
    else:
        found.append("faiss")
    return tuple(found)


class _FaissFormatError(RuntimeError):
    """This faiss writes IVF files in a layout the index was not written for."""


_GROUP_CHUNKS = CHUNKS // 2
_GROUP_LISTS = _GROUP_CHUNKS * CHUNK_VALUES
_SKETCH_BITS = 128
_SKETCH_BYTES = _SKETCH_BITS // 8


@lru_cache(maxsize=1)
def _empty_ivf_bytes() -> bytes:
    faiss = _faiss()
    quantizer = faiss.IndexBinaryFlat(_SKETCH_BITS)
    ivf = faiss.IndexBinaryIVF(quantizer, _SKETCH_BITS, _GROUP_LISTS)
    ivf.is_trained = True
    return faiss.serialize_index_binary(ivf).tobytes()


def _ivf_prefix(total: int) -> bytes:
    """faiss's own serialisation of an empty IndexBinaryIVF up to its inverted lists, with
    ``ntotal`` set. Checked field by field, so a faiss that writes another layout is refused
    instead of misread."""
    blob = _empty_ivf_bytes()
    tail = b"ilar" + struct.pack("<QQ", _GROUP_LISTS, _SKETCH_BYTES) + b"sprs" + struct.pack("<Q", 0)
    if blob[:4] != b"IBwF" or struct.unpack_from("<iiq", blob, 4) != (_SKETCH_BITS, _SKETCH_BYTES, 0):
        raise _FaissFormatError("unexpected IndexBinaryIVF header")
    if not blob.endswith(tail):
        raise _FaissFormatError("unexpected ArrayInvertedLists layout")
    head = bytearray(blob[: -len(tail)])
    struct.pack_into("<q", head, 12, total)
    return bytes(head)


def _write_ivf(path: Path, codes: np.ndarray, group: int) -> None:
    """One IndexBinaryIVF file for chunks ``8*group .. 8*group+7``: list ``j*65536 + v`` holds
    the sketch and row of every hash whose chunk ``8*group + j`` has the value ``v``.

    The inverted lists are laid out as faiss writes them (per list, its codes then its ids) and
    built one chunk at a time, so the whole index is never held in memory twice.

    Why not faiss's public API? It can build the same file: ``IndexBinaryIVF.add_core`` with
    our list numbers as ``precomputed_idx``, then ``write_index_binary``, and for a bank where
    most lists are non-empty the bytes are identical (``test_faiss_file_matches_faiss_own_writer``
    checks it). But faiss first fills ``ArrayInvertedLists`` in memory (one std::vector pair per
    list, grown by push_back) and then copies them out: measured on this 2-core machine for one
    group of 1,000,000 hashes (load average about 6), 5.6 s and 482 MB peak resident against
    1.8 s and 242 MB here, for two groups per index. Building no slower and in no more memory
    than python-threatexchange's index is a goal of issue 7, so this writer stays; the header
    and list layout it does not write itself are taken from faiss's own serialisation and
    checked field by field (``_ivf_prefix``), so a faiss with another layout is refused."""
    count = len(codes)
    chunks = codes.view("<u2")
    words = codes.view("<u8")
    first, second = _sketch_words(group * _GROUP_CHUNKS)
    sizes = np.stack(
        [np.bincount(chunks[:, group * _GROUP_CHUNKS + j], minlength=CHUNK_VALUES) for j in range(_GROUP_CHUNKS)]
    ).astype("<u8")
    with open(path, "wb") as out:
        out.write(_ivf_prefix(_GROUP_CHUNKS * count))
        out.write(b"ilar" + struct.pack("<QQ", _GROUP_LISTS, _SKETCH_BYTES))
        out.write(b"full" + struct.pack("<Q", _GROUP_LISTS))
        out.write(sizes.tobytes())
        position = np.arange(count, dtype=np.int64)
        for j in range(_GROUP_CHUNKS):
            values = chunks[:, group * _GROUP_CHUNKS + j]
            order = np.argsort(values, kind="stable")
            sizes_j = sizes[j].astype(np.int64)
            list_start = np.zeros(CHUNK_VALUES, dtype=np.int64)
            np.cumsum(sizes_j[:-1], out=list_start[1:])
            # Entry p of the sorted order is in list v = values[order[p]], which starts at
            # list_start[v]; in 64-bit words, list v begins at 3*list_start[v], its entry r has
            # its sketch at 3*list_start + 2r and its id at 3*list_start + 2*size + r, with
            # r = p - list_start[v].
            start = np.repeat(list_start, sizes_j)
            end = np.repeat(list_start + sizes_j, sizes_j)
            ordered = np.take(words, order, axis=0)
            region = np.empty(3 * count, dtype="<u8")
            sketch_at = start + 2 * position
            region[sketch_at] = ordered[:, first]
            region[sketch_at + 1] = ordered[:, second]
            region[2 * end + position] = order
            region.tofile(out)


def _read_ivf(path: Path, count: int, mmap: bool) -> Any:
    """With ``mmap``, faiss maps the file read-only and reads its lists in place
    (``OnDiskInvertedLists``: 24 bytes of bookkeeping per list, against about 160 for lists
    held in memory, which at a million lists is the difference between 25 and 170 MB)."""
    faiss = _faiss()
    index = faiss.read_index_binary(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
    if (
        not isinstance(index, faiss.IndexBinaryIVF)
        or index.ntotal != _GROUP_CHUNKS * count
        or index.nlist != _GROUP_LISTS
        or index.code_size != _SKETCH_BYTES
    ):
        raise ValueError(f"corrupt index store: {path} does not fit the hashes")
    return index


class _FaissTables:
    name = "faiss"
    FILES = ("group0.ivf", "group1.ivf")
    exact = False  # hands candidates to PDQIndex._verify

    def __init__(self, directory: Path, count: int, mmap: bool, owned_tmp: Path | None = None) -> None:
        self.directory = directory
        self.count = count
        self.ivfs = [_read_ivf(directory / name, count, mmap) for name in self.FILES]
        self._list_base = (np.arange(_GROUP_CHUNKS, dtype=np.int64) * CHUNK_VALUES)[None, :, None]
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(owned_tmp), True) if owned_tmp is not None else None

    @classmethod
    def build(cls, codes: np.ndarray, workdir: str | os.PathLike[str] | None) -> _FaissTables:
        tmp = Path(tempfile.mkdtemp(prefix="hashbank-pdq-faiss-", dir=workdir))
        try:
            for group, name in enumerate(cls.FILES):
                _write_ivf(tmp / name, codes, group)
            return cls(tmp, len(codes), mmap=True, owned_tmp=tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def save(self, directory: Path) -> None:
        directory.mkdir()
        for name in self.FILES:
            shutil.copyfile(self.directory / name, directory / name)

    def close(self) -> None:
        self.ivfs = []
        if self._finalizer is not None:
            self._finalizer()

    def candidates(self, codes: np.ndarray, masks: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        count = len(codes)
        nprobe = _GROUP_CHUNKS * len(masks)
        values = codes.view("<u2").astype(np.int64)
        masks64 = masks.astype(np.int64)
        queries: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        for group, ivf in enumerate(self.ivfs):
            if ivf.nprobe != nprobe:
                with self._lock:
                    ivf.nprobe = nprobe
            own = values[:, group * _GROUP_CHUNKS : (group + 1) * _GROUP_CHUNKS]
            assign = np.ascontiguousarray(
                ((own[:, :, None] ^ masks64[None, None, :]) + self._list_base).reshape(count, nprobe)
            )
            first, _ = _sketch_words(group * _GROUP_CHUNKS)
            sketch = np.ascontiguousarray(codes[:, first * 8 : first * 8 + _SKETCH_BYTES])
            centroid_distances = np.zeros(assign.shape, dtype=np.int32)
            result = faiss.RangeSearchResult(count)
            # OpenMP's thread count is a per-thread setting: a few queries are answered on this
            # thread alone (starting a parallel region costs more than it saves, and far more
            # when the other cores are busy); larger batches use faiss's default.
            previous = faiss.omp_get_max_threads()
            if count < FAISS_PARALLEL_BATCH and previous > 1:
                faiss.omp_set_num_threads(1)
            try:
                ivf.range_search_preassigned_c(
                    count,
                    faiss.swig_ptr(sketch),
                    threshold + 1,  # faiss reports distances strictly below the radius
                    faiss.swig_ptr(assign),
                    faiss.swig_ptr(centroid_distances),
                    result,
                )
            finally:
                if faiss.omp_get_max_threads() != previous:
                    faiss.omp_set_num_threads(previous)
            limits = faiss.rev_swig_ptr(result.lims, count + 1).astype(np.int64)
            found = int(limits[-1])
            if found:
                rows.append(faiss.rev_swig_ptr(result.labels, found).astype(np.intp))
                queries.append(np.repeat(np.arange(count, dtype=np.intp), np.diff(limits)))
        if not rows:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        return np.concatenate(queries), np.concatenate(rows)


# --------------------------------------------------------------------------------------------
# The index


def _resolve_backend(name: str) -> str:
    if name == "auto":
        return available_backends()[0]
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose auto, compiled, numpy or faiss")
    if name == "faiss" and "faiss" not in available_backends():
        raise RuntimeError('the faiss backend needs faiss-cpu: pip install ".[platform]"')
    if name == "compiled" and not _compiled_available():
        raise RuntimeError(
            "the compiled backend was not built (hashbank/platform/_pdqscan.c needs a C compiler and Python's"
            ' headers at install time: pip install -e .); the "numpy" backend gives the same answers'
        )
    return name


class PDQIndex:
    """PDQ hashes, each with an opaque record key, searched exactly within a Hamming threshold.

    Example::

        index = PDQIndex.build([(pdq_hex, "record-1"), ...])
        index.query(upload_hex)          # [Match(key='record-1', distance=4, hash='...')]
        index.remove_key("record-1")     # a withdrawal: never reported again
        index.save("/var/lib/platform/pdq")
        index = PDQIndex.load("/var/lib/platform/pdq")   # memory-mapped

    ``threshold`` (default 31, at most 63) is the largest distance reported; a query may ask for
    less. ``backend`` is ``"auto"`` (the first of :func:`available_backends`: the compiled scan
    when it was built, else numpy), ``"compiled"``, ``"numpy"`` or ``"faiss"``; the answers are
    the same. ``threads`` bounds the compiled and numpy backends' worker threads (faiss uses its
    own OpenMP setting). ``workdir`` is where the faiss backend writes the IVF
    files of an index that has not been saved (default: the system's temporary directory).
    """

    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        backend: str = "auto",
        threads: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.threshold = _check_threshold(threshold)
        self._requested_backend = backend
        self.backend = _resolve_backend(backend)
        self.threads = threads if threads is not None else min(4, os.cpu_count() or 1)
        self.workdir = workdir
        self._masks = _flip_masks(self.threshold // CHUNKS)
        self._codes = np.empty((0, HASH_BYTES), dtype=np.uint8)
        self._alive = np.ones(0, dtype=bool)
        #: Removed rows among the stored ones (the compiled scan skips its alive check at 0).
        self._base_dead = 0
        self._keys = _Keys.from_list([])
        self._tables: _NumpyTables | _FaissTables | None = None
        self._pending_codes: list[np.ndarray] = []
        self._pending_keys: list[str] = []
        self._pending_alive = bytearray()
        self._pending_array: np.ndarray | None = None
        self._rows_by_key: dict[str, list[int]] | None = None
        self._live = 0

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str]], **options: Any) -> PDQIndex:
        """An index of ``(pdq_hex, record_key)`` pairs, tables built and ready to query."""
        index = cls(**options)
        pairs = entries if isinstance(entries, Sequence) else list(entries)
        index.add_many([pair[0] for pair in pairs], [pair[1] for pair in pairs])
        index.compact()
        return index

    def add(self, pdq_hex: str, key: str) -> None:
        self.add_many([pdq_hex], [key])

    def add_many(self, hashes: Iterable[str], keys: Iterable[str]) -> None:
        """Add hashes with their record keys. Every value is validated before any is added.

        Keys need not be unique: several records may carry one hash, and :meth:`remove_key`
        removes every row of a key. The tables are rebuilt lazily (at the next query or save)
        once more than ``PENDING_LIMIT`` hashes are waiting."""
        codes = hashes_to_codes(hashes)
        keys = [_check_key(key) for key in keys]
        if len(keys) != len(codes):
            raise ValueError(f"{len(codes)} hashes but {len(keys)} keys")
        if not keys:
            return
        first_row = self._row_count()
        self._pending_codes.append(codes)
        self._pending_keys.extend(keys)
        self._pending_alive.extend(b"\x01" * len(keys))
        self._pending_array = None
        self._live += len(keys)
        if self._rows_by_key is not None:
            for offset, key in enumerate(keys):
                self._rows_by_key.setdefault(key, []).append(first_row + offset)

    def remove(self, pdq_hex: str) -> int:
        """Remove every record holding exactly this hash; returns how many were removed."""
        code = np.frombuffer(parse_hash(pdq_hex), dtype=np.uint8).reshape(1, HASH_BYTES)
        return self._kill(self.search(code, threshold=0).row)

    def remove_key(self, key: str) -> int:
        """Remove every hash stored under this record key; returns how many were removed."""
        return self._kill(np.asarray(self._key_index().get(_check_key(key), []), dtype=np.intp))

    def compact(self) -> None:
        """Fold added hashes into the tables and drop removed ones for good."""
        alive_pending = np.frombuffer(bytes(self._pending_alive), dtype=bool)
        keep = np.flatnonzero(self._alive)
        pending = self._pending()
        codes = np.concatenate([self._codes[keep], pending[alive_pending]]) if len(pending) else self._codes[keep]
        extra_keys = [key for key, alive in zip(self._pending_keys, alive_pending, strict=True) if alive]
        keys = self._keys.select(keep, extra_keys)
        self._install(np.ascontiguousarray(codes, dtype=np.uint8), keys, tables=None)
        self._ensure_tables()

    # -- querying ----------------------------------------------------------------------------

    def query(self, pdq_hex: str, *, threshold: int | None = None) -> list[Match]:
        """The stored hashes within the threshold of one hash, nearest first."""
        limit = self._limit(threshold)
        code = parse_hash(pdq_hex)
        tables = self._tables
        if tables is not None and tables.exact and not self._pending_alive and self._live:
            # The short way round for one hash (most lookups): straight to the compiled scan and
            # back, no arrays.
            alive = self._alive.view(np.uint8) if self._base_dead else None
            found = tables.search_one(code, self._codes, alive, limit)
            if found is None:
                return []
            rows = memoryview(found[1]).cast("q").tolist()
            distances = memoryview(found[2]).cast("i").tolist()
            codes = self._codes
            return [Match(self._keys.get(r), d, codes[r].tobytes().hex()) for r, d in zip(rows, distances, strict=True)]
        array = np.frombuffer(code, dtype=np.uint8).reshape(1, HASH_BYTES)
        return self.matches(self._search(array, limit), 1)[0]

    def query_many(self, hashes: Sequence[str], *, threshold: int | None = None) -> list[list[Match]]:
        """One list of matches per query hash, nearest first. Queries are validated first."""
        codes = hashes_to_codes(hashes)
        return self.matches(self.search(codes, threshold=threshold), len(codes))

    def matches(self, result: SearchResult, query_count: int) -> list[list[Match]]:
        """Turn a :class:`SearchResult` into one list of :class:`Match` per query."""
        out: list[list[Match]] = [[] for _ in range(query_count)]
        if not len(result.row):
            return out
        rows = result.row
        base = len(self._codes)
        if len(rows) < 8 or rows.max() >= base:  # few, or some added since the tables were built
            for query, row, distance in zip(
                result.query.tolist(), rows.tolist(), result.distance.tolist(), strict=True
            ):
                out[query].append(Match(self.key_of(row), distance, self.hash_of(row)))
            return out
        # Many: the keys and hashes gathered with one copy each instead of one per match.
        keys = self._keys.select(rows)
        blob = keys.blob.tobytes()
        cuts = keys.offsets.tolist()
        text = self._codes[rows].tobytes().hex()
        for i, (query, distance) in enumerate(zip(result.query.tolist(), result.distance.tolist(), strict=True)):
            key = blob[cuts[i] : cuts[i + 1]].decode("utf-8")
            out[query].append(Match(key, distance, text[64 * i : 64 * i + 64]))
        return out

    def search(self, codes: np.ndarray, *, threshold: int | None = None) -> SearchResult:
        """Every live stored hash within the threshold of each row of ``codes`` (``(n, 32)``
        uint8, already-valid hashes), as arrays sorted by query, distance and row."""
        return self._search(_as_codes(codes), self._limit(threshold))

    def _limit(self, threshold: int | None) -> int:
        limit = self.threshold if threshold is None else _check_threshold(threshold)
        if limit > self.threshold:
            raise ValueError(f"threshold {limit} is above this index's threshold {self.threshold}")
        return limit

    def _search(self, codes: np.ndarray, limit: int) -> SearchResult:
        if not len(codes) or not self._live:
            return _empty_result()
        if len(self._pending_alive) > PENDING_LIMIT:
            self.compact()
        tables = self._ensure_tables()
        exact: SearchResult | None = None
        queries: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        if tables is not None and tables.exact:
            # The compiled kernel verifies, de-duplicates and sorts by itself.
            alive = self._alive.view(np.uint8) if self._base_dead else None
            exact = tables.search(codes, self._codes, alive, limit)
            if not self._pending_alive:
                return exact
        elif tables is not None:
            q, r = tables.candidates(codes, _flip_masks(limit // CHUNKS), limit)
            queries.append(q)
            rows.append(r)
        if self._pending_alive:
            q, r = self._scan_pending(codes, limit)
            queries.append(q)
            rows.append(r + len(self._codes))
        found = self._verify(codes, np.concatenate(queries), np.concatenate(rows), limit)
        if exact is None:
            return found
        # Pending rows come after every stored row, so they never repeat one of the kernel's.
        query, row, distance = (np.concatenate(pair) for pair in zip(exact, found, strict=True))
        order = np.lexsort((row, distance, query))
        return SearchResult(query[order], row[order], distance[order])

    def key_of(self, row: int) -> str:
        base = len(self._codes)
        return self._keys.get(row) if row < base else self._pending_keys[row - base]

    def hash_of(self, row: int) -> str:
        base = len(self._codes)
        code = self._codes[row] if row < base else self._pending()[row - base]
        return code.tobytes().hex()

    def __len__(self) -> int:
        """Live (not removed) hashes."""
        return self._live

    # -- disk --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the live hashes, their keys and this backend's tables to directory ``path``.

        Removed hashes are not written. The new store is assembled beside ``path`` and swapped
        in with renames, so a reader sees the old store or the new one, never half of one."""
        target = Path(path)
        if target.exists() and not (target / "manifest.json").is_file():
            raise FileExistsError(f"{target} exists and is not an index store; refusing to replace it")
        if self._pending_alive or not self._alive.all():
            self.compact()
        tables = self._ensure_tables()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.new-{uuid.uuid4().hex}")
        staging.mkdir()
        try:
            np.save(staging / "codes.npy", np.asarray(self._codes))
            self._keys.save(staging)
            if tables is not None:
                tables.save(staging / tables.name)
            manifest = {
                "format": STORE_FORMAT,
                "version": STORE_VERSION,
                "count": len(self._codes),
                "threshold": self.threshold,
                "tables": [tables.name] if tables is not None else [],
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            _fsync_tree(staging)
            if target.exists():
                retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
                os.rename(target, retired)
                os.rename(staging, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: str = "auto",
        threshold: int | None = None,
        mmap: bool = True,
        threads: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> PDQIndex:
        """Open a store written by :meth:`save`. With ``mmap`` (the default) the arrays stay on
        disk and are paged in as queries touch them. Tables saved for another backend are
        rebuilt for this one."""
        source = Path(path)
        try:
            manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{source} is not an index store (no manifest.json)") from None
        if manifest.get("format") != STORE_FORMAT or manifest.get("version") != STORE_VERSION:
            raise ValueError(f"{source} is not a version {STORE_VERSION} {STORE_FORMAT} store")
        count = int(manifest["count"])
        index = cls(
            threshold=manifest["threshold"] if threshold is None else threshold,
            backend=backend,
            threads=threads,
            workdir=workdir,
        )
        mmap_mode = "r" if mmap else None
        codes = np.load(source / "codes.npy", mmap_mode=mmap_mode)
        if codes.dtype != np.uint8 or codes.shape != (count, HASH_BYTES):
            raise ValueError(f"corrupt index store {source}: codes.npy does not hold {count} hashes")
        keys = _Keys.load(source, count, mmap_mode)
        tables: _NumpyTables | _FaissTables | None = None
        stored_as = _NumpyTables.name if index.backend in ("compiled", "numpy") else index.backend
        if count and stored_as in manifest.get("tables", []):
            if stored_as == _NumpyTables.name:
                tables = _NumpyTables.load(source / "numpy", count, mmap_mode, index.threads, index.backend)
            else:
                tables = _FaissTables(source / "faiss", count, mmap=mmap)
        index._install(codes, keys, tables)
        return index

    def close(self) -> None:
        """Release worker threads and temporary files now rather than at garbage collection."""
        if self._tables is not None:
            self._tables.close()
            self._tables = None

    def __enter__(self) -> PDQIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _row_count(self) -> int:
        return len(self._codes) + len(self._pending_alive)

    def _pending(self) -> np.ndarray:
        if self._pending_array is None:
            self._pending_array = (
                np.concatenate(self._pending_codes) if self._pending_codes else np.empty((0, HASH_BYTES), np.uint8)
            )
            self._pending_codes = [self._pending_array] if len(self._pending_array) else []
        return self._pending_array

    def _install(self, codes: np.ndarray, keys: _Keys, tables: _NumpyTables | _FaissTables | None) -> None:
        if self._tables is not None and self._tables is not tables:
            self._tables.close()
        self._codes = codes
        self._alive = np.ones(len(codes), dtype=bool)
        self._base_dead = 0
        self._keys = keys
        self._tables = tables
        self._pending_codes = []
        self._pending_keys = []
        self._pending_alive = bytearray()
        self._pending_array = None
        self._rows_by_key = None
        self._live = len(codes)

    def _ensure_tables(self) -> _NumpyTables | _FaissTables | None:
        if self._tables is None and len(self._codes):
            self._tables = self._build_tables(self._codes)
        return self._tables

    def _build_tables(self, codes: np.ndarray) -> _NumpyTables | _FaissTables:
        if self.backend == "faiss":
            try:
                return _FaissTables.build(codes, self.workdir)
            except _FaissFormatError as exc:
                if self._requested_backend != "auto":
                    raise
                log.warning("faiss IVF layout not recognised (%s); using the numpy backend", exc)
                self.backend = "numpy"
        return _NumpyTables.build(codes, self.threads, self.backend)

    def _scan_pending(self, codes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        pending = self._pending().view("<u8")
        words = codes.view("<u8")
        block = max(1, (1 << 20) // max(1, len(pending)))
        queries: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        for start in range(0, len(words), block):
            chunk = words[start : start + block]
            distance = np.bitwise_count(chunk[:, None, :] ^ pending[None, :, :]).sum(axis=2, dtype=np.int32)
            q, r = np.nonzero(distance <= threshold)
            queries.append(q + start)
            rows.append(r)
        return np.concatenate(queries).astype(np.intp), np.concatenate(rows).astype(np.intp)

    def _verify(self, codes: np.ndarray, queries: np.ndarray, rows: np.ndarray, threshold: int) -> SearchResult:
        """Exact distances of the candidates on all 256 bits; dead rows, duplicates (a hash found
        through several chunks) and anything beyond the threshold are dropped."""
        if not len(rows):
            return _empty_result()
        base = len(self._codes)
        in_base = rows < base
        alive = np.empty(len(rows), dtype=bool)
        alive[in_base] = self._alive[rows[in_base]]
        if not in_base.all():
            pending_alive = np.frombuffer(bytes(self._pending_alive), dtype=bool)
            alive[~in_base] = pending_alive[rows[~in_base] - base]
        queries, rows, in_base = queries[alive], rows[alive], in_base[alive]
        stored = np.empty((len(rows), HASH_BYTES // 8), dtype="<u8")
        stored[in_base] = self._codes.view("<u8")[rows[in_base]]
        if not in_base.all():
            stored[~in_base] = self._pending().view("<u8")[rows[~in_base] - base]
        distance = np.bitwise_count(stored ^ codes.view("<u8")[queries]).sum(axis=1, dtype=np.int32)
        keep = distance <= threshold
        queries, rows, distance = queries[keep], rows[keep], distance[keep]
        pair = queries.astype(np.int64) * (self._row_count() + 1) + rows
        _, first = np.unique(pair, return_index=True)
        queries, rows, distance = queries[first], rows[first], distance[first]
        order = np.lexsort((rows, distance, queries))
        return SearchResult(queries[order], rows[order], distance[order])

    def _kill(self, rows: np.ndarray) -> int:
        killed = 0
        base = len(self._codes)
        for row in np.unique(rows).tolist():
            if row < base:
                if self._alive[row]:
                    self._alive[row] = False
                    self._base_dead += 1
                    killed += 1
            elif self._pending_alive[row - base]:
                self._pending_alive[row - base] = 0
                killed += 1
        self._live -= killed
        return killed

    def _key_index(self) -> dict[str, list[int]]:
        if self._rows_by_key is None:
            rows: dict[str, list[int]] = {}
            for row, key in enumerate(self._keys.all() + self._pending_keys):
                rows.setdefault(key, []).append(row)
            self._rows_by_key = rows
        return self._rows_by_key


def _fsync_tree(directory: Path) -> None:
    for entry in directory.rglob("*"):
        if entry.is_file():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
