"""Ask the lookup process over loopback, never waiting longer than LOOKUP_TIMEOUT.

Each thread keeps one keep-alive connection (the process speaks HTTP/1.1), so a lookup costs
one round trip on an open socket. A connection the process closed while idle is opened again
once (a lookup changes nothing, so asking twice is safe); a process that is down, slow or
answering an error is LookupUnavailable, which the API turns into 503 with Retry-After.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

from django.conf import settings

from hashbank.platform.lookup import MATCHED_HEADER

_local = threading.local()


class LookupUnavailable(Exception):
    def __init__(self, code: str, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    held = getattr(_local, "connection", None)
    if held is not None and held[0] == (url, timeout):
        return held[1]
    connection_close()
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    _local.connection = ((url, timeout), connection)
    return connection


def connection_close() -> None:
    """Close this thread's connection to the lookup process, if it has one."""
    held = getattr(_local, "connection", None)
    if held is not None:
        held[1].close()
    _local.connection = None


def lookup_remote(body: dict[str, Any]) -> tuple[bytes, int]:
    """POST the (already validated) request to the lookup process: its answer (JSON, passed on
    as it is) and how many of the hashes matched."""
    url, timeout = settings.LOOKUP_URL, settings.LOOKUP_TIMEOUT
    data = json.dumps(body, separators=(",", ":")).encode("ascii")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
    for attempt in (1, 2):
        connection = _connection(url, timeout)
        try:
            connection.request("POST", "/lookup", body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status, matched = response.status, response.getheader(MATCHED_HEADER, "")
            break
        except TimeoutError:
            connection_close()
            raise LookupUnavailable("lookup_unavailable", f"the lookup index did not answer within {timeout} s; "
                                    "try again shortly") from None
        except (ConnectionError, http.client.HTTPException, OSError):
            connection_close()
            if attempt == 2:
                raise LookupUnavailable("lookup_unavailable", "the lookup index is not running; try again "
                                        "shortly") from None
    if response.will_close:
        connection_close()
    if status == 200 and matched.isdigit():
        return payload, int(matched)
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    code = error.get("code") if error.get("code") in ("lookup_starting", "lookup_stale") else "lookup_unavailable"
    raise LookupUnavailable(code, str(error.get("message") or "the lookup index could not answer; try again shortly"))
