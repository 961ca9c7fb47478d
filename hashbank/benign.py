"""The benign list: fingerprints staff marked as not intimate image abuse (a famous artwork, a
meme, a stock photo), so that the same picture submitted again is checked by a person before
it reaches any partner (issue 12, item 3).

A submitted file is "close" to the list when one of its PDQ hashes is within
BENIGN_PDQ_DISTANCE (31, the distance platforms match at) of a listed PDQ hash, or one of its
md5/sha256 digests equals a listed one. Close files are stored in their case like any other,
but held for review instead of published. Nothing already in the feed is touched: the list
alone never unpublishes anyone's fingerprint (a reviewer's recorded decision does).

PDQ matching uses the project's own index (hashbank.platform.index.PDQIndex, the one the
reference matcher uses), built once per process and rebuilt when the list changes. Checking a
submission costs one small query (has the list changed?) and one index search
(bench/benign_bench.py measures it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, Max

from hashbank.models import BenignFingerprint
from hashbank.platform.index import PDQIndex

#: PDQ hashes within this Hamming distance of a listed one are "the same picture".
BENIGN_PDQ_DISTANCE = 31
#: Signal types compared exactly.
EXACT_TYPES = frozenset({"md5", "sha256"})
#: Signal types the list holds (and that marking a fingerprint harmless copies into it).
LISTED_TYPES = EXACT_TYPES | {"pdq"}


@dataclass(frozen=True)
class _Loaded:
    version: tuple[object, ...]
    index: PDQIndex | None
    exact: dict[tuple[str, str], str]
    reasons: dict[str, str]


_lock = threading.Lock()
_loaded: _Loaded | None = None


def _version() -> tuple[object, ...]:
    # Rows are only ever added or deleted, so this changes with every change (the newest time
    # too: SQLite may reuse an id after a rollback).
    row = BenignFingerprint.objects.aggregate(n=Count("pk"), top=Max("pk"), newest=Max("marked_at"))
    return int(row["n"]), row["top"], row["newest"]


def _current() -> _Loaded:
    global _loaded
    version = _version()
    loaded = _loaded
    if loaded is not None and loaded.version == version:
        return loaded
    with _lock:
        if _loaded is not None and _loaded.version == version:
            return _loaded
        rows = list(BenignFingerprint.objects.values_list("pk", "signal_type", "value", "reason"))
        pdq = [(value, str(pk)) for pk, signal_type, value, _ in rows if signal_type == "pdq"]
        index = PDQIndex.build(pdq, threshold=BENIGN_PDQ_DISTANCE, backend="numpy") if pdq else None
        exact = {(signal_type, value): reason for _, signal_type, value, reason in rows if signal_type in EXACT_TYPES}
        _loaded = _Loaded(version=version, index=index, exact=exact,
                          reasons={str(pk): reason for pk, _, _, reason in rows})
        return _loaded


@dataclass(frozen=True)
class Closeness:
    """Why a file is close to the list: the listed entry's reason, and the PDQ distance (None
    when an md5 or sha256 is equal: the same file, which nothing beats)."""

    reason: str
    distance: int | None = None


def files_close_to_list(files: Sequence[Sequence[tuple[str, str]]]) -> dict[int, Closeness]:
    """For each file (a list of (signal_type, value), values normalised), whether it is close
    to the benign list: {file number from 0: why}. Files not listed are not close."""
    loaded = _current()
    if loaded.index is None and not loaded.exact:
        return {}
    close: dict[int, Closeness] = {}
    queries: list[tuple[int, str]] = []
    for number, items in enumerate(files):
        for signal_type, value in items:
            if (signal_type, value) in loaded.exact:
                close[number] = Closeness(reason=loaded.exact[(signal_type, value)], distance=None)
            elif signal_type == "pdq" and loaded.index is not None:
                queries.append((number, value))
    if queries and loaded.index is not None:
        found = loaded.index.query_many([value for _, value in queries], threshold=BENIGN_PDQ_DISTANCE)
        for (number, _), matches in zip(queries, found, strict=True):
            known = close.get(number)
            if matches and (known is None or (known.distance is not None and known.distance > matches[0].distance)):
                nearest = matches[0]
                close[number] = Closeness(reason=loaded.reasons.get(nearest.key, ""), distance=nearest.distance)
    return close


def forget_cache() -> None:
    """Drop this process's copy (tests that roll back the list's table)."""
    global _loaded
    with _lock:
        _loaded = None
