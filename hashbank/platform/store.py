"""The reference matcher's local store: the verified feed, as a PDQ index keyed by fingerprint id.

A directory::

    state.json        where the verified chain ends, trusted keys, last signed checkpoint
    index-<position>/ the PDQ index as of <position> (PDQIndex.save, memory-mapped on load), and
                      origins.json: the origin of every id not made by a survivor on their own
                      device ("helpline", or "unrecorded" before origins were published)
    journal.ndjson    verified entries applied after that position, one canonical line each

Resumable: after each verified page its entries are appended to the journal (and flushed to
disk) and then ``state.json`` is replaced atomically. An interrupted sync (killed, network gone,
a page refused) leaves the last verified page's state; the next sync continues from its cursor
and checkpoint. Journal bytes past what ``state.json`` records (a crash between the two writes)
are cut off and fetched again. At the end of a sync the journal is folded into a new
``index-<position>`` (written before ``state.json`` points to it, so a crash never leaves a
half-written index in use).

Records are keyed by fingerprint id, not by value: two survivors can submit the same image, and
one withdrawing removes only their own record.

Only PDQ is indexed (``match`` and ``serve`` are PDQ matchers); other signal types are counted
and skipped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashbank.fingerprints.verify import entry_bytes, origin_of
from hashbank.platform.feed import CursorExpired, FeedClient, FeedState, read_feed
from hashbank.platform.index import PDQIndex

STORE_FORMAT = "hashbank-platform-store"
STORE_VERSION = 1
STATE_FILE = "state.json"
JOURNAL_FILE = "journal.ndjson"
ORIGINS_FILE = "origins.json"
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
    records: int = 0


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
                   origins: dict[str, str] | None = None) -> PDQIndex:
        """The index as of the last verified page: the saved base plus the journal. Pass a dict
        as `origins` to have it filled with the non-survivor origins (id -> origin) too."""
        state = state or self.read_state()
        if state.get("index"):
            index = PDQIndex.load(self.path / state["index"], backend=backend)
            if origins is not None:
                origins.update(self._load_origins(self.path / state["index"]))
        else:
            index = PDQIndex(backend=backend)
        self._replay(index, int(state.get("journal_bytes", 0)), origins)
        return index

    def origins(self, state: Mapping[str, Any] | None = None) -> dict[str, str]:
        """id -> origin for the ids not made by survivors themselves (see DEFAULT_ORIGIN)."""
        found: dict[str, str] = {}
        self.open_index(backend="numpy", state=state, origins=found).close()
        return found

    @staticmethod
    def _load_origins(directory: Path) -> dict[str, str]:
        try:
            return dict(json.loads((directory / ORIGINS_FILE).read_text()))
        except FileNotFoundError:
            return {}  # an index saved before origins were kept: its ids are unrecorded
        except ValueError as error:
            raise StoreError(f"{directory / ORIGINS_FILE} is damaged: {error}") from None

    def _replay(self, index: PDQIndex, length: int, origins: dict[str, str] | None = None) -> None:
        if length == 0:
            return
        with open(self.journal_file, "rb") as f:
            data = f.read(length)
        if len(data) != length:
            raise StoreError(f"{self.journal_file} is shorter than {STATE_FILE} says: the store is damaged")
        apply_entries(index, (json.loads(line) for line in data.splitlines() if line), origins)

    # -- sync ------------------------------------------------------------------------------------

    def sync(
        self,
        client: FeedClient,
        *,
        backend: str = "auto",
        page_size: int = 1000,
        max_pages: int | None = None,
        on_batch: Callable[[str, int, int], None] | None = None,
    ) -> SyncReport:
        """Pull and verify into the store. Raises VerifyError (nothing of the refused document
        applied; the state stays at the last verified page) or FeedError."""
        state = self.read_state()
        self._cut_journal(int(state.get("journal_bytes", 0)))
        origins: dict[str, str] = {}
        index = self.open_index(backend=backend, state=state, origins=origins)
        report = SyncReport()
        feed_state = FeedState.from_dict(state["feed"])
        bootstrap = not feed_state.started
        try:
            while True:
                try:
                    for batch in read_feed(client, feed_state, page_size=page_size, bootstrap=bootstrap,
                                           max_pages=max_pages):
                        if batch.kind == "snapshot":
                            index.close()
                            index, counts = index_from_snapshot(batch.entries, backend=backend)
                            origins = snapshot_origins(batch.entries)
                            report.snapshot_entries = len(batch.entries)
                            self._count(report, counts)
                            state = self._save_base(index, state, batch.state, origins)
                        else:
                            self._count(report, apply_entries(index, batch.entries, origins))
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
            if int(state.get("journal_bytes", 0)):
                state = self._save_base(index, state, FeedState.from_dict(state["feed"]), origins)
            report.records = len(index)
            return report
        finally:
            index.close()

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

    def _save_base(self, index: PDQIndex, state: dict[str, Any], feed_state: FeedState,
                   origins: Mapping[str, str]) -> dict[str, Any]:
        name = f"index-{feed_state.position:012d}"
        target = self.path / name
        if target.exists() and name != state.get("index"):
            shutil.rmtree(target)
        if name != state.get("index"):
            index.save(target)
            # Written into the new index's directory before state.json names it, like the index.
            with open(target / ORIGINS_FILE, "w") as f:
                json.dump(dict(sorted(origins.items())), f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
        else:  # same position, new contents cannot happen; keep the one in use
            pass
        state = {**state, "feed": feed_state.as_dict(), "index": name, "journal_bytes": 0}
        self._write_state(state)
        self._cut_journal(0)
        for old in self.path.glob("index-*"):
            if old.name != name and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return state


def index_from_snapshot(entries: list[dict[str, Any]], *, backend: str) -> tuple[PDQIndex, tuple[int, int, int]]:
    """A new index of a snapshot's entries (all additions, one per id), built in one go."""
    pdq = [entry for entry in entries if entry["signal_type"] == "pdq" and entry["op"] == "add"]
    index = PDQIndex.build([(entry["value"], entry["id"]) for entry in pdq], backend=backend)
    return index, (len(pdq), 0, len(entries) - len(pdq))


def snapshot_origins(entries: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {entry["id"]: origin for entry in entries
            if entry["signal_type"] == "pdq" and (origin := origin_of(entry)) != DEFAULT_ORIGIN}


def apply_entries(index: PDQIndex, entries: Iterable[Mapping[str, Any]],
                  origins: dict[str, str] | None = None) -> tuple[int, int, int]:
    """Apply verified entries in feed order (and to `origins`, when given). Returns (added,
    withdrawn, skipped)."""
    added = withdrawn = skipped = 0
    for entry in entries:
        if origins is not None:
            origins.pop(entry["id"], None)
            if entry["op"] == "add" and entry["signal_type"] == "pdq" and origin_of(entry) != DEFAULT_ORIGIN:
                origins[entry["id"]] = origin_of(entry)
        if entry["op"] == "withdraw":
            # A withdrawal names only the id (feed format 2); removing an id this index never
            # held (another signal type) changes nothing.
            if index.remove_key(entry["id"]):
                withdrawn += 1
            else:
                skipped += 1
            continue
        if entry["signal_type"] != "pdq":
            skipped += 1
            continue
        # An id can come back (staff cleared a disputed fingerprint): one row per id, always.
        index.remove_key(entry["id"])
        index.add(entry["value"], entry["id"])
        added += 1
    return added, withdrawn, skipped
