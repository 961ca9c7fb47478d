"""Shared test set-up.

Real parts only: PostgreSQL and Redis over real connections, real RQ workers, headless
Chromium. A developer without one of them sees a skip with the reason; under CI=true the same
absence fails the run, because CI must prove the real thing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; Django would refuse database
# access from it. The tests drive the browser and the database in turn, never concurrently.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parent.parent


def require(available: bool, what: str) -> None:
    """Skip locally, fail under CI, when a real dependency is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true and is not available", pytrace=False)
    pytest.skip(f"{what} not available (set it up, or run under CI to make this a failure)")


@pytest.fixture(autouse=True)
def _partner_key_cache_cleared():
    """Each test starts with no partner key cached in this process (hashbank.api.auth): a row
    cached in one test's transaction must not answer in another's."""
    from hashbank.api.auth import key_cache_clear

    key_cache_clear()
    yield
    key_cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _collected_static(django_test_environment, tmp_path_factory):
    """Templates resolve static names through the production manifest storage, so build it
    once per run exactly as a deployment would, in a directory of this run's own (several
    runs may share a checkout)."""
    # Tests talk plain HTTP to a local server; production redirects to HTTPS. This is set
    # here, before any live server exists, because SecurityMiddleware reads it once at start.
    import django.contrib.staticfiles.handlers as static_handlers
    from django.core.management import call_command
    from django.test.utils import override_settings

    # The live server would serve /static/ from the source folders by unhashed name; pass
    # those requests through to whitenoise instead, which serves the collected, hashed files
    # exactly as in production.
    original_handler = static_handlers.StaticFilesHandler
    static_handlers.StaticFilesHandler = _PassThroughHandler
    # The site has no media, so MEDIA_URL is Django's default "/" with MEDIA_ROOT "": the
    # live server's media handler would then serve any file under the working directory
    # (/manage.py, the unhashed /static/... sources) before the site sees the request. An
    # empty folder under an unused prefix leaves every request to the site and whitenoise.
    media = tmp_path_factory.mktemp("no-media")
    with override_settings(STATIC_ROOT=tmp_path_factory.mktemp("static"), SECURE_SSL_REDIRECT=False,
                           MEDIA_URL="/no-media-here/", MEDIA_ROOT=str(media)):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield
    static_handlers.StaticFilesHandler = original_handler


class _PassThroughHandler:
    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        return self.application(environ, start_response)


def database_is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture
def postgres(db):
    require(database_is_postgres(), "PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    from django.conf import settings

    url = settings.RQ_QUEUES["default"]["URL"]
    ok = False
    try:
        import redis

        ok = bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        ok = False
    require(ok and bool(os.environ.get("REDIS_URL") or not IN_CI), f"Redis at {url} (REDIS_URL)")
    return url


def chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if path and os.path.exists(path) else None


# Flags for a closed network and a root user (see env notes): without the background
# networking flags Chromium tries to reach Google's hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    require(path is not None, "Chromium (apt-get install chromium, or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class RecordedPage:
    """A page whose every request, console message and page error is kept for assertions."""

    def __init__(self, page):
        self.page = page
        self.requests = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))


@pytest.fixture
def recorded_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield RecordedPage(page)
    context.close()


# Firefox ESR and WebKitGTK, beside Chromium: the fingerprint conformance suite runs in all
# three (tests/browser/test_fingerprint_browsers.py). Started once per run, like `browser`.


@pytest.fixture(scope="session")
def firefox():
    from tests.browser.remote_browsers import FirefoxBrowser, firefox_available

    ok, what = firefox_available()
    require(ok, what)
    browser = FirefoxBrowser()
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def webkit():
    from tests.browser.remote_browsers import WebKitBrowser, webkit_available

    ok, what = webkit_available()
    require(ok, what)
    browser = WebKitBrowser()
    yield browser
    browser.close()
