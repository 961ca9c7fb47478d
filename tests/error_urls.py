"""The site's URLs plus one view with a bug in it (tests/test_error_pages.py)."""

from django.urls import path

from portal.urls import handler404, handler500  # noqa: F401
from portal.urls import urlpatterns as site_urlpatterns


def broken(request):
    raise ValueError("a bug")


urlpatterns = [path("broken/", broken), *site_urlpatterns]
