"""The site's own "not found" and "something went wrong" answers.

Django's defaults are bare pages with no quick exit and no layout, and HTML even under /api/,
where every client expects JSON. And while PostgreSQL or Redis is down (a restart, a
fail-over), a request used to end in a 500 as if the code were broken: these answer 503 with
`Retry-After`, which monitors, proxies and our own page script understand as "try again
shortly" (issue 11).

The 500 and 503 pages render without a request context: the context processors and the
session must not be needed to say sorry while the database is unreachable.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait when a backing service is unreachable: a PostgreSQL or
#: Redis restart takes a few seconds (docs/operations.md).
RETRY_AFTER = 30


def _backend_down(error: BaseException | None) -> bool:
    """A database or Redis connection that failed, as opposed to a bug in our code."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(error, (RedisConnectionError, RedisTimeoutError))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        if request.path.startswith("/api/v1/"):
            body: dict = {"error": {"code": "not_found", "message": "no such endpoint; see /api/v1/openapi.json"}}
        else:
            body = {"error": _("This address does not exist."), "code": "not_found"}
        return _no_store(JsonResponse(body, status=404))
    return render(request, "404.html", status=404)


def partner_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Not found in the partner API's own pool (portal.urls_partner): JSON whatever the path."""
    return _no_store(JsonResponse({"error": {"code": "not_found", "message": "no such endpoint; see "
                                             "/api/v1/openapi.json"}}, status=404))


def server_error(request: HttpRequest) -> HttpResponse:
    """Called by Django inside its exception handler, so sys.exc_info() is the error."""
    error = sys.exc_info()[1]
    unavailable = _backend_down(error)
    status = 503 if unavailable else 500
    if unavailable:
        logger.warning("answered 503: a backing service is unreachable (%s)", type(error).__name__)
    if request.path.startswith("/api/v1/"):
        code, message = (
            ("unavailable", "a backing service is briefly unavailable; retry after Retry-After seconds")
            if unavailable else ("server_error", "internal error; nothing was changed by this request")
        )
        response: HttpResponse = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    elif request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        # The survivor and caseworker page scripts show `error` as it is, in the page.
        message = (
            _("The service is busy for a moment. Please try again in a minute. Your files have not left your device.")
            if unavailable else
            _("Something went wrong on our side. Please try again. Your files have not left your device.")
        )
        response = JsonResponse({"error": message, "code": "unavailable" if unavailable else "server_error",
                                 "retry_after": RETRY_AFTER}, status=status)
    else:
        html = loader.get_template("500.html").render(
            {"unavailable": unavailable, "SERVICE_NAME": settings.SERVICE_NAME,
             "QUICK_EXIT_URL": settings.QUICK_EXIT_URL}
        )
        response = HttpResponse(html, status=status)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER)
    return _no_store(response)
