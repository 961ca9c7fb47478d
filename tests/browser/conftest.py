"""Fixtures shared by the browser tests."""

from __future__ import annotations

import pytest

from tests.browser.fingerprint_page import FingerprintPage


@pytest.fixture
def fp(live_server, recorded_page):
    """A page of the live site with the fingerprinting modules at hand. After the test, no
    page error or console error may have happened and nothing may have been sent anywhere."""
    page = FingerprintPage(recorded_page.page, live_server.url)
    yield page
    assert page.errors == []
    assert page.sent_anything() == []
