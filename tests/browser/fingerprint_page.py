"""Drive the browser fingerprinting modules in a real page of the live site.

Files reach the page as bytes built into `File` objects inside the page (from base64), so
nothing is ever uploaded: the site only serves its static modules. The modules are loaded by
their static URLs under the site's strict CSP (no inline script; the worker is same-origin).
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import numpy as np

FINGERPRINT = "/static/fingerprint/index.js"
DECODE = "/static/fingerprint/decode.js"

_JS_HELPERS = """() => {
window.__fpBytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
window.__fpB64 = (u8) => {
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
};
}"""


class FingerprintPage:
    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.requests: list = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)
        response = page.goto(base_url + "/")
        assert response.status == 200, (response.status, response.text()[:2000])
        # Helpers are added through evaluate (CDP), not as page script, so the CSP stays strict.
        page.evaluate(_JS_HELPERS)

    def _console(self, message) -> None:
        # The browser asks for /favicon.ico on its own; the site has none, and that is not ours.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"{message.text} {message.location}")

    def decode(self, data: bytes) -> dict:
        """decode.js on these bytes: size, flags, and the RGB pixels as an (h, w, 3) array."""
        out = self.page.evaluate(
            """async ([url, b64]) => {
                const { decodeImage } = await import(url);
                try {
                  const d = await decodeImage(window.__fpBytes(b64));
                  const rgb = new Uint8Array(d.width * d.height * 3);
                  for (let i = 0, j = 0; i < d.data.length; i += 4, j += 3) {
                    rgb[j] = d.data[i]; rgb[j + 1] = d.data[i + 1]; rgb[j + 2] = d.data[i + 2];
                  }
                  return { ok: true, width: d.width, height: d.height, exact: d.exact, format: d.format,
                           orientation: d.orientation, decoder: d.decoder, warnings: d.warnings,
                           rgb: window.__fpB64(rgb) };
                } catch (e) {
                  return { ok: false, code: e.code, message: e.message, detail: e.detail };
                }
            }""",
            [DECODE, base64.b64encode(data).decode()],
        )
        if out.get("ok"):
            pixels = np.frombuffer(base64.b64decode(out["rgb"]), dtype=np.uint8)
            out["rgb"] = pixels.reshape(out["height"], out["width"], 3)
        return out

    def fingerprint(self, data: bytes, name: str = "file", mime: str = "", engine: str | None = None) -> dict:
        """fingerprintFile in its worker; {'ok': True, 'result': ..., 'progress': [...]} or an error.

        engine: None for the default choice, or 'wasm' / 'js' to force one.
        """
        return self.page.evaluate(
            """async ([url, b64, name, mime, engine]) => {
                const { fingerprintFile } = await import(url);
                const progress = [];
                try {
                  const file = new File([window.__fpBytes(b64)], name, { type: mime });
                  const options = { onProgress: (p) => progress.push(p) };
                  if (engine) options.engine = engine;
                  const result = await fingerprintFile(file, options);
                  return { ok: true, result, progress };
                } catch (e) {
                  return { ok: false, code: e.code, name: e.name, message: e.message, detail: e.detail, progress };
                }
            }""",
            [FINGERPRINT, base64.b64encode(data).decode(), name, mime, engine],
        )

    def cancel_while_hashing(self, big: bytes, small: bytes, options: dict) -> dict:
        """Fingerprint `big`, aborting as soon as its hashing starts, then fingerprint `small`
        with the same options: {error, stages, after: small's pdq, afterThreads, afterEngine}."""
        return self.page.evaluate(
            """async ([url, bigB64, smallB64, options]) => {
                const { fingerprintFile } = await import(url);
                const controller = new AbortController();
                const stages = [];
                let error = null;
                let aborted = false;
                try {
                  await fingerprintFile(new File([window.__fpBytes(bigB64)], 'big.png'), {
                    ...options, signal: controller.signal,
                    onProgress: (p) => {
                      stages.push(p.stage);
                      if (p.stage === 'hashing' && !aborted) { aborted = true; controller.abort(); }
                    },
                  });
                } catch (e) { error = { name: e.name, code: e.code }; }
                const after = await fingerprintFile(new File([window.__fpBytes(smallB64)], 'small.png'), options);
                return { error, stages, after: after.pdq, afterThreads: after.timings.threads,
                         afterEngine: after.timings.engine };
            }""",
            [FINGERPRINT, base64.b64encode(big).decode(), base64.b64encode(small).decode(), options],
        )

    def sent_anything(self) -> list[str]:
        """Requests that could have carried data away: anything but a GET to this site."""
        origin = urlsplit(self.base_url).netloc
        return [f"{r.method} {r.url}" for r in self.requests
                if r.method != "GET" or urlsplit(r.url).netloc != origin or r.post_data]


class RemoteFingerprintPage(FingerprintPage):
    """The same helpers in Firefox or WebKit (tests/browser/remote_browsers.py), whose drivers
    report no request events: what was sent is what this site's server saw (`served`, a list
    of (method, path, body length) that the caller records), and nothing else can be reached
    from this closed network and the page's policy."""

    def __init__(self, browser, base_url: str, served: list[tuple[str, str, int]]):
        self.page = browser
        self.base_url = base_url
        self.served = served
        self.requests: list = []
        response = browser.goto(base_url + "/")
        assert response.status == 200, response.status
        browser.evaluate(_JS_HELPERS)

    @property
    def errors(self) -> list[str]:
        return self.page.errors

    def sent_anything(self) -> list[str]:
        return [f"{method} {path}" for method, path, length in self.served if method != "GET" or length]
