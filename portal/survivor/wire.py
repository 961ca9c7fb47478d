"""What the browser may send: fingerprints, their signal types and a count, as JSON.

The shape is checked strictly here (exact keys, sizes, types), so a file name, EXIF field or
image bytes cannot ride along in an extra key. Hash rules stay in the fingerprint library:
each value is validated through it, and again by the services before anything is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from hashbank import services
from hashbank.fingerprints import FingerprintError, validate

#: A photo's fingerprints are about 3.6 KB of JSON (33 values); 256 KiB holds MAX_FILES files
#: at the server's most fingerprints each (40: about 4.4 KB), and nothing like an image.
MAX_BODY_BYTES = 256 * 1024
MAX_FILES = 50
#: The browser sends at most 33: pdq, its seven dihedral variants, four centre-crop PDQs, eight
#: one-sided crop PDQs and their mirrors (docs/fingerprints.md), phash, dhash, ahash, md5 and
#: sha256. The service's cap, so that what passes here is never refused there.
MAX_FINGERPRINTS_PER_FILE = services.MAX_FINGERPRINTS_PER_FILE
#: Videos are sent as exact digests only (video_md5, sha256); photos add perceptual hashes.
ACCEPTED_SIGNAL_TYPES = frozenset({"pdq", "phash", "dhash", "ahash", "md5", "video_md5", "sha256"})
QUALITY_SIGNAL_TYPES = frozenset({"pdq"})


@dataclass
class SubmissionError(Exception):
    """Refused before anything is stored; `message` is safe to show to the person."""

    status: int
    message: str


def parse_submission(request: HttpRequest) -> list[list[dict[str, Any]]]:
    """The files of a submission, each a list of {"signal_type", "value", "quality"}."""
    if request.content_type != "application/json":
        raise SubmissionError(415, _("Only fingerprints sent as JSON are accepted."))
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    if charset not in {"utf-8", "utf8"}:
        raise SubmissionError(415, _("Only fingerprints sent as JSON are accepted."))
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        raise SubmissionError(411, _("The request did not say how long it is.")) from None
    if length > MAX_BODY_BYTES:
        raise SubmissionError(413, _("This is too much to send at once. Please send fewer files."))
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise SubmissionError(413, _("This is too much to send at once. Please send fewer files."))
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: JSON nested thousands deep, which no real submission is.
        raise SubmissionError(400, _("The fingerprints could not be read. Nothing was saved.")) from None
    return _files(data)


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def _malformed(detail: str) -> SubmissionError:
    return SubmissionError(
        400, _("Some fingerprints were not accepted, so nothing was saved. (%(detail)s)") % {"detail": detail}
    )


def _files(data: object) -> list[list[dict[str, Any]]]:
    if not isinstance(data, dict) or set(data) != {"count", "files"}:
        raise _malformed('expected exactly the keys "count" and "files"')
    files, count = data["files"], data["count"]
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise _malformed(f'"files" must be a list of 1 to {MAX_FILES} files')
    if isinstance(count, bool) or count != len(files):
        raise _malformed('"count" must equal the number of files')
    return [_file(position, item) for position, item in enumerate(files, start=1)]


def _file(position: int, item: object) -> list[dict[str, Any]]:
    if not isinstance(item, dict) or set(item) != {"fingerprints"}:
        raise _malformed(f'file {position}: expected exactly the key "fingerprints"')
    fingerprints = item["fingerprints"]
    if not isinstance(fingerprints, list) or not 1 <= len(fingerprints) <= MAX_FINGERPRINTS_PER_FILE:
        raise _malformed(f"file {position}: expected 1 to {MAX_FINGERPRINTS_PER_FILE} fingerprints")
    parsed: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for fp in fingerprints:
        clean = _fingerprint(position, fp)
        # A symmetric picture gives some identical PDQ rotations: the same value twice adds nothing.
        if (clean["signal_type"], clean["value"]) not in seen:
            seen.add((clean["signal_type"], clean["value"]))
            parsed.append(clean)
    return parsed


def _fingerprint(position: int, fp: object) -> dict[str, Any]:
    if not isinstance(fp, dict) or not {"signal_type", "value"} <= set(fp) <= {"signal_type", "value", "quality"}:
        raise _malformed(f'file {position}: each fingerprint has "signal_type", "value" and, for pdq, "quality"')
    signal_type, value, quality = fp["signal_type"], fp["value"], fp.get("quality")
    if signal_type not in ACCEPTED_SIGNAL_TYPES:
        accepted = ", ".join(sorted(ACCEPTED_SIGNAL_TYPES))
        raise _malformed(f"file {position}: signal type {signal_type!r} is not accepted here ({accepted})")
    if quality is not None and signal_type not in QUALITY_SIGNAL_TYPES:
        raise _malformed(f"file {position}: only pdq carries a quality")
    try:
        normalised = validate(signal_type, value, quality=quality)
    except FingerprintError as error:
        raise _malformed(f"file {position}: {error}") from None
    result: dict[str, Any] = {"signal_type": signal_type, "value": normalised}
    if signal_type in QUALITY_SIGNAL_TYPES:
        result["quality"] = quality
    return result
