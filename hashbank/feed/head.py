"""The feed's head row: where the feed ends, and the lock that serialises its writers.

Lowest of the feed's modules (only the models and the wire format below it): the signing keys
take this lock to create the first key, the checkpoint is signed under it, and the publisher
holds it for a whole run. Keeping it here, not in the publisher, is what lets signing sit
below both the checkpoint and the publisher with no import going back up.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hashbank.feedformat.chain import GENESIS
from hashbank.models import FeedHead


def head_lock() -> FeedHead:
    """Take the publisher's lock (inside a transaction) and return the head row."""
    if not FeedHead.objects.filter(pk=1).update(runs=F("runs") + 1):
        try:
            with transaction.atomic():
                FeedHead.objects.create(pk=1, digest=GENESIS, floor_digest=GENESIS, updated_at=timezone.now())
        except IntegrityError:
            pass  # another process created it first
        FeedHead.objects.filter(pk=1).update(runs=F("runs") + 1)
    return FeedHead.objects.get(pk=1)


def head_read() -> FeedHead:
    head = FeedHead.objects.filter(pk=1).first()
    if head is None:
        with transaction.atomic():
            head = head_lock()
    return head
