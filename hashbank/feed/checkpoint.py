"""The signed checkpoint: the head's position and digest, re-signed before it grows stale, and
key rotation, which re-signs it at once so it names the new key.

Rotation lives here rather than in hashbank.feed.signing because it must move the keys and
re-sign the checkpoint under the head lock in one transaction: the checkpoint needs the keys
to sign, so the keys' module stays below this one and never imports it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hashbank.feed.head import head_lock, head_read
from hashbank.feed.signing import sign, signing_key_generate
from hashbank.feedformat.canonical import CHECKPOINT_KIND, FORMAT_VERSION, entry_bytes, format_time
from hashbank.models import FeedHead, SigningKey


def checkpoint_issue(head: FeedHead) -> FeedHead:
    """Sign a new checkpoint for the head (caller holds the head lock). The version only grows."""
    now = timezone.now()
    expires = now + timedelta(seconds=settings.FEED_CHECKPOINT_TTL)
    head.checkpoint_version += 1
    body = entry_bytes(
        {
            "format": FORMAT_VERSION,
            "kind": CHECKPOINT_KIND,
            "version": head.checkpoint_version,
            "head_position": head.position,
            "head_digest": head.digest,
            "floor_position": head.floor_position,
            "floor_digest": head.floor_digest,
            "issued_at": format_time(now),
            "expires_at": format_time(expires),
        }
    )
    head.checkpoint_kid, head.checkpoint_signature = sign(body)
    head.checkpoint_body = body
    head.checkpoint_expires_at = expires
    head.save()
    return head


def checkpoint_current() -> FeedHead:
    """The head with a checkpoint that has at least half its lifetime left (re-signed with a
    higher version when needed, so a partner can always tell a fresh feed from a frozen one)."""
    head = head_read()
    half = timedelta(seconds=settings.FEED_CHECKPOINT_TTL / 2)
    if head.checkpoint_expires_at is None or head.checkpoint_expires_at - timezone.now() < half:
        with transaction.atomic():
            head = head_lock()
            if head.checkpoint_expires_at is None or head.checkpoint_expires_at - timezone.now() < half:
                checkpoint_issue(head)
    return head


def signing_key_rotate(*, overlap: timedelta | None = None, dry_run: bool = False) -> SigningKey:
    """Make a new active key; the old one keeps being published (not used) for `overlap`."""
    overlap = overlap if overlap is not None else timedelta(days=settings.FEED_KEY_OVERLAP_DAYS)
    new = signing_key_generate()
    if dry_run:
        return new
    with transaction.atomic():
        head = head_lock()
        now = timezone.now()
        SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).update(
            status=SigningKey.Status.RETIRING, retire_after=now + overlap
        )
        new.save()
        # Re-sign the checkpoint at once so it names the new key.
        checkpoint_issue(head)
    return new
