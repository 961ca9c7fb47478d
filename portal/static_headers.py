"""Response headers for static files, added by whitenoise (WHITENOISE_ADD_HEADERS_FUNCTION).

The fingerprinting code runs in Web Workers (static/fingerprint/worker.js and helper.js). A
dedicated worker is governed by the Content-Security-Policy of its own script's response, not
by the page's, and whitenoise answers before django-csp's middleware sees the request: without
this hook the code that holds a survivor's decoded photo would run under no policy at all.

The policy given to every script:
  * connect-src 'none': the worker that reads the file cannot make a request of any kind, so
    even a bug or an injected dependency could not send pixels anywhere (the browser enforces
    it, whatever the code does);
  * script-src 'self' 'wasm-unsafe-eval': our own modules, and WebAssembly compilation for the
    SIMD kernels (static/fingerprint/kernels.wat). 'wasm-unsafe-eval' allows compiling
    WebAssembly only, never JavaScript eval; a browser that does not know it refuses the
    compilation and the worker falls back to its JavaScript engine (same fingerprints);
  * worker-src 'self': the nested helper worker.
A script's CSP header has no effect when the script is loaded by a page (the page's own
policy applies there), so it is safe to send it with every .js file.
"""

from __future__ import annotations

from collections.abc import MutableMapping

WORKER_SCRIPT_POLICY = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'none'"


def add_static_headers(headers: MutableMapping[str, str], path: str, url: str) -> None:
    """whitenoise's hook: called once per file at start-up (path on disk, url served)."""
    if url.endswith(".js") or url.endswith(".mjs"):
        headers["Content-Security-Policy"] = WORKER_SCRIPT_POLICY
