"""The reference matcher's local store: the verified feed, as a PDQ index keyed by fingerprint id.

A directory::

    state.json        where the verified chain ends, trusted keys, last signed checkpoint
    index-<position>/ the PDQ index as of <position> (PDQIndex.save, memory-mapped on load), and
                      origins.json: the origin of every id not made by a survivor on their own
                      device ("helpline", or "unrecorded" before origins were published), and
                      exact.json: the exact digests (md5, sha256) by id, {id: [signal_type, value]}
    journal.ndjson    verified entries applied after that position, one canonical line each

Resumable: after each verified page its entries are appended to the journal (and flushed to
disk) and then ``state.json`` is replaced atomically. An interrupted sync (killed, network gone,
a page refused) leaves the last verified page's state; the next sync continues from its cursor
and checkpoint. Journal bytes past what ``state.json`` records (a crash between the two writes)
are cut off and fetched again. At the end of a sync the journal is folded into a new
``index-<position>`` (written before ``state.json`` points to it, so a crash never leaves a
half-written index in use). Folding rebuilds the whole index (seconds at a million records), so
a caller that syncs every second (the hosted lookup, hashbank.platform.lookup_service) passes
``fold_bytes`` to fold only once the journal is large, and may fold in another process
(:meth:`LocalStore.fold_build`, then :meth:`LocalStore.fold_commit`); a sync that does not fold
never opens the index, so following a quiet feed costs three small requests.

Records are keyed by fingerprint id, not by value: two survivors can submit the same image, and
one withdrawing removes only their own record.

PDQ is indexed (``match`` and ``serve`` are PDQ matchers); the exact digests of photo files
(``md5``, ``sha256``) are kept beside it by id (the hosted lookup answers them, and a withdrawal
removes them like any record); other signal types are counted and skipped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashbank.feedformat import entry_bytes, origin_of
from hashbank.platform.feed import CursorExpired, FeedClient, FeedState, read_feed
from hashbank.platform.index import PDQIndex

STORE_FORMAT = "hashbank-platform-store"
STORE_VERSION = 1
STATE_FILE = "state.json"
JOURNAL_FILE = "journal.ndjson"
ORIGINS_FILE = "origins.json"
EXACT_FILE = "exact.json"
#: Exact digests of photo files kept beside the PDQ index, by id.
EXACT_TYPES = ("md5", "sha256")
#: Signal types the store keeps (everything else is counted and skipped).
KEPT_TYPES = ("pdq", *EXACT_TYPES)
#: The origin of an id that origins.json does not list (most of them).
DEFAULT_ORIGIN = "survivor"


class StoreError(Exception):
    """The directory is not a usable store."""


@dataclass
class SyncReport:
    pages: int = 0
    entries: int = 0
    added: int = 0
    withdrawn: int = 0
    skipped: int = 0
    snapshot_entries: int = 0
    position: int = 0
    #: PDQ and exact records held after the run; None when the run did not open the index (a
    #: sync with ``fold_bytes`` that did not fold). A run that did not fold counts its pages'
    #: withdrawals as received, whether or not the store held their ids.
    records: int | None = 0
    exact_records: int | None = 0


class LocalStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- state -----------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    @property
    def journal_file(self) -> Path:
        return self.path / JOURNAL_FILE

    def exists(self) -> bool:
        return self.state_file.is_file()

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, base_url: str, trusted_keys: Mapping[str, str]) -> LocalStore:
        store = cls(path)
        if store.exists():
            raise StoreError(f"{store.path} is already a store")
        if not trusted_keys:
            raise StoreError("trust at least one signing key (--trusted-key kid=base64, from GET /keys, checked "
                             "with us out of band)")
        store.path.mkdir(parents=True, exist_ok=True)
        store._write_state({"format": STORE_FORMAT, "version": STORE_VERSION, "base_url": base_url.rstrip("/"),
                            "feed": FeedState(keys=dict(trusted_keys)).as_dict(), "index": None,
                            "journal_bytes": 0})
        return store

    def read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError) as error:
            raise StoreError(f"{self.path} is not a store (no readable {STATE_FILE}): {error}") from None
        if state.get("format") != STORE_FORMAT or state.get("version") != STORE_VERSION:
            raise StoreError(f"{self.state_file} is not a version {STORE_VERSION} store")
        return state

    def _write_state(self, state: Mapping[str, Any]) -> None:
        temporary = self.path / f".{STATE_FILE}.tmp"
        with open(temporary, "w") as f:
            json.dump(state, f, sort_keys=True, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.state_file)

    # -- the index -------------------------------------------------------------------------------

    def open_index(self, *, backend: str = "auto", state: Mapping[str, Any] | None = None,
                   origins: dict[str, str] | None = None,
                   exact: dict[str, tuple[str, str]] | None = None) -> PDQIndex:
        """The index as of the last verified page: the saved base plus the journal. Pass a dict
        as `origins` to have it filled with the non-survivor origins (id -> origin) too, and one
        as `exact` for the exact digests (id -> (signal_type, value))."""
        return self._open(backend, state or self.read_state(), origins, exact)[0]

    def _open(self, backend: str, state: Mapping[str, Any], origins: dict[str, str] | None,
              exact: dict[str, tuple[str, str]] | None,
              counted_from: int | None = None) -> tuple[PDQIndex, tuple[int, int, int]]:
        """open_index, and (added, withdrawn, skipped) of the journal from byte `counted_from` on."""
        if state.get("index"):
            index = PDQIndex.load(self.path / state["index"], backend=backend)
            if origins is not None:
                origins.update(self._load_origins(self.path / state["index"]))
            if exact is not None:
                exact.update(self._load_exact(self.path / state["index"]))
        else:
            index = PDQIndex(backend=backend)
        length = int(state.get("journal_bytes", 0))
        start = length if counted_from is None else min(counted_from, length)
        self._replay(index, 0, start, origins, exact)
        return index, self._replay(index, start, length, origins, exact)

    def origins(self, state: Mapping[str, Any] | None = None) -> dict[str, str]:
        """id -> origin for the ids not made by survivors themselves (see DEFAULT_ORIGIN)."""
        found: dict[str, str] = {}
        self.open_index(backend="numpy", state=state, origins=found, exact={}).close()
        return found

    @staticmethod
    def _load_origins(directory: Path) -> dict[str, str]:
        try:
            return dict(json.loads((directory / ORIGINS_FILE).read_text()))
        except FileNotFoundError:
            return {}  # an index saved before origins were kept: its ids are unrecorded
        except ValueError as error:
            raise StoreError(f"{directory / ORIGINS_FILE} is damaged: {error}") from None

    @staticmethod
    def _load_exact(directory: Path) -> dict[str, tuple[str, str]]:
        try:
            stored = json.loads((directory / EXACT_FILE).read_text())
            return {key: (str(pair[0]), str(pair[1])) for key, pair in stored.items()}
        except FileNotFoundError:
            return {}  # an index saved before exact digests were kept
        except (ValueError, TypeError, IndexError, AttributeError) as error:
            raise StoreError(f"{directory / EXACT_FILE} is damaged: {error}") from None

    def saved_extras(self, name: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
        """The origins and exact digests kept beside the saved index `name`."""
        return self._load_origins(self.path / name), self._load_exact(self.path / name)

    def read_journal(self, start: int, end: int) -> list[dict[str, Any]]:
        """The verified entries in journal bytes [start, end) (both at line ends, as state.json's
        journal_bytes always is)."""
        if end <= start:
            return []
        with open(self.journal_file, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
        if len(data) != end - start:
            raise StoreError(f"{self.journal_file} is shorter than {STATE_FILE} says: the store is damaged")
        return [json.loads(line) for line in data.splitlines() if line]

    def _replay(self, index: PDQIndex, start: int, end: int, origins: dict[str, str] | None = None,
                exact: dict[str, tuple[str, str]] | None = None) -> tuple[int, int, int]:
        if end <= start:
            return 0, 0, 0
        return apply_entries(index, self.read_journal(start, end), origins, exact)

    # -- sync ------------------------------------------------------------------------------------

    def sync(
        self,
        client: FeedClient,
        *,
        backend: str = "auto",
        page_size: int = 1000,
        max_pages: int | None = None,
        on_batch: Callable[[str, int, int], None] | None = None,
        fold_bytes: int | None = 0,
    ) -> SyncReport:
        """Pull and verify into the store. Raises VerifyError (nothing of the refused document
        applied; the state stays at the last verified page) or FeedError.

        Verified pages go to the journal; at the end the journal is folded into a new saved
        index when it holds more than `fold_bytes` bytes (0: whenever it holds anything, so the
        store is one saved index after every run; None: never, for a caller that folds by
        itself with fold_build and fold_commit). A run that does not fold leaves the index
        unopened."""
        state = self.read_state()
        self._cut_journal(int(state.get("journal_bytes", 0)))
        report = SyncReport()
        # This run's pages are the journal from here on (counted when the journal is replayed).
        counted_from = int(state.get("journal_bytes", 0))
        feed_state = FeedState.from_dict(state["feed"])
        bootstrap = not feed_state.started
        while True:
            try:
                for batch in read_feed(client, feed_state, page_size=page_size, bootstrap=bootstrap,
                                       max_pages=max_pages):
                    if batch.kind == "snapshot":
                        index, counts = index_from_snapshot(batch.entries, backend=backend)
                        try:
                            report.snapshot_entries = len(batch.entries)
                            self._count(report, counts)
                            state = self._save_base(index, state, batch.state, snapshot_origins(batch.entries),
                                                    snapshot_exact(batch.entries))
                        finally:
                            index.close()
                        counted_from = 0
                    else:
                        report.pages += 1
                        state = self._append(batch.entries, state, batch.state)
                    report.entries += len(batch.entries)
                    report.position = batch.state.position
                    if on_batch is not None:
                        on_batch(batch.kind, len(batch.entries), batch.state.position)
                break
            except CursorExpired:
                if bootstrap:
                    raise
                # Older than the feed keeps: withdrawals may have been pruned, so the only
                # safe way on is to start again from the signed snapshot.
                feed_state = FeedState.from_dict(state["feed"])
                bootstrap = True
        journal = int(state.get("journal_bytes", 0))
        if fold_bytes is None or (fold_bytes > 0 and journal <= fold_bytes):
            self._count(report, count_entries(self.read_journal(counted_from, journal)))
            report.records = report.exact_records = None
            return report
        origins: dict[str, str] = {}
        exact: dict[str, tuple[str, str]] = {}
        index, counts = self._open(backend, state, origins, exact, counted_from)
        try:
            self._count(report, counts)
            if journal:
                state = self._save_base(index, state, FeedState.from_dict(state["feed"]), origins, exact)
            report.records, report.exact_records = len(index), len(exact)
            return report
        finally:
            index.close()

    def append(self, entries: list[dict[str, Any]], feed_state: FeedState) -> dict[str, Any]:
        """Add verified entries (in feed order, continuing the stored chain) and the state after
        them, as sync does for each page. For a caller that verified pages itself (read_feed)
        while a fold_build ran, to write them once fold_commit has."""
        return self._append(entries, self.read_state(), feed_state)

    def fold_build(self, state: Mapping[str, Any], *, backend: str = "auto") -> str:
        """Write the index of `state` (its saved index plus its journal) as a new saved index
        directory, and return its name; state.json is left alone (fold_commit points it there).
        A whole rebuild: run it in another process (it only reads the store's files, and
        nothing else writes the directory it makes) while this one keeps answering."""
        origins: dict[str, str] = {}
        exact: dict[str, tuple[str, str]] = {}
        with self.open_index(backend=backend, state=state, origins=origins, exact=exact) as index:
            name = f"index-{int(state['feed']['position']):012d}"
            if name != state.get("index"):
                self._write_base(index, name, origins, exact)
        return name

    def fold_commit(self, state: Mapping[str, Any], name: str) -> dict[str, Any]:
        """Point state.json at `name`, built by fold_build from `state`, with an empty journal,
        if the store is still at `state` (StoreError otherwise: nothing changed)."""
        if self.read_state() != state:
            raise StoreError("the store moved on while its journal was being folded; fold again")
        if not (self.path / name / "manifest.json").is_file():
            raise StoreError(f"{name} is not a finished index")
        return self._use_base(name, dict(state), FeedState.from_dict(state["feed"]))

    @staticmethod
    def _count(report: SyncReport, counts: tuple[int, int, int]) -> None:
        report.added += counts[0]
        report.withdrawn += counts[1]
        report.skipped += counts[2]

    def _cut_journal(self, length: int) -> None:
        if self.journal_file.exists() and self.journal_file.stat().st_size > length:
            with open(self.journal_file, "r+b") as f:
                f.truncate(length)

    def _append(self, entries: list[dict[str, Any]], state: dict[str, Any], feed_state: FeedState) -> dict[str, Any]:
        if not entries and state.get("feed") == feed_state.as_dict():
            return state  # a quiet feed: nothing to write (a sync every second stays cheap)
        length = int(state.get("journal_bytes", 0))
        if entries:
            with open(self.journal_file, "ab") as f:
                f.write(b"".join(entry_bytes(entry) + b"\n" for entry in entries))
                f.flush()
                os.fsync(f.fileno())
                length = f.tell()
        state = {**state, "feed": feed_state.as_dict(), "journal_bytes": length}
        self._write_state(state)
        return state

    def _write_base(self, index: PDQIndex, name: str, origins: Mapping[str, str],
                    exact: Mapping[str, tuple[str, str]]) -> None:
        target = self.path / name
        if target.exists():
            shutil.rmtree(target)
        index.save(target)
        # Written into the new index's directory before state.json names it, like the index.
        for file_name, content in ((ORIGINS_FILE, dict(sorted(origins.items()))),
                                   (EXACT_FILE, {key: list(pair) for key, pair in sorted(exact.items())})):
            with open(target / file_name, "w") as f:
                json.dump(content, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())

    def _save_base(self, index: PDQIndex, state: dict[str, Any], feed_state: FeedState,
                   origins: Mapping[str, str], exact: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        name = f"index-{feed_state.position:012d}"
        if name != state.get("index"):
            self._write_base(index, name, origins, exact)
        # else: same position, new contents cannot happen; keep the one in use
        return self._use_base(name, state, feed_state)

    def _use_base(self, name: str, state: dict[str, Any], feed_state: FeedState) -> dict[str, Any]:
        state = {**state, "feed": feed_state.as_dict(), "index": name, "journal_bytes": 0}
        self._write_state(state)
        self._cut_journal(0)
        for old in self.path.glob("index-*"):
            if old.name != name and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return state


def index_from_snapshot(entries: list[dict[str, Any]], *, backend: str) -> tuple[PDQIndex, tuple[int, int, int]]:
    """A new index of a snapshot's entries (all additions, one per id), built in one go. The
    counts include the exact digests (kept beside it: snapshot_exact)."""
    pdq = [entry for entry in entries if entry["signal_type"] == "pdq" and entry["op"] == "add"]
    index = PDQIndex.build([(entry["value"], entry["id"]) for entry in pdq], backend=backend)
    kept = sum(1 for entry in entries if entry["signal_type"] in KEPT_TYPES and entry["op"] == "add")
    return index, (kept, 0, len(entries) - kept)


def snapshot_origins(entries: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {entry["id"]: origin for entry in entries
            if entry["signal_type"] in KEPT_TYPES and (origin := origin_of(entry)) != DEFAULT_ORIGIN}


def snapshot_exact(entries: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    return {entry["id"]: (entry["signal_type"], entry["value"]) for entry in entries
            if entry["signal_type"] in EXACT_TYPES and entry["op"] == "add"}


def count_entries(entries: Iterable[Mapping[str, Any]]) -> tuple[int, int, int]:
    """(added, withdrawn, skipped) by the entries alone, without an index: additions of kept
    signal types, withdrawals received, everything else."""
    added = withdrawn = skipped = 0
    for entry in entries:
        if entry["op"] == "withdraw":
            withdrawn += 1
        elif entry["signal_type"] in KEPT_TYPES:
            added += 1
        else:
            skipped += 1
    return added, withdrawn, skipped


def apply_entries(index: PDQIndex, entries: Iterable[Mapping[str, Any]], origins: dict[str, str] | None = None,
                  exact: dict[str, tuple[str, str]] | None = None) -> tuple[int, int, int]:
    """Apply verified entries in feed order (and to `origins` and `exact`, when given). Returns
    (added, withdrawn, skipped). Without `exact`, exact digests are skipped like other types."""
    kept = KEPT_TYPES if exact is not None else ("pdq",)
    added = withdrawn = skipped = 0
    for entry in entries:
        if origins is not None:
            origins.pop(entry["id"], None)
            if entry["op"] == "add" and entry["signal_type"] in kept and origin_of(entry) != DEFAULT_ORIGIN:
                origins[entry["id"]] = origin_of(entry)
        held_exact = exact is not None and exact.pop(entry["id"], None) is not None
        if entry["op"] == "withdraw":
            # A withdrawal names only the id (feed format 2); removing an id this index never
            # held (another signal type) changes nothing.
            if index.remove_key(entry["id"]) or held_exact:
                withdrawn += 1
            else:
                skipped += 1
            continue
        if entry["signal_type"] in EXACT_TYPES and exact is not None:
            exact[entry["id"]] = (entry["signal_type"], entry["value"])
            added += 1
            continue
        if entry["signal_type"] != "pdq":
            skipped += 1
            continue
        # An id can come back (staff cleared a disputed fingerprint): one row per id, always.
        index.remove_key(entry["id"])
        index.add(entry["value"], entry["id"])
        added += 1
    return added, withdrawn, skipped
