"""The bank's tables. Nothing here ever holds media, file names, addresses or user agents."""

from hashbank.models.cases import Case, CaseEvent, CaseFile, Fingerprint, FingerprintReview
from hashbank.models.feed import FeedEntry, FeedHead, FeedOutbox, SigningKey, Snapshot
from hashbank.models.heartbeat import Heartbeat
from hashbank.models.partners import Partner, PartnerFeedback, PartnerKey

__all__ = [
    "Case",
    "CaseEvent",
    "CaseFile",
    "FeedEntry",
    "FeedHead",
    "FeedOutbox",
    "Fingerprint",
    "FingerprintReview",
    "Heartbeat",
    "Partner",
    "PartnerFeedback",
    "PartnerKey",
    "SigningKey",
    "Snapshot",
]
