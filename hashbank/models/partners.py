"""Partners (platforms that pull the feed), their API keys and their match feedback."""

from __future__ import annotations

from django.db import models


class Partner(models.Model):
    name = models.CharField(max_length=150, unique=True)
    # Shown on the survivor start page only when the partner agreed to be listed.
    listed_publicly = models.BooleanField(default=False)
    public_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    # Our own reader of the feed (the hosted lookup's index process, `partner_create --internal`):
    # never a partner platform in what survivors, partners or the public are told.
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.public_name or self.name


class PartnerKey(models.Model):
    """An API key: `isk_<prefix>_<secret>`. Only the prefix (to find the row) and a SHA-256 of
    the whole key are stored; the key is shown once. SHA-256 rather than Argon2 because the
    secret is 160 random bits (nothing to brute-force) and every API request checks it."""

    class Scope(models.TextChoices):
        # Reads the feed, snapshots and evidence; may also use the hosted lookup.
        FEED = "feed", "feed and lookup"
        # Only the hosted lookup (POST /api/v1/lookup): for small services that should not
        # hold the list themselves. It can never read the feed.
        LOOKUP = "lookup", "lookup only"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    label = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FEED)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"isk_{self.prefix}_… ({'revoked' if self.revoked_at else 'active'})"


class PartnerFeedback(models.Model):
    class Outcome(models.TextChoices):
        PENDING_REVIEW = "pending_review", "pending review"
        BLOCKED = "blocked", "blocked"
        NOT_BLOCKED = "not_blocked", "not blocked"
        FALSE_MATCH = "false_match", "false match"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="feedback")
    fingerprint = models.ForeignKey("hashbank.Fingerprint", on_delete=models.CASCADE, related_name="feedback")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    idempotency_key = models.CharField(max_length=100)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "idempotency_key"], name="feedback_idempotency_key_once"),
        ]
        indexes = [models.Index(fields=["fingerprint", "outcome"])]

    def __str__(self) -> str:
        return f"{self.outcome} from partner {self.partner_id}"


class PartnerProgress(models.Model):
    """How far one partner has read the feed, for its evidence document (GET /api/v1/evidence):
    the furthest position it was served, the newest checkpoint it fetched, and how many
    additions and withdrawals it has received. Kept by hashbank.feed.progress as pages and
    checkpoints are served; counts only grow (pruning never lowers them)."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="progress")
    position = models.BigIntegerField(default=0)
    position_at = models.DateTimeField(null=True, blank=True)
    checkpoint_version = models.BigIntegerField(default=0)
    checkpoint_head = models.BigIntegerField(default=0)
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    additions_fetched = models.BigIntegerField(default=0)
    withdrawals_fetched = models.BigIntegerField(default=0)
    first_fetch_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.partner} at {self.position}"


class DeliveryMark(models.Model):
    """Feed positions one partner key has fetched, for the survivor's "fetched by N of M
    partner platforms" (hashbank.feed.delivery). A key's marks only ever gain a higher `high`:
    the key had been served every position in (run_start, high] by `at` (a page, or a
    snapshot file, which stands for the whole feed up to its position). A page that continues
    the key's newest mark within FEED_DELIVERY_MARK_SECONDS of its opening extends it (one
    UPDATE, no new row); otherwise a new mark starts, carrying on `run_start` when it
    continues or overlaps what came before, starting afresh where the key skipped ahead."""

    key = models.ForeignKey(PartnerKey, on_delete=models.CASCADE, related_name="delivery_marks")
    # The key's partner, copied so that counting platforms needs no join.
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    run_start = models.BigIntegerField()
    high = models.BigIntegerField()
    # When `high` was last served (the page that extended the mark last).
    at = models.DateTimeField()
    # When the mark was started: extensions stop FEED_DELIVERY_MARK_SECONDS later.
    opened_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["key", "high"], name="delivery_mark_key_high")]

    def __str__(self) -> str:
        return f"key {self.key_id} fetched ({self.run_start}, {self.high}]"


class LookupTally(models.Model):
    """How much a partner used the hosted lookup, per UTC day, for its evidence: requests,
    hashes asked about and hashes that matched. Only counts: the hashes themselves are never
    kept beyond the request."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="lookup_tallies")
    day = models.DateField()
    requests = models.BigIntegerField(default=0)
    hashes = models.BigIntegerField(default=0)
    matched = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "day"], name="lookup_tally_once_a_day")]

    def __str__(self) -> str:
        return f"lookups of partner {self.partner_id} on {self.day}"


class PushEndpoint(models.Model):
    """An HTTPS address a partner registered to be told when new entries are published: the
    service POSTs it the signed checkpoint (self-authenticating, so no shared secret), and the
    partner syncs instead of polling. Checked against private, loopback and link-local
    addresses after DNS resolution on every delivery, not only when registered."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="push_endpoint")
    url = models.CharField(max_length=500)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    # The newest checkpoint version the endpoint accepted (2xx); pushes only move forward.
    pushed_version = models.BigIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # Failures in a row since the last success (backoff and, past a limit, a pause).
    failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"push endpoint of partner {self.partner_id}"
