"""Pages that belong to no one journey."""

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static

from hashbank import selectors


def home(request: HttpRequest) -> HttpResponse:
    # The start page of the survivor journey: what the service does and does not do, who
    # takes part, and how privacy works.
    return render(request, "portal/home.html", {"partners": selectors.partners_public_list()})


def favicon(request: HttpRequest) -> HttpResponse:
    # Browsers ask for /favicon.ico on their own (downloads, some navigations); a 404 there is a
    # console error on every page. The icon itself is a neutral static file.
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
