"""Signed-in staff sessions end after 30 idle minutes, and after 12 hours whatever happens.

A helpline computer is often shared, and a caseworker may be called away mid-conversation;
an abandoned session must not stay open on a screen a client or a colleague can reach.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

from portal.caseworkers.signin import ENDED_KEY, SEEN_KEY, STARTED_KEY

logger = logging.getLogger(__name__)


class SessionLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._enforce(request)
        return self.get_response(request)

    def _enforce(self, request: HttpRequest) -> None:
        now = time.time()
        session = request.session
        started = session.get(STARTED_KEY)
        seen = session.get(SEEN_KEY)
        if started is None or seen is None:
            # Signed in by another path (the admin's own form): the clocks start now.
            session[STARTED_KEY] = session[SEEN_KEY] = now
            return
        reason = None
        if now - started > settings.CASEWORKER_ABSOLUTE_TIMEOUT.total_seconds():
            reason = "absolute"
        elif now - seen > settings.CASEWORKER_IDLE_TIMEOUT.total_seconds():
            reason = "idle"
        if reason is None:
            session[SEEN_KEY] = now
            return
        logger.info("staff session ended by the %s time limit (user id %s)", reason, request.user.pk)
        logout(request)
        # The rest of this request runs signed out; the sign-in page explains why.
        request.user = AnonymousUser()
        request.session[ENDED_KEY] = reason
