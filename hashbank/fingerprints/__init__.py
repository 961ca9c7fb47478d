"""The fingerprint library: one module per signal type, and no Django anywhere in it.

Everything that accepts a fingerprint (the survivor pages, the partner feed, the platform
tools) validates through here, so a hash rule lives in exactly one place. Signal names are
python-threatexchange's where it has one (`pdq`, `video_md5`, `vpdq`).
"""

from hashbank.fingerprints.base import FingerprintError, SignalType
from hashbank.fingerprints.registry import SIGNAL_TYPES, get_signal_type, validate

__all__ = ["SIGNAL_TYPES", "FingerprintError", "SignalType", "get_signal_type", "validate"]
