"""The two hashing engines in Chromium, under the site's real headers.

By default the worker hashes with the WebAssembly SIMD engine (static/fingerprint/simd.js);
where WebAssembly is refused it falls back to the JavaScript engine. Both must give the
references' fingerprints bit for bit on real files, and the worker that holds the photo runs
under a policy of its own that lets it compile WebAssembly but make no request at all.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from portal.static_headers import WORKER_SCRIPT_POLICY
from tests.browser import fingerprint_corpus as corpus

pytestmark = pytest.mark.browser

FIELDS = ("pdq", "pdq_quality", "pdq_dihedral", "phash", "dhash", "ahash", "md5", "sha256", "width", "height")


def files() -> dict[str, bytes]:
    astronaut = corpus.photo("astronaut.png")
    return {
        "photo.png": corpus.encode(astronaut, "PNG"),
        # Portrait, taller than twice its width: Pillow resizes vertically first.
        "tall.png": corpus.encode(
            corpus.photo("chelsea.png").transpose(Image.Transpose.ROTATE_90).resize((180, 700)), "PNG"
        ),
        "odd-size.png": corpus.encode(astronaut.resize((333, 77)), "PNG"),
        "photo.jpg": corpus.encode(corpus.photo("coffee.png"), "JPEG", quality=90),
        "tiny.gif": corpus.encode(astronaut.resize((7, 5)), "GIF"),
    }


FILES = files()


@pytest.mark.parametrize("name", sorted(FILES))
def test_both_engines_give_the_references_fingerprints(fp, name):
    data = FILES[name]
    ref = corpus.reference(data)
    expected = {f: getattr(ref, f) for f in FIELDS}
    default = fp.fingerprint(data, name)
    js = fp.fingerprint(data, name, engine="js")
    wasm = fp.fingerprint(data, name, engine="wasm")
    assert default["ok"] and js["ok"] and wasm["ok"], (default, js, wasm)
    assert default["result"]["timings"]["engine"] == "wasm", "Chromium runs WebAssembly SIMD: it must be the default"
    assert js["result"]["timings"]["engine"] == "js"
    assert wasm["result"]["timings"]["engine"] == "wasm"
    for out in (default, js, wasm):
        assert {f: out["result"][f] for f in FIELDS} == expected
    # Everything submitted, crop fingerprints included, is the same on both engines.
    assert wasm["result"]["signals"] == js["result"]["signals"]
    assert wasm["result"]["pdq_crops"] == js["result"]["pdq_crops"]


def test_the_worker_runs_under_its_own_policy(fp):
    workers = []
    responses = {}
    fp.page.on("worker", lambda w: workers.append(w))
    fp.page.on("response", lambda r: responses.setdefault(r.url.split("?")[0].rsplit("/", 1)[-1], r))
    out = fp.fingerprint(FILES["photo.png"], "photo.png")
    assert out["ok"], out
    worker_scripts = {name: r for name, r in responses.items() if name.startswith("worker") and name.endswith(".js")}
    assert worker_scripts, sorted(responses)
    for response in worker_scripts.values():
        assert response.headers.get("content-security-policy") == WORKER_SCRIPT_POLICY
    worker = next(w for w in workers if "/fingerprint/worker" in w.url)
    # Code evaluated in the worker's own global scope meets the worker's policy. (Whether
    # eval is refused cannot be seen this way: DevTools evaluation is exempt from that check.)
    probe = worker.evaluate(
        """async () => {
            const r = {};
            for (const url of ['/', 'https://example.org/']) {
              try { await fetch(url); r[url] = 'allowed'; } catch (e) { r[url] = 'refused'; }
            }
            try { new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); r.wasm = 'allowed'; }
            catch (e) { r.wasm = 'refused'; }
            return r;
        }"""
    )
    assert probe == {"/": "refused", "https://example.org/": "refused", "wasm": "allowed"}
    fp.errors.clear()  # the refused requests are reported on the console, as they should be
    assert fp.sent_anything() == []


def test_where_webassembly_is_refused_the_javascript_engine_takes_over(fp):
    """A browser that does not allow 'wasm-unsafe-eval' (or has no WebAssembly at all, as
    iOS Lockdown Mode) still gets exact fingerprints, from the JavaScript engine."""
    strict = WORKER_SCRIPT_POLICY.replace(" 'wasm-unsafe-eval'", "")

    def serve_strict(route):
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": strict}
        route.fulfill(response=response, headers=headers)

    fp.page.route("**/static/fingerprint/worker*.js", serve_strict)
    data = FILES["photo.png"]
    out = fp.fingerprint(data, "photo.png")
    assert out["ok"], out
    assert out["result"]["timings"]["engine"] == "js"
    ref = corpus.reference(data)
    assert {f: out["result"][f] for f in FIELDS} == {f: getattr(ref, f) for f in FIELDS}
    forced = fp.fingerprint(data, "photo.png", engine="wasm")
    assert forced["ok"] is False and forced["code"] == "internal", forced
    fp.errors[:] = [e for e in fp.errors if "WebAssembly" not in e and "wasm" not in e.lower()]


def test_the_page_itself_still_allows_no_webassembly(fp):
    """Only the worker may compile WebAssembly: the page's own policy is unchanged."""
    result = fp.page.evaluate(
        """() => { try { new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); return 'allowed'; }
                   catch (e) { return 'refused'; } }"""
    )
    # page.evaluate runs through the DevTools protocol, which CSP exempts from eval checks
    # but not from WebAssembly compilation checks in the page's realm.
    assert result == "refused"
    fp.errors.clear()


def test_a_failing_webassembly_run_falls_back_instead_of_failing_the_file(fp):
    """The fast engine failing on one file (say a phone refusing to grow its memory) must not
    cost the survivor that file: the worker hashes it with the JavaScript engine."""

    def failing_engine(route):
        response = route.fetch()
        body = response.text()
        marker = "run({ width: W, height: H, data }, sizes) {"
        assert marker in body
        body = body.replace(marker, marker + " throw new RangeError('WebAssembly.Memory.grow(): test refusal');")
        route.fulfill(response=response, body=body)

    fp.page.route("**/static/fingerprint/simd*.js", failing_engine)
    data = FILES["odd-size.png"]
    out = fp.fingerprint(data, "odd-size.png")
    assert out["ok"], out
    timings = out["result"]["timings"]
    assert timings["engine"] == "js"
    assert "test refusal" in timings["engineFallback"]
    ref = corpus.reference(data)
    assert {f: out["result"][f] for f in FIELDS} == {f: getattr(ref, f) for f in FIELDS}
    # Asking for the WebAssembly engine by name still reports the failure.
    forced = fp.fingerprint(data, "odd-size.png", engine="wasm")
    assert forced["ok"] is False and forced["code"] == "internal"
    assert "test refusal" in (forced.get("detail") or "")


def test_cancelling_while_the_webassembly_engine_hashes_stops_and_the_next_file_works(fp):
    rng = np.random.default_rng(5)
    big = corpus.encode(Image.fromarray(rng.integers(0, 256, (2400, 3200, 3), dtype=np.uint8)), "PNG",
                        compress_level=1)
    small = FILES["odd-size.png"]
    out = fp.cancel_while_hashing(big, small, {})
    assert out["error"] == {"name": "AbortError", "code": "cancelled"}
    assert "hashing" in out["stages"]
    assert out["after"] == corpus.reference(small).pdq
    assert out["afterEngine"] == "wasm"  # the fresh worker compiled its kernels again
