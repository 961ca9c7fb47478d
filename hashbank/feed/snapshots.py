"""Full snapshots: the active set at one position, as gzipped NDJSON with a signed manifest.

A partner starts (or recovers from a checkpoint older than the feed keeps) by loading the
latest snapshot and then following the feed from its position with its head digest.

Crash safety: the file is written under a temporary name, flushed to disk and renamed; only
then is the row (with the signed manifest) committed. A writer holds an exclusive lock on the
snapshot directory throughout, so whoever else takes that lock knows no writer is alive: every
temporary file, and every snapshot file without a row, is a dead writer's leftover and holds
values that must not stay on disk. The kernel drops the lock when a writer is killed.

Retention: only the newest snapshot is kept, plus any it superseded less than
FEED_SNAPSHOT_GRACE seconds ago (a partner that has just read the previous manifest can still
download its file). Older rows are deleted first, then their files, so a partner gets the
documented 404 rather than a manifest without a file. After a case is withdrawn or deleted,
`snapshot_refresh` replaces the newest snapshot at once, so the withdrawn values leave the
disk once the grace period has passed and the next sweep runs.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hashbank.feed.head import head_read
from hashbank.feed.publish import fault_point, publish_pending
from hashbank.feed.signing import sign
from hashbank.feedformat.canonical import FORMAT_VERSION, SNAPSHOT_KIND, entry_bytes, format_time
from hashbank.models import FeedEntry, Snapshot

#: Held (flock) by the one process writing or sweeping snapshot files in the directory.
LOCK_NAME = ".snapshot.lock"
_TEMPORARY_GLOB = ".snapshot-*.tmp"
_FINAL_GLOB = "snapshot-*.ndjson.gz"

# The newest entry of each fingerprint at or before the position; it is live if it is an add.
# (The table name comes from the model, not from input.)
_LIVE_SQL = f"""
SELECT line FROM (
    SELECT line, op, position,
           ROW_NUMBER() OVER (PARTITION BY fingerprint_key ORDER BY position DESC) AS newest
    FROM {FeedEntry._meta.db_table}
    WHERE position <= %s
) AS latest
WHERE newest = 1 AND op = 'add'
ORDER BY position
"""  # noqa: S608


def snapshot_dir() -> Path:
    path = Path(settings.FEED_SNAPSHOT_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def snapshot_path(snapshot: Snapshot) -> Path:
    return snapshot_dir() / snapshot.file_name


def snapshot_build(*, force: bool = False) -> Snapshot | None:
    """Snapshot the current head. Returns None when one already exists there (so running the
    job twice does nothing twice), unless `force`. Waits for a writer already running."""
    with _directory_lock(wait=True):
        head = head_read()
        position, head_digest = head.position, head.digest
        existing = Snapshot.objects.filter(position=position).first()
        if existing is not None and not force:
            return None
        directory = snapshot_dir()
        _remove_temporary_files(directory)
        file_name = f"snapshot-{position:012d}.ndjson.gz"
        final = directory / file_name
        temporary = directory / f".{file_name}.{secrets.token_hex(4)}.tmp"
        count = _write(temporary, position)
        fault_point("snapshot_file_written")
        os.replace(temporary, final)
        fault_point("snapshot_file_renamed")
        data_sha, size = _digest(final)
        now = timezone.now()
        manifest = entry_bytes(
            {
                "format": FORMAT_VERSION,
                "kind": SNAPSHOT_KIND,
                "position": position,
                "head_digest": head_digest,
                "count": count,
                "sha256": data_sha,
                "size": size,
                "created_at": format_time(now),
                "download": f"/api/v1/snapshots/{position}/file",
            }
        )
        kid, signature = sign(manifest)
        try:
            with transaction.atomic():
                if existing is not None:
                    existing.delete()
                snapshot = Snapshot.objects.create(
                    position=position, head_digest=head_digest, count=count, sha256=data_sha, size=size,
                    file_name=file_name, manifest_body=manifest, signature=signature, kid=kid, created_at=now,
                )
        except IntegrityError:
            return None  # another worker recorded this position first, with the same file
        _sweep(directory, now=now, dry_run=False)
        return snapshot


def snapshot_refresh() -> int | None:
    """After a withdrawal or deletion: publish its tombstones, snapshot the new head so the
    newest snapshot no longer holds the withdrawn values, and sweep. With no snapshot in use
    there is nothing to replace, only leftovers to sweep. Returns the new snapshot's
    position, or None. Safe to run twice."""
    publish_pending()
    if not Snapshot.objects.exists():
        snapshot_sweep()
        return None
    snapshot = snapshot_build()
    if snapshot is None:  # one exists at the head already, built after the tombstones
        snapshot_sweep()
        return None
    return snapshot.position


def snapshot_sweep(*, dry_run: bool = False) -> dict[str, int]:
    """Apply the retention rule and remove dead writers' leftovers (periodic, and after every
    snapshot). Returns what was (or, with `dry_run`, would be) removed. While a writer holds
    the lock nothing is touched (`busy` is 1): that writer sweeps when it finishes."""
    directory = snapshot_dir()
    with _directory_lock(wait=False) as held:
        if not held:
            return {"busy": 1, "temporary_files": 0, "superseded": 0, "orphan_files": 0, "kept": 0}
        return {"busy": 0, **_sweep(directory, now=timezone.now(), dry_run=dry_run)}


@contextmanager
def _directory_lock(*, wait: bool) -> Iterator[bool]:
    """Yields whether the directory's lock is held. A file lock, not a database one: it guards
    files in this directory, and the kernel releases it when its holder dies (even SIGKILL)."""
    with (snapshot_dir() / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep(directory: Path, *, now: datetime, dry_run: bool) -> dict[str, int]:
    """The caller holds the directory lock, so no writer is alive."""
    grace = timedelta(seconds=settings.FEED_SNAPSHOT_GRACE)
    rows = list(Snapshot.objects.order_by("-position").only("pk", "position", "file_name", "created_at"))
    kept, superseded = rows[:1], []
    # Each row is superseded from the moment the next newer one was made.
    for newer, older in pairwise(rows):
        (kept if now - newer.created_at < grace else superseded).append(older)
    temporary = sorted(directory.glob(_TEMPORARY_GLOB))
    # A file without a row: a writer killed after its rename, or a sweep killed mid-way.
    recorded = {row.file_name for row in rows}
    orphans = [path for path in sorted(directory.glob(_FINAL_GLOB)) if path.name not in recorded]
    if not dry_run:
        for path in temporary:
            path.unlink(missing_ok=True)
        if superseded:
            # Rows first: a partner then gets the documented 404, never a manifest without a
            # file. A crash before the files go leaves orphans, which the next sweep removes.
            Snapshot.objects.filter(pk__in=[row.pk for row in superseded]).delete()
            for row in superseded:
                (directory / row.file_name).unlink(missing_ok=True)
        for path in orphans:
            path.unlink(missing_ok=True)
    return {"temporary_files": len(temporary), "superseded": len(superseded), "orphan_files": len(orphans),
            "kept": len(kept)}


def _write(path: Path, position: int) -> int:
    count = 0
    # A server-side cursor on PostgreSQL: a million lines stream through without being held.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0) as out:
        with connection.chunked_cursor() as cursor:
            cursor.execute(_LIVE_SQL, [position])
            while True:
                rows = cursor.fetchmany(10_000)
                if not rows:
                    break
                out.write(b"".join(line.encode("ascii") + b"\n" for (line,) in rows))
                count += len(rows)
        out.flush()
        raw.flush()
        os.fsync(raw.fileno())
    return count


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _remove_temporary_files(directory: Path) -> None:
    """Leftovers of killed writers (the caller holds the lock, so none is alive)."""
    for leftover in directory.glob(_TEMPORARY_GLOB):
        leftover.unlink(missing_ok=True)
