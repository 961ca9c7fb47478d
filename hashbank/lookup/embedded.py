"""The embedded mode's lookup (no LOOKUP_URL, no Redis: `make run`): an index of the published
feed held in this process, so the lookup can be shown without the lookup process.

Built from every published entry in feed order (the last entry of each fingerprint wins, as
the snapshot's live set), and built again when the feed's head moves; the head's position and
chain digest name the list it was built from. Every entry is compared one by one: fine for a
demonstration's hundreds of fingerprints, which is all this mode is for (production runs the
lookup process, docs/operations.md).
"""

from __future__ import annotations

import json
import threading

from hashbank.feed.head import head_read
from hashbank.models import FeedEntry
from hashbank.platform.live import View, view_of_entries

_lock = threading.Lock()
_built: tuple[tuple[int, str], View] | None = None


def embedded_view() -> View:
    global _built
    head = head_read()
    name = (head.position, head.digest)
    with _lock:
        if _built is None or _built[0] != name:
            lines = FeedEntry.objects.filter(position__lte=head.position).order_by("position").values_list(
                "line", flat=True)
            _built = (name, view_of_entries((json.loads(line) for line in lines.iterator()), position=head.position))
        return _built[1]
