"""Cases, their files' fingerprints and their timeline.

A case is found only by the SHA-256 digest of its normalised reference plus an Argon2-hashed
PIN; nothing identifies the person. The feed sees only `feed_token`, which is random and
unrelated to the reference, so a partner (or a leaked feed) cannot open a case.
"""

from __future__ import annotations

from django.db import models


class Case(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        WITHDRAWN = "withdrawn", "withdrawn"
        DELETED = "deleted", "deleted"

    class Origin(models.TextChoices):
        """Where the case was made; every addition to the feed carries it (docs/feed.md)."""

        # On the survivor's own device, through the public pages.
        SURVIVOR = "survivor", "survivor"
        # With a caseworker of a member organisation, the client present.
        HELPLINE = "helpline", "helpline"

    # Null once the case is deleted: the reference then opens nothing, like a wrong one.
    reference_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    pin_hash = models.CharField(max_length=200, blank=True)
    feed_token = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.SURVIVOR)
    created_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["status", "last_activity_at"])]

    def __str__(self) -> str:
        # Never the reference (we do not have it) and never the digest (it would open the case
        # to anyone who can guess the reference's format... it cannot, but logs are no place for it).
        return f"case {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class CaseFile(models.Model):
    """One file's fingerprints. The file itself, its name and its metadata never reach us."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        WITHDRAWN = "withdrawn", "withdrawn"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="files")
    public_id = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    added_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return f"file {self.public_id} ({self.status})"


class Fingerprint(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        WITHDRAWN = "withdrawn", "withdrawn"
        # Reported as a false match by two partners: out of the feed until staff decide.
        HELD = "held", "held for review"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="fingerprints")
    case_file = models.ForeignKey(CaseFile, on_delete=models.CASCADE, related_name="fingerprints")
    # The id partners see in the feed and quote in feedback; random, says nothing about the case.
    public_id = models.CharField(max_length=32, unique=True)
    signal_type = models.CharField(max_length=32)
    # Normalised by hashbank.fingerprints; text because a vPDQ value is a JSON list of frames.
    value = models.TextField()
    quality = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.signal_type} {self.public_id} ({self.status})"


class CaseEvent(models.Model):
    """The case's timeline, as the survivor (or their caseworker) sees it."""

    class Kind(models.TextChoices):
        RECEIVED = "received", "received"
        SHARED_WITH_PARTNERS = "shared_with_partners", "shared with partners"
        FILES_ADDED = "files_added", "files added"
        FILE_WITHDRAWN = "file_withdrawn", "file withdrawn"
        WITHDRAWN = "withdrawn", "case withdrawn"
        WITHDRAWAL_SHARED = "withdrawal_shared", "withdrawal sent to partners"
        MATCH_REPORTED = "match_reported", "match reported by a partner"
        FINGERPRINT_HELD = "fingerprint_held", "fingerprint paused for review"
        FINGERPRINT_RESTORED = "fingerprint_restored", "fingerprint back in the feed"
        FINGERPRINT_REMOVED = "fingerprint_removed", "fingerprint removed after review"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    at = models.DateTimeField()
    # Counts and outcomes only: never partner content, never a partner's name unless the
    # partner agreed to be listed publicly.
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["case", "kind", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class FingerprintReview(models.Model):
    """Why a fingerprint was held, cleared or removed, and by whom (staff), for the record."""

    class Action(models.TextChoices):
        HELD = "held", "held"
        CLEARED = "cleared", "cleared"
        REMOVED = "removed", "removed"

    class Cause(models.TextChoices):
        """Why a hold happened, or what a removal found (for figures; `reason` says it in words)."""

        VOLUME = "volume", "more new cases than usual"
        FALSE_MATCH = "false_match", "reported as a false match"
        MATCH_SPIKE = "match_spike", "matched far more often than usual"
        BENIGN_MATCH = "benign_match", "close to a fingerprint marked harmless"
        HARMLESS = "harmless", "not intimate image abuse"

    fingerprint = models.ForeignKey(Fingerprint, on_delete=models.CASCADE, related_name="reviews")
    action = models.CharField(max_length=16, choices=Action.choices)
    cause = models.CharField(max_length=16, choices=Cause.choices, blank=True, default="")
    reviewer_name = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"


class BenignFingerprint(models.Model):
    """A fingerprint staff marked as not intimate image abuse (a famous artwork, a meme, a stock
    photo). Later submissions within PDQ distance 31 of one (or equal in md5/sha256) are stored
    in their case but held for a reviewer instead of being published (hashbank.benign). Only
    the fingerprint is kept, never which case it came from."""

    signal_type = models.CharField(max_length=32)
    value = models.TextField()
    reason = models.TextField()
    marked_by = models.CharField(max_length=150)
    marked_at = models.DateTimeField()

    class Meta:
        ordering = ["-marked_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["signal_type", "value"], name="benign_unique_value")]

    def __str__(self) -> str:
        return f"benign {self.signal_type} ({self.marked_at:%Y-%m-%d})"
