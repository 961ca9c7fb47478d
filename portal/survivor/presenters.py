"""Plain words for the status page: each timeline event and file, translated.

The bank stores event kinds and counts only; the words live here so that they are translated
and so a caseworker's page can show the same sentences (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from hashbank.models import CaseEvent, CaseFile


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    text: str


@dataclass(frozen=True)
class FileEntry:
    public_id: str
    number: int
    fingerprints: int
    added_at: datetime
    active: bool


def _n(data: dict, key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _match_text(data: dict) -> str:
    count, partner, outcome = _n(data, "count") or 1, data.get("partner"), data.get("outcome")
    if outcome == "blocked":
        text = ngettext("A partner found and blocked a copy.", "A partner found and blocked %(count)d copies.", count)
    elif outcome == "not_blocked":
        text = ngettext(
            "A partner found a possible copy and decided not to block it.",
            "A partner found %(count)d possible copies and decided not to block them.",
            count,
        )
    elif outcome == "false_match":
        text = ngettext(
            "A partner found a picture that only looked similar, so it was not blocked.",
            "A partner found %(count)d pictures that only looked similar, so they were not blocked.",
            count,
        )
    else:
        text = ngettext(
            "A partner found a possible copy and is checking it.",
            "A partner found %(count)d possible copies and is checking them.",
            count,
        )
    text = text % {"count": count}
    if isinstance(partner, str) and partner:
        text = _("%(text)s (Partner: %(partner)s)") % {"text": text, "partner": partner}
    return text


def event_text(event: CaseEvent) -> str:
    data = event.data if isinstance(event.data, dict) else {}
    kind = event.kind
    Kind = CaseEvent.Kind
    if kind == Kind.RECEIVED:
        files = _n(data, "files")
        return ngettext(
            "We received the fingerprints of %(files)d file.", "We received the fingerprints of %(files)d files.", files
        ) % {"files": files}
    if kind == Kind.FILES_ADDED:
        files = _n(data, "files")
        return ngettext(
            "You added the fingerprints of %(files)d more file.",
            "You added the fingerprints of %(files)d more files.",
            files,
        ) % {"files": files}
    if kind == Kind.SHARED_WITH_PARTNERS:
        return _("Your fingerprints were shared with partner platforms.")
    if kind == Kind.FILE_WITHDRAWN:
        return _("You withdrew one file. Partners were told to stop using its fingerprints.")
    if kind == Kind.WITHDRAWN:
        return _("You withdrew the case. Partners were told to stop using all its fingerprints.")
    if kind == Kind.WITHDRAWAL_SHARED:
        return _("Partners received the withdrawal.")
    if kind == Kind.MATCH_REPORTED:
        return _match_text(data)
    if kind == Kind.FINGERPRINT_HELD and data.get("reason") == "volume":
        return _("Many new cases arrived at once, so our team is checking new cases before sharing them. "
                 "Your fingerprints are saved and will be shared with partner platforms once checked. "
                 "You do not need to do anything.")
    if kind == Kind.FINGERPRINT_HELD and data.get("reason") == "match_spike":
        return _("A fingerprint is paused while our staff check it, because it matched many more pictures than "
                 "usual. This is a routine check. You do not need to do anything.")
    if kind == Kind.FINGERPRINT_HELD and data.get("reason") == "benign_match":
        return _("A file's fingerprints are saved and waiting for our staff to check them before they are shared, "
                 "because they look like a picture that many people share, such as artwork or a meme. "
                 "You do not need to do anything.")
    if kind == Kind.FINGERPRINT_HELD:
        return _("A fingerprint is paused while our staff check a report that it matched the wrong picture.")
    if kind == Kind.FINGERPRINT_RESTORED:
        return _("A paused fingerprint was checked and is in use again.")
    if kind == Kind.FINGERPRINT_REMOVED and data.get("reason") == "harmless":
        return _("Our staff checked a file's fingerprints and are not sharing them, because they match a picture "
                 "that many people share and that is not a private image, such as artwork or a meme. If you think "
                 "this is wrong, a helpline can help you.")
    if kind == Kind.FINGERPRINT_REMOVED:
        return _("A paused fingerprint was checked and removed, because it matched the wrong pictures.")
    return _("Your case was updated.")


def timeline(events: list[CaseEvent]) -> list[TimelineEntry]:
    return [TimelineEntry(at=e.at, kind=e.kind, text=event_text(e)) for e in events]


def file_entries(files: list[CaseFile]) -> list[FileEntry]:
    # Numbered in the order they were added: we never knew their names.
    return [
        FileEntry(
            public_id=f.public_id,
            number=number,
            fingerprints=getattr(f, "active_count", 0) if f.status == CaseFile.Status.ACTIVE
            else getattr(f, "fingerprint_count", 0),
            added_at=f.added_at,
            active=f.status == CaseFile.Status.ACTIVE,
        )
        for number, f in enumerate(files, start=1)
    ]
