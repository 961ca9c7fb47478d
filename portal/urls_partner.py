"""The URLs of the partner API's own pool (PORTAL_ROLE=partner, portal.settings): /api/v1/ and
nothing else, every answer JSON. The health checks (/livez, /readyz) come from
portal.health.HealthMiddleware, before any URL."""

from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("hashbank.api.urls")),
]

# JSON for every unknown address (the pool has no pages to render, and no session for one).
handler404 = "portal.errors.partner_not_found"
handler500 = "portal.errors.server_error"
