"""Plain words for the status page: each timeline event and file, translated.

The bank stores event kinds and counts only; the words live here so that they are translated
and so a caseworker's page can show the same sentences (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from hashbank import selectors
from hashbank.feed.delivery import Reach, exact_time
from hashbank.models import Case, CaseEvent, CaseFile
from hashbank.selectors import CaseDelivery


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    text: str
    # For a publication: which partner platforms have fetched it so far, in words.
    reach: str = ""
    # A moment told only by its date (a partner's fetch older than the delivery marks keep
    # to the minute).
    date_only: bool = False
    # "fetched/platforms" for a publication, for tests and assistive styling; "" otherwise.
    reach_code: str = ""


@dataclass(frozen=True)
class FileEntry:
    public_id: str
    number: int
    fingerprints: int
    added_at: datetime
    active: bool
    reach: str = ""
    reach_code: str = ""


#: Timeline entries made from what partners fetched (never stored: the marks are the record).
FETCHED_FIRST = "fetched_first"
FETCHED_ALL = "fetched_all"
WITHDRAWAL_FETCHED_FIRST = "withdrawal_fetched_first"
WITHDRAWAL_FETCHED_ALL = "withdrawal_fetched_all"


def _n(data: dict, key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _match_text(data: dict) -> str:
    count, partner, outcome = _n(data, "count") or 1, data.get("partner"), data.get("outcome")
    if outcome == "blocked":
        text = ngettext("A partner platform found a copy and blocked it.",
                        "A partner platform found %(count)d copies and blocked them.", count)
    elif outcome == "not_blocked":
        text = ngettext(
            "A partner platform found a possible copy and decided not to block it.",
            "A partner platform found %(count)d possible copies and decided not to block them.",
            count,
        )
    elif outcome == "false_match":
        text = ngettext(
            "A partner platform found a picture that only looked similar, so it was not blocked.",
            "A partner platform found %(count)d pictures that only looked similar, so they were not blocked.",
            count,
        )
    else:
        text = ngettext(
            "A partner platform found a possible copy and is checking it.",
            "A partner platform found %(count)d possible copies and is checking them.",
            count,
        )
    text = text % {"count": count}
    # Only a partner that agreed to be listed publicly is ever named (the event holds no other).
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
    # Each sentence says what had happened at its time, never what was merely sent: that a
    # partner platform has the fingerprints (or the withdrawal) is told only once one fetched it.
    if kind == Kind.SHARED_WITH_PARTNERS:
        return _("Your fingerprints were added to the list that partner platforms fetch.")
    if kind == Kind.FILE_WITHDRAWN:
        return _("You withdrew one file.")
    if kind == Kind.WITHDRAWN:
        return _("You withdrew the case.")
    if kind == Kind.WITHDRAWAL_SHARED:
        return _("Your withdrawal was added to the list that partner platforms fetch. Each platform stops using "
                 "those fingerprints when it fetches it.")
    if kind == FETCHED_FIRST:
        return _("A partner platform fetched these fingerprints.")
    if kind == FETCHED_ALL:
        return ngettext("All %(count)d partner platforms have now fetched these fingerprints.",
                        "All %(count)d partner platforms have now fetched these fingerprints.",
                        _n(data, "platforms")) % {"count": _n(data, "platforms")}
    if kind == WITHDRAWAL_FETCHED_FIRST:
        return _("A partner platform fetched your withdrawal and stops using those fingerprints.")
    if kind == WITHDRAWAL_FETCHED_ALL:
        return ngettext("All %(count)d partner platforms have now fetched your withdrawal.",
                        "All %(count)d partner platforms have now fetched your withdrawal.",
                        _n(data, "platforms")) % {"count": _n(data, "platforms")}
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


def _when(at: datetime) -> str:
    # Old delivery marks are merged into one a day (hashbank.feed.delivery.marks_compact):
    # then only the date is certain, so only the date is said.
    return date_format(timezone.localtime(at), "DATETIME_FORMAT" if exact_time(at) else "DATE_FORMAT")


def reach_text(reach: Reach | None, *, withdrawal: bool = False, names: bool = True) -> str:
    """"N of M" in words. Unlisted partners are only counted; listed ones may be named (not on
    each file's line, where the same names would repeat under every file)."""
    if reach is None:
        return ""
    if not reach.fetched:
        if not reach.platforms:
            return _("Not yet fetched by any partner platform: none has joined yet.")
        return _("Not yet fetched by any partner platform.")
    values = {"fetched": reach.fetched, "platforms": reach.platforms, "when": _when(reach.last_at)}
    if withdrawal:
        text = _("Partner platforms that have fetched the withdrawal: %(fetched)d of %(platforms)d "
                 "(the last on %(when)s).") % values
    else:
        text = _("Partner platforms that have fetched them: %(fetched)d of %(platforms)d "
                 "(the last on %(when)s).") % values
    if names and reach.named:
        text = _("%(text)s Among them: %(names)s.") % {"text": text, "names": ", ".join(reach.named)}
    return text


def reach_code(reach: Reach | None) -> str:
    return "" if reach is None else f"{reach.fetched}/{reach.platforms}"


def fetch_moments(event: CaseEvent, reach: Reach | None) -> list[tuple[datetime, str]]:
    """When partner platforms fetched a publication, as (time, derived kind): the first, and
    the moment all of them had (when there is more than one)."""
    if reach is None or not reach.fetched or reach.first_at is None:
        return []
    withdrawal = event.kind == CaseEvent.Kind.WITHDRAWAL_SHARED
    first, every = ((WITHDRAWAL_FETCHED_FIRST, WITHDRAWAL_FETCHED_ALL) if withdrawal
                    else (FETCHED_FIRST, FETCHED_ALL))
    moments = [(reach.first_at, first)]
    if reach.complete and reach.platforms > 1 and reach.last_at is not None:
        moments.append((reach.last_at, every))
    return moments


def timeline(events: list[CaseEvent], delivery: CaseDelivery | None = None) -> list[TimelineEntry]:
    """The stored events in words, each publication with who has fetched it, and the moments
    partner platforms fetched them (the first, and when all had) woven in by time."""
    entries: list[tuple[datetime, int, TimelineEntry]] = []
    for order, event in enumerate(events):
        reach = delivery.events.get(event.pk) if delivery else None
        withdrawal = event.kind == CaseEvent.Kind.WITHDRAWAL_SHARED
        entries.append((event.at, order, TimelineEntry(at=event.at, kind=event.kind, text=event_text(event),
                                                       reach=reach_text(reach, withdrawal=withdrawal),
                                                       reach_code=reach_code(reach))))
        for at, kind in fetch_moments(event, reach):
            text = event_text(CaseEvent(kind=kind, at=at, data={"platforms": reach.platforms}))
            entries.append((at, order, TimelineEntry(at=at, kind=kind, text=text, date_only=not exact_time(at))))
    return [entry for _, _, entry in sorted(entries, key=lambda item: (item[0], item[1]))]


def file_entries(files: list[CaseFile], delivery: CaseDelivery | None = None) -> list[FileEntry]:
    # Numbered in the order they were added: we never knew their names.
    entries = []
    for number, f in enumerate(files, start=1):
        active = f.status == CaseFile.Status.ACTIVE
        reach = delivery.files.get(f.public_id) if delivery else None
        text = reach_text(reach, withdrawal=not active, names=False)
        if delivery is not None and reach is None and active:
            # Accepted but not yet published, or every fingerprint of it held for a check.
            text = _("Not in the list yet.")
        entries.append(FileEntry(
            public_id=f.public_id,
            number=number,
            fingerprints=getattr(f, "active_count", 0) if active else getattr(f, "fingerprint_count", 0),
            added_at=f.added_at,
            active=active,
            reach=text,
            reach_code=reach_code(reach),
        ))
    return entries


def status_context(case: Case) -> dict:
    """Everything the status page says about a case, for the survivor's page and the same
    facts on a caseworker's case page: files, timeline, counts, delivery and outcomes."""
    events = list(selectors.case_timeline(case=case))
    delivery = selectors.case_delivery(case=case, events=events)
    files = file_entries(list(selectors.case_files(case=case)), delivery)
    counts = selectors.case_fingerprint_counts(case=case)
    matches = selectors.case_match_counts(case=case)
    whole = delivery.case if delivery else None
    return {
        "events": timeline(events, delivery),
        "files": files,
        "summary": {
            "active_fingerprints": counts.get("active", 0),
            "held_fingerprints": counts.get("held", 0),
            "active_files": sum(1 for f in files if f.active),
            "withdrawn_files": sum(1 for f in files if not f.active),
            "reach": reach_text(whole, withdrawal=not case.is_active),
            "reach_code": reach_code(whole),
            "copies_blocked": matches.get("blocked", 0),
            "copies_reported": sum(matches.values()),
        },
    }
