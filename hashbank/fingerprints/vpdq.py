"""vPDQ: one PDQ per second of video, serialised as python-threatexchange does: a JSON list
of "pdq_hex,quality,timestamp" strings, the timestamp in seconds written with Python's
`f"{t:.3}"`: three significant digits, not three decimals (2.878 s is "2.88", 123 s is
"1.23e+02"; threatexchange/extensions/vpdq/vpdq_util.py, VpdqCompactFeature.__str__). The
same string as theirs for the same video, so a platform that compares signal strings (or
stores them) sees one signal, not two."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hashbank.fingerprints.base import FingerprintError, SignalType
from hashbank.fingerprints.pdq import PDQ

#: Frames below this quality are left out when matching, as python-threatexchange does.
FRAME_QUALITY_FLOOR = 50
#: Share of the query's usable frames that must find a frame within PDQ distance 31.
MATCH_PERCENT = 80.0
#: A video hash is one string in the feed; cap it so a malicious body cannot be huge
#: (3 hours at one frame a second).
MAX_FRAMES = 3 * 60 * 60
#: python-threatexchange's VPDQ_TIMESTAMP_PRECISION, a general-format precision.
TIMESTAMP_PRECISION = 3


class VPDQ(SignalType):
    name = "vpdq"
    #: Per-frame PDQ distance.
    threshold = PDQ.threshold

    @classmethod
    def parse(cls, value: object) -> list[tuple[str, int, float]]:
        if not isinstance(value, str):
            raise FingerprintError(f"vpdq: expected a JSON string, got {type(value).__name__}")
        try:
            items = json.loads(value)
        except ValueError as exc:
            raise FingerprintError(f"vpdq: not valid JSON ({exc.msg})") from None
        if not isinstance(items, list) or not items:
            raise FingerprintError("vpdq: expected a non-empty JSON list of frames")
        if len(items) > MAX_FRAMES:
            raise FingerprintError(f"vpdq: {len(items)} frames is more than the limit of {MAX_FRAMES}")
        frames = []
        for index, item in enumerate(items):
            if not isinstance(item, str) or item.count(",") != 2:
                raise FingerprintError(f"vpdq: frame {index} is not a 'pdq_hex,quality,timestamp' string")
            hex_part, quality_part, time_part = item.split(",")
            hex_value = PDQ.normalise(hex_part)
            try:
                quality = int(quality_part)
                timestamp = float(time_part)
            except ValueError:
                raise FingerprintError(f"vpdq: frame {index} has a quality or timestamp that is not a number") from None
            if not 0 <= quality <= 100:
                raise FingerprintError(f"vpdq: frame {index} quality {quality} is outside 0..100")
            if not math.isfinite(timestamp) or timestamp < 0:
                raise FingerprintError(f"vpdq: frame {index} timestamp must be a non-negative number")
            frames.append((hex_value, quality, timestamp))
        if all(q < FRAME_QUALITY_FLOOR for _, q, _ in frames):
            raise FingerprintError(f"vpdq: no frame reaches the quality floor of {FRAME_QUALITY_FLOOR}")
        return frames

    @classmethod
    def serialise(cls, frames: list[tuple[str, int, float]]) -> str:
        return json.dumps([f"{h},{q},{t:.{TIMESTAMP_PRECISION}}" for h, q, t in frames], separators=(", ", ": "))

    @classmethod
    def validate(cls, value: object, *, quality: int | None = None) -> str:
        return cls.serialise(cls.parse(value))

    @classmethod
    def match_percent(cls, query: str, candidate: str) -> float:
        """Share of the query's distinct usable frames with a candidate frame within 31 bits."""
        usable = {h for h, q, _ in cls.parse(query) if q >= FRAME_QUALITY_FLOOR}
        others = {h for h, q, _ in cls.parse(candidate) if q >= FRAME_QUALITY_FLOOR}
        found = sum(1 for h in usable if any(PDQ.distance(h, o) <= PDQ.threshold for o in others))
        return 100.0 * found / len(usable)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        # A video "distance" is the share of frames that did not match, in whole percent,
        # so 0 means every frame matched and the threshold below reads like the others.
        return round(100 - cls.match_percent(a, b))

    @classmethod
    def matches(cls, a: str, b: str) -> bool:
        return cls.match_percent(a, b) >= MATCH_PERCENT

    @classmethod
    def hash_file(cls, path: str | Path) -> str:
        # The vpdq package needs FFmpeg's development libraries to build; it is optional.
        try:
            import vpdq as vpdq_native
        except ImportError as exc:  # pragma: no cover - depends on the platform's install
            raise RuntimeError("the vpdq package is not installed; install it to hash videos") from exc
        # One hashing thread: with several, a frame the package cannot hash (under 5 pixels on
        # a side) throws inside a thread and std::terminate aborts the whole process, a
        # platform's upload pipeline with it; with one, it is an exception. Decoding, the
        # costly part, is not threaded by this setting, and one PDQ a second is cheap.
        try:
            features = vpdq_native.computeHash(str(path), seconds_per_hash=1, thread_count=1)
        except Exception as exc:
            raise FingerprintError(f"vpdq: this video could not be hashed ({exc})") from None
        if not features:
            raise FingerprintError("vpdq: no frame of this video could be decoded")
        return cls.serialise([(f.hex, int(f.quality), float(f.timestamp)) for f in features])

    @classmethod
    def get_examples(cls) -> list[str]:
        return [cls.serialise([(h, 100, float(i)) for i, h in enumerate(PDQ.get_examples())])]


validate = VPDQ.validate
distance = VPDQ.distance
