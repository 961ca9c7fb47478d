from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon),
    # Public figures about the service, month by month (issue 12): docs/transparency.md.
    path("transparency/", views.transparency, name="transparency"),
    path("transparency.json", views.transparency_json, name="transparency_json"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # The signed partner feed (issue 5): docs/feed.md, /api/v1/openapi.json.
    path("api/v1/", include("hashbank.api.urls")),
    # Survivor journey (issue 4): eligibility, on-device fingerprinting, receipt, case status.
    path("", include("portal.survivor.urls")),
    # Caseworkers and service staff (issue 6): /caseworkers/... and /staff/review/.
    path("", include("portal.caseworkers.urls")),
]

# The site's own error pages: the layout and quick exit on pages, JSON under /api/, and 503
# with Retry-After while PostgreSQL or Redis is unreachable (portal.errors).
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
