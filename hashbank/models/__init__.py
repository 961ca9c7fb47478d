"""The bank's tables. Nothing here ever holds media, file names, addresses or user agents."""

from hashbank.models.cases import BenignFingerprint, Case, CaseEvent, CaseFile, Fingerprint, FingerprintReview
from hashbank.models.feed import FeedEntry, FeedHead, FeedOutbox, SigningKey, Snapshot
from hashbank.models.heartbeat import Heartbeat
from hashbank.models.partners import (
    DeliveryMark,
    LookupTally,
    Partner,
    PartnerFeedback,
    PartnerKey,
    PartnerProgress,
    PushEndpoint,
)

__all__ = [
    "BenignFingerprint",
    "Case",
    "CaseEvent",
    "CaseFile",
    "DeliveryMark",
    "FeedEntry",
    "FeedHead",
    "FeedOutbox",
    "Fingerprint",
    "FingerprintReview",
    "Heartbeat",
    "LookupTally",
    "Partner",
    "PartnerFeedback",
    "PartnerKey",
    "PartnerProgress",
    "PushEndpoint",
    "SigningKey",
    "Snapshot",
]
