"""The admin site for service staff: password plus a verified second factor, and nothing for
anyone else. A signed-in helpline caseworker who wanders into /admin/ gets "not found", the
same answer as for a page that does not exist, rather than a login form that confirms what
is there."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

logger = logging.getLogger(__name__)


class StaffAdminSite(OTPAdminSite):
    site_header = _("Image Shield service staff")
    site_title = _("Image Shield staff")

    def __init__(self, name: str = "admin") -> None:
        # Keep the usual "admin" namespace so reverse("admin:...") works everywhere.
        super().__init__(name)

    def _refuse_signed_in_non_staff(self, request: HttpRequest) -> None:
        user = request.user
        if user.is_authenticated and not (user.is_active and user.is_staff):
            logger.warning("admin refused a signed-in user who is not staff (user id %s)", user.pk)
            raise Http404

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)  # keeps csrf, cache and admin_site markers
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            self._refuse_signed_in_non_staff(request)
            return wrapped(request, *args, **kwargs)

        return guarded

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self._refuse_signed_in_non_staff(request)
        return super().login(request, extra_context)
