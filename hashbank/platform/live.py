"""The store's records as one read-only view that any number of queries share, and a follower
that swaps in a new view when the store moves on, so a query never waits for a rebuild.

A :class:`View` is the saved index of the store (memory-mapped, never changed once loaded) plus
a small overlay: the entries verified since that index was saved (the journal, or batches the
caller hands over). Ids the overlay touched are hidden in the saved index; the overlay's own live
PDQ hashes are compared one by one (a few thousand at most before the store folds them into a
new saved index), its exact digests looked up in a dict. A withdrawal therefore stops matching
as soon as the view that carries it is swapped in: building one costs the size of the overlay,
not of the list.

:class:`LiveIndex` keeps the current view in one attribute. Queries read it without a lock
(replacing a reference is atomic), so an old view stays valid for the queries still using it,
and only one thread at a time (:meth:`LiveIndex.refresh`, :meth:`LiveIndex.apply`) builds the
next. Loading a new saved index (after a fold) memory-maps it and warms it with one query before
it is swapped in.

Used by ``serve`` (:mod:`hashbank.platform.serve`) and the hosted lookup
(:mod:`hashbank.platform.lookup_service`). No Django here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hashbank.feedformat import origin_of
from hashbank.platform.index import DEFAULT_THRESHOLD, HASH_BYTES, PDQIndex, hashes_to_codes
from hashbank.platform.store import DEFAULT_ORIGIN, EXACT_TYPES, KEPT_TYPES, LocalStore

#: Overlay hashes compared with the queries at once (bounds the temporary arrays).
_DELTA_BLOCK = 1 << 15


@dataclass(frozen=True, slots=True)
class Found:
    """One stored record matching a query."""

    id: str
    distance: int
    origin: str
    signal_type: str
    #: The stored value (``serve`` reports it to the platform that holds the list; the hosted
    #: lookup never does).
    value: str


@dataclass(frozen=True)
class View:
    """The records at one feed position. Read-only: every method may run on many threads."""

    position: int = 0
    base: PDQIndex | None = None
    base_name: str | None = None
    #: (signal_type, value) -> ids, of the saved index's exact digests.
    base_exact: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    #: id -> origin for the saved index's ids not made by a survivor alone.
    base_origins: Mapping[str, str] = field(default_factory=dict)
    base_exact_count: int = 0
    #: Ids with an entry after the saved index: its rows for them no longer count.
    hidden: frozenset[str] = frozenset()
    #: The overlay's live PDQ hashes as (k, 4) little-endian words, and their ids.
    delta_codes: np.ndarray = field(default_factory=lambda: np.empty((0, HASH_BYTES // 8), dtype="<u8"))
    delta_ids: tuple[str, ...] = ()
    delta_values: tuple[str, ...] = ()
    delta_exact: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    #: id -> origin of every overlay record.
    delta_origins: Mapping[str, str] = field(default_factory=dict)
    #: Entries applied since the saved index.
    changes: int = 0

    @property
    def threshold(self) -> int:
        return self.base.threshold if self.base is not None else DEFAULT_THRESHOLD

    @property
    def base_records(self) -> int:
        """PDQ records in the saved index (as of its own position)."""
        return len(self.base) if self.base is not None else 0

    def pdq(self, codes: np.ndarray, *, threshold: int | None = None) -> list[list[Found]]:
        """For each row of `codes` ((n, 32) uint8, valid PDQ hashes), the live records within
        `threshold` (default 31), nearest first."""
        limit = self.threshold if threshold is None else threshold
        out: list[list[Found]] = [[] for _ in range(len(codes))]
        if not len(codes):
            return out
        base = self.base
        if base is not None and len(base):
            result = base.search(codes, threshold=limit)
            for query, row, distance in zip(result.query.tolist(), result.row.tolist(),
                                            result.distance.tolist(), strict=True):
                key = base.key_of(row)
                if key not in self.hidden:
                    out[query].append(Found(key, distance, self.base_origins.get(key, DEFAULT_ORIGIN), "pdq",
                                            base.hash_of(row)))
        if len(self.delta_codes):
            words = np.ascontiguousarray(codes).view("<u8")
            for start in range(0, len(self.delta_codes), _DELTA_BLOCK):
                block = self.delta_codes[start : start + _DELTA_BLOCK]
                distance = np.bitwise_count(words[:, None, :] ^ block[None, :, :]).sum(axis=2, dtype=np.int32)
                for query, row in zip(*(a.tolist() for a in np.nonzero(distance <= limit)), strict=True):
                    key = self.delta_ids[start + row]
                    out[query].append(Found(key, int(distance[query, row]), self.delta_origins[key], "pdq",
                                            self.delta_values[start + row]))
        for found in out:
            found.sort(key=lambda m: (m.distance, m.id))
        return out

    def exact(self, signal_type: str, value: str) -> list[Found]:
        """The live records holding exactly this digest (already normalised)."""
        pair = (signal_type, value)
        found = [Found(key, 0, self.base_origins.get(key, DEFAULT_ORIGIN), signal_type, value)
                 for key in self.base_exact.get(pair, ()) if key not in self.hidden]
        found += [Found(key, 0, self.delta_origins[key], signal_type, value) for key in self.delta_exact.get(pair, ())]
        return sorted(found, key=lambda m: m.id)


class Overlay:
    """The entries after a saved index, kept so that a new view can be made of them at once:
    which ids they touched, and the live records among them (the last entry of an id wins)."""

    def __init__(self) -> None:
        self.touched: set[str] = set()
        #: id -> (signal_type, value, origin), in the order they were added.
        self.records: dict[str, tuple[str, str, str]] = {}
        #: id -> the 32 bytes of each PDQ record (decoded once, when applied).
        self.codes: dict[str, bytes] = {}
        self.changes = 0

    def apply(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Verified entries, in feed order. Applying a run of entries again changes nothing."""
        for entry in entries:
            key = entry["id"]
            self.touched.add(key)
            self.records.pop(key, None)
            self.codes.pop(key, None)
            if entry["op"] == "add" and entry["signal_type"] in KEPT_TYPES:
                self.records[key] = (entry["signal_type"], entry["value"], origin_of(entry))
                if entry["signal_type"] == "pdq":
                    self.codes[key] = hashes_to_codes([entry["value"]]).tobytes()
            self.changes += 1

    def view(self, base: View) -> View:
        """`base` (a view of the saved index alone, or the previous view) with this overlay.
        Costs a copy of the overlay (the follower makes one a change), never a search structure."""
        pdq = [(key, self.records[key][1]) for key in self.codes]
        exact: dict[tuple[str, str], tuple[str, ...]] = {}
        for key, (kind, value, _) in self.records.items():
            if kind in EXACT_TYPES:
                exact[(kind, value)] = (*exact.get((kind, value), ()), key)
        codes = np.frombuffer(b"".join(self.codes.values()), dtype="<u8").reshape(-1, HASH_BYTES // 8)
        return replace(
            base,
            hidden=frozenset(self.touched),
            delta_codes=codes,
            delta_ids=tuple(key for key, _ in pdq),
            delta_values=tuple(value for _, value in pdq),
            delta_exact=exact,
            delta_origins={key: origin for key, (_, _, origin) in self.records.items()},
            changes=self.changes,
        )


def exact_by_value(exact: Mapping[str, tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """id -> (signal_type, value) turned round: (signal_type, value) -> ids."""
    found: dict[tuple[str, str], list[str]] = {}
    for key, pair in exact.items():
        found.setdefault(pair, []).append(key)
    return {pair: tuple(keys) for pair, keys in found.items()}


def view_of_entries(entries: Iterable[Mapping[str, Any]], *, position: int) -> View:
    """A view of verified entries alone (no saved index): for a small list held in memory."""
    overlay = Overlay()
    overlay.apply(entries)
    return overlay.view(View(position=position))


class LiveIndex:
    """Follows a :class:`LocalStore`: ``view`` is always a complete, consistent view, and
    :meth:`refresh` swaps in a newer one when the store has moved on."""

    def __init__(self, store: LocalStore, *, backend: str = "auto") -> None:
        self.store = store
        self.backend = backend
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._base = View()
        self._overlay = Overlay()
        self._journal_read = 0
        self.view = View()
        self.refresh()

    def refresh(self) -> bool:
        """Swap in the store's newest state if state.json changed since the last look; True if
        it did. The store may be written meanwhile by another process (a ``sync`` from cron):
        what was read is used only if the saved index it belongs to is still the one named."""
        with self._lock:
            stat = self.store.state_file.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return False
            for _ in range(5):
                state = self.store.read_state()
                try:
                    if state.get("index") != self._base.base_name:
                        base, overlay, read = self._load_base(state), Overlay(), 0
                    else:
                        base, overlay, read = self._base, self._overlay, self._journal_read
                    end = int(state.get("journal_bytes", 0))
                    if end < read:  # cut back: start the overlay again from the saved index
                        overlay, read = Overlay(), 0
                    entries = self.store.read_journal(read, end)
                except (OSError, ValueError):
                    continue  # a fold replaced the files under us: read again
                if self.store.read_state().get("index") != state.get("index"):
                    continue
                overlay.apply(entries)
                self._base, self._overlay, self._journal_read = base, overlay, end
                self.view = overlay.view(replace(base, position=int(state["feed"]["position"])))
                self._stamp = stamp
                return True
            raise RuntimeError(f"{self.store.path} kept changing while it was read")

    def apply(self, entries: Sequence[Mapping[str, Any]], *, position: int) -> None:
        """Verified entries not (yet) in the store, in feed order after the current view: the
        hosted lookup's follower hands over pages this way while a fold runs. A later refresh
        that finds them in the store applies them again, which changes nothing."""
        with self._lock:
            self._overlay.apply(entries)
            self.view = self._overlay.view(replace(self._base, position=position))

    def _load_base(self, state: Mapping[str, Any]) -> View:
        name = state.get("index")
        if not name:
            return View()
        index = PDQIndex.load(self.store.path / name, backend=self.backend)
        if len(index):
            # Builds tables saved for another backend and pages the index in, here rather than
            # in the first query.
            index.search(np.zeros((1, HASH_BYTES), dtype=np.uint8))
        origins, exact = self.store.saved_extras(name)
        return View(base=index, base_name=name, base_exact=exact_by_value(exact), base_origins=origins,
                    base_exact_count=len(exact))
