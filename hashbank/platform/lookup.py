"""The hosted lookup's questions and answers: which active fingerprints match these hashes.

Shared by the lookup process (:mod:`hashbank.platform.lookup_service`) and the partner API's
``POST /api/v1/lookup`` (hashbank.api.lookup), so a request is read by one set of rules, the
fingerprint library's, wherever it arrives. No Django here.

A request::

    {"hashes": [{"signal_type": "pdq", "value": "<64 hex>", "quality": 90},
                {"signal_type": "md5", "value": "<32 hex>"}, ...],
     "threshold": 31}                                   (optional, 0..31)

An answer, one result per hash in the order asked, and nothing about cases::

    {"position": 1234,
     "results": [{"index": 0, "matches": [{"id": "...", "distance": 4, "origin": "survivor",
                                           "signal_type": "pdq"}]},
                 {"index": 1, "matches": []},
                 {"index": 2, "matches": [], "skipped": {"code": "low_quality", "message": "..."}},
                 {"index": 3, "matches": [], "error": {"code": "unsupported_signal_type", ...}}]}

PDQ matches within the threshold (31 by default, Meta's), nearest first; a PDQ whose quality is
under the floor (50) is not looked up, as the matcher skips such files (flat images match
unrelated pictures). MD5 and SHA-256 match exactly. vPDQ is answered per hash with
``unsupported_signal_type`` until video matching exists. The stored values are never returned:
a lookup-only partner must not be able to rebuild the list from its answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hashbank.fingerprints import FingerprintError, get_signal_type
from hashbank.fingerprints.base import check_quality
from hashbank.fingerprints.pdq import QUALITY_FLOOR
from hashbank.platform.index import DEFAULT_THRESHOLD, hashes_to_codes
from hashbank.platform.live import View

#: Hashes one request may ask about.
MAX_HASHES = 100
#: Signal types looked up.
ANSWERED = ("pdq", "md5", "sha256")
#: Known signal types not looked up, and why.
UNANSWERED = {
    "vpdq": "vpdq lookups are not supported yet; send the photo hashes (pdq, md5, sha256)",
}
OFFERED = ", ".join(ANSWERED)
#: The lookup process's answer carries in this header how many of the hashes matched (the API
#: counts it for the partner's evidence and passes the body on as it is).
MATCHED_HEADER = "Lookup-Matched"


class LookupRefused(ValueError):
    """The request cannot be answered as sent (HTTP 400); the message names what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True, slots=True)
class Query:
    signal_type: str
    #: Normalised by the fingerprint library (lowercase hex).
    value: str
    quality: int | None = None


@dataclass(frozen=True)
class Lookup:
    queries: tuple[Query, ...]
    threshold: int = DEFAULT_THRESHOLD

    def as_json(self) -> dict[str, Any]:
        """The request again, normalised (what the API forwards to the lookup process)."""
        return {"threshold": self.threshold,
                "hashes": [{"signal_type": q.signal_type, "value": q.value, "quality": q.quality}
                           for q in self.queries]}


def parse_lookup(payload: Any, *, max_hashes: int = MAX_HASHES) -> Lookup:
    """Read a request, validating every value with the fingerprint library before anything is
    looked up: the first fault raises LookupRefused naming the hash (`hashes[3].value: ...`)."""
    if not isinstance(payload, dict) or "hashes" not in payload or not set(payload) <= {"hashes", "threshold"}:
        raise LookupRefused("bad_request", 'send {"hashes": [{"signal_type": "pdq", "value": "...", '
                                           '"quality": 90}, ...]}')
    hashes = payload["hashes"]
    if not isinstance(hashes, list) or not hashes:
        raise LookupRefused("bad_request", '"hashes" must be a non-empty list')
    if len(hashes) > max_hashes:
        raise LookupRefused("too_many_hashes", f"at most {max_hashes} hashes a request; this one has {len(hashes)}")
    threshold = payload.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= DEFAULT_THRESHOLD:
        raise LookupRefused("bad_threshold", f"threshold must be a whole number from 0 to {DEFAULT_THRESHOLD}")
    return Lookup(tuple(_query(number, item) for number, item in enumerate(hashes)), threshold)


def _query(number: int, item: Any) -> Query:
    where = f"hashes[{number}]"
    if not isinstance(item, dict) or not {"signal_type", "value"} <= set(item) <= {"signal_type", "value", "quality"}:
        raise LookupRefused("bad_hash", f"{where}: expected signal_type, value and (for pdq) quality")
    try:
        signal = get_signal_type(item["signal_type"])
    except FingerprintError as error:
        raise LookupRefused("bad_hash", f"{where}.signal_type: {error}") from None
    try:
        value = signal.validate(item["value"])
    except FingerprintError as error:
        raise LookupRefused("bad_hash", f"{where}.value: {error}") from None
    quality = item.get("quality")
    if signal.name == "pdq":
        if quality is None:
            raise LookupRefused("bad_hash", f"{where}.quality: a pdq needs its quality (0..100, as pdqhash "
                                            "returns it with the hash)")
        try:
            check_quality(signal.name, quality, 0)
        except FingerprintError as error:
            raise LookupRefused("bad_hash", f"{where}.quality: {error}") from None
    elif quality is not None:
        raise LookupRefused("bad_hash", f"{where}.quality: only pdq has a quality; leave it out for {signal.name}")
    return Query(signal.name, value, quality)


def answer(view: View, lookup: Lookup) -> tuple[dict[str, Any], int]:
    """The answer to a parsed request against one view, and how many of its hashes matched."""
    results: list[dict[str, Any]] = [{"index": number, "matches": []} for number in range(len(lookup.queries))]
    perceptual: list[int] = []
    for number, query in enumerate(lookup.queries):
        if query.signal_type == "pdq":
            if query.quality is not None and query.quality < QUALITY_FLOOR:
                results[number]["skipped"] = {
                    "code": "low_quality",
                    "message": f"PDQ quality {query.quality} is under {QUALITY_FLOOR}: the image is too flat to "
                               "match reliably, so it was not looked up",
                }
            else:
                perceptual.append(number)
        elif query.signal_type in ANSWERED:
            results[number]["matches"] = _matches(view.exact(query.signal_type, query.value))
        else:
            results[number]["error"] = {
                "code": "unsupported_signal_type",
                "message": UNANSWERED.get(query.signal_type, f"{query.signal_type} is not looked up; send {OFFERED}"),
            }
    if perceptual:
        codes = hashes_to_codes([lookup.queries[number].value for number in perceptual])
        for number, found in zip(perceptual, view.pdq(codes, threshold=lookup.threshold), strict=True):
            results[number]["matches"] = _matches(found)
    matched = sum(1 for result in results if result["matches"])
    return {"position": view.position, "results": results}, matched


def _matches(found: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"id": m.id, "distance": m.distance, "origin": m.origin, "signal_type": m.signal_type} for m in found]
