"""The partner feed: an outbox written by services, an append-only log stamped by one
publisher, the head it has reached, signing keys and snapshots.

Why an outbox: a sequence number taken at insert time becomes visible only at commit, so a
reader could store position 4 as its cursor and never see 3 if 3 commits later. Services
therefore write only to the outbox inside their own transaction; the publisher (one at a
time, serialised by a write to the head row) gives positions in its own short transaction, so
the order of positions is the order in which they become visible.
"""

from __future__ import annotations

from django.db import models


class FeedOp(models.TextChoices):
    ADD = "add", "add"
    WITHDRAW = "withdraw", "withdraw"


class FeedOutbox(models.Model):
    """A change waiting for the publisher. Rows leave in the publisher's transaction."""

    fingerprint_key = models.CharField(max_length=32)
    op = models.CharField(max_length=8, choices=FeedOp.choices)
    # Empty for a withdrawal: a tombstone names only the id (feed format 2).
    signal_type = models.CharField(max_length=32, blank=True, default="")
    value = models.TextField(blank=True, default="")
    quality = models.PositiveSmallIntegerField(null=True, blank=True)
    case_token = models.CharField(max_length=32, blank=True, default="")
    # The case's origin (Case.Origin), copied for the addition's line; empty for a withdrawal.
    origin = models.CharField(max_length=16, blank=True, default="")
    # Only to add "shared with partners" to the right timeline once published.
    case = models.ForeignKey("hashbank.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"pending {self.op} {self.fingerprint_key}"


class FeedEntry(models.Model):
    """One published entry. `line` is the exact canonical JSON served and hashed into the chain;
    `chain` is the chain digest after this entry. Never updated; pruned only below the floor."""

    position = models.BigIntegerField(primary_key=True)
    fingerprint_key = models.CharField(max_length=32)
    op = models.CharField(max_length=8, choices=FeedOp.choices)
    line = models.TextField()
    chain = models.CharField(max_length=64)
    published_at = models.DateTimeField()
    # When a partner first received a page holding this entry (the transparency figures'
    # "time from submission to the first partner fetch"). Set once, by hashbank.feed.progress.
    first_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        indexes = [models.Index(fields=["fingerprint_key", "position"])]

    def __str__(self) -> str:
        return f"#{self.position} {self.op} {self.fingerprint_key}"


class FeedHead(models.Model):
    """The single row (pk=1) the publisher locks: where the log ends, where it starts (after
    pruning), and the latest signed checkpoint."""

    position = models.BigIntegerField(default=0)
    digest = models.CharField(max_length=64)
    # Entries at or below `floor_position` may have been pruned; a cursor below it must
    # restart from a snapshot. `floor_digest` is the chain digest at the floor.
    floor_position = models.BigIntegerField(default=0)
    floor_digest = models.CharField(max_length=64)
    checkpoint_version = models.BigIntegerField(default=0)
    checkpoint_body = models.BinaryField(default=b"")
    checkpoint_signature = models.CharField(max_length=128, blank=True)
    checkpoint_kid = models.CharField(max_length=64, blank=True)
    checkpoint_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every publisher run before it reads anything: the write takes the row lock
    # on PostgreSQL and the database write lock on SQLite, so publishers never overlap.
    runs = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"feed head at {self.position}"


class SigningKey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "active (signs)"
        RETIRING = "retiring", "retiring (published, no longer signs)"
        RETIRED = "retired", "retired"

    kid = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=64)  # raw 32 bytes, base64
    # Fernet token of the raw private key, under a key derived from FEED_KEY_SECRET.
    private_key_encrypted = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    retire_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"


class Snapshot(models.Model):
    """A gzipped NDJSON file of the active set at `position`, with its signed manifest."""

    position = models.BigIntegerField(unique=True)
    head_digest = models.CharField(max_length=64)
    count = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    file_name = models.CharField(max_length=200)
    manifest_body = models.BinaryField()
    signature = models.CharField(max_length=128)
    kid = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-position"]
        get_latest_by = "position"

    def __str__(self) -> str:
        return f"snapshot at {self.position} ({self.count} entries)"
