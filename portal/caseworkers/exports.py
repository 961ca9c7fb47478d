"""The audit trail as CSV, safe to open in a spreadsheet.

A cell that starts with = + - @ (or a tab or carriage return, which some spreadsheets skip
before looking) is read as a formula by Excel, LibreOffice and Google Sheets, so a note or a
username crafted as `=HYPERLINK(...)` could run in a lead's spreadsheet. Such cells get a
leading apostrophe, the OWASP-recommended neutraliser: shown as text, nothing evaluated.

The file is a record, read by people and by scripts alike, so it stays in English whatever
language the lead reads the pages in: the header and the action words are the same in every
export (the page shows the actions translated).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.utils import translation

from portal.caseworkers.models import AuditEvent

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = ["when (UTC)", "who", "what", "case", "detail"]


def csv_safe(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def audit_csv(events: Iterable[AuditEvent]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    with translation.override(None):
        for event in events:
            writer.writerow(
                csv_safe(cell)
                for cell in (
                    event.at.strftime("%Y-%m-%d %H:%M:%S"),
                    event.actor.get_username(),
                    event.get_action_display(),
                    event.case_public_id or "",
                    event.detail,
                )
            )
    return buffer.getvalue()
