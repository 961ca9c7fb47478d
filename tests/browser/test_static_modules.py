"""The fingerprinting modules come from one release, once per visit: the page, its worker and
the worker's helper all load the hashed names of the collected static files (as deployed), so
right after a deploy the page and the worker cannot run different versions, and no module is
downloaded twice. The server's own count is what is checked (a module the browser takes from
its cache is not downloaded again); the browser's record shows no plain name was even asked for.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.signals import request_started

from tests.browser.journey import make_photos
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

PREFIX = "/static/fingerprint/"
HASHED = re.compile(r"^(?P<module>[\w-]+)\.[0-9a-f]{12}\.js$")
#: Every engine module: the page's, the worker's and the helper's (all of them are reached).
MODULES = sorted(p.name for p in (ROOT / "static" / "fingerprint").glob("*.js"))

#: The JavaScript engine on two threads starts the nested helper worker (helper.js); the
#: journey itself uses the WebAssembly engine, which needs no helper.
WITH_HELPER = """async ([b64]) => {
  const url = document.querySelector('[data-fingerprint-flow]').dataset.fingerprintModule;
  const { fingerprintFile } = await import(url);
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const result = await fingerprintFile(new File([bytes], 'photo.jpg', { type: 'image/jpeg' }),
                                       { engine: 'js', threads: 2 });
  return { threads: result.timings.threads, pdq: result.pdq };
}"""


def test_each_fingerprint_module_is_downloaded_once_under_its_hashed_name(live_server, browser, tmp_path,
                                                                          transactional_db):
    served: list[str] = []

    def record(sender, environ, **kwargs):
        served.append(environ.get("PATH_INFO", ""))

    request_started.connect(record)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))  # the page's and its workers'
    try:
        page = context.new_page()
        photos = make_photos(tmp_path, count=2)
        page.goto(live_server.url + "/start/")
        page.get_by_label("18 or over").check()
        page.get_by_label("I am the person in the images").check()
        page.get_by_label("I agree that fingerprints").check()
        page.get_by_role("button", name="Continue").click()
        page.locator("[data-fingerprint-flow]:not([hidden])").wait_for()
        page.locator("[data-flow-input]").set_input_files([p.path for p in photos])
        page.get_by_role("button", name="Make fingerprints").click()
        page.locator('[data-flow-step="review"]:not([hidden])').wait_for(timeout=60_000)
        assert "Could not be fingerprinted" not in page.locator("[data-flow-review-list]").inner_text()
        helped = page.evaluate(WITH_HELPER, [base64.b64encode(photos[0].data).decode()])
        assert helped["threads"] == 2 and helped["pdq"]
    finally:
        context.close()
        request_started.disconnect(record)

    downloads = Counter(path for path in served if path.startswith(PREFIX))
    names = [path.removeprefix(PREFIX) for path in downloads]
    plain = [name for name in names if not HASHED.match(name)]
    assert plain == [], f"plain names were downloaded: {plain}"
    # Once each: the worker and the helper take the page's copies from the browser's cache.
    assert {path: n for path, n in downloads.items() if n > 1} == {}
    # All of them, each under the name this release's manifest gives it.
    assert sorted(HASHED.match(name)["module"] + ".js" for name in names) == MODULES
    for path in downloads:
        module = HASHED.match(path.removeprefix(PREFIX))["module"]
        assert path == staticfiles_storage.url(f"fingerprint/{module}.js"), path

    # Nor did the browser ask for a plain name anywhere (not even one answered from its cache).
    fingerprint_urls = [urlsplit(url).path for url in asked if urlsplit(url).path.startswith(PREFIX)]
    assert fingerprint_urls and [u for u in fingerprint_urls if not HASHED.match(u.removeprefix(PREFIX))] == []
