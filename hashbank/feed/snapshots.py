"""Full snapshots: the active set at one position, as gzipped NDJSON with a signed manifest.

A partner starts (or recovers from a checkpoint older than the feed keeps) by loading the
latest snapshot and then following the feed from its position with its head digest.

Crash safety: the file is written under a temporary name, flushed to disk and renamed; only
then is the row (with the signed manifest) committed. A worker killed before the rename
leaves a temporary file that the next run removes; killed after it, the next run finds no row
for that position and writes the same file again. A snapshot is never half-visible and never
recorded twice (one row per position).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hashbank.feed.publish import fault_point, head_read
from hashbank.feed.signing import sign
from hashbank.fingerprints.verify import FORMAT_VERSION, SNAPSHOT_KIND, entry_bytes, format_time
from hashbank.models import FeedEntry, Snapshot

#: Older snapshots beyond this many are deleted (files and rows).
KEEP = 3

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
    job twice does nothing twice), unless `force`."""
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
    _prune_old()
    return snapshot


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
    """Leftovers of killed runs. Only old ones: a younger one may be another worker's, mid-write."""
    cutoff = timezone.now().timestamp() - 3600
    for leftover in directory.glob(".snapshot-*.tmp"):
        if leftover.stat().st_mtime < cutoff:
            leftover.unlink(missing_ok=True)


def _prune_old() -> None:
    for old in Snapshot.objects.order_by("-position")[KEEP:]:
        (snapshot_dir() / old.file_name).unlink(missing_ok=True)
        old.delete()
