"""Firefox and WebKit for the browser tests, beside Playwright's Chromium (tests/conftest.py).

Both are Debian's builds, started by the tests and never downloaded:
- Firefox ESR (`firefox-esr`), over WebDriver BiDi through puppeteer-core in a small Node
  bridge (firefox_bridge.mjs): no geckodriver.
- WebKitGTK's MiniBrowser, through `WebKitWebDriver` (package webkit2gtk-driver), spoken to
  as plain W3C WebDriver over HTTP. MiniBrowser has no headless mode, so the driver runs
  under `xvfb-run`, in a process group of its own that is ended as a whole. The driver
  listens on 127.0.0.1 only, and it starts MiniBrowser with
  WEBKIT_INSPECTOR_SERVER=127.0.0.1:<port> (its automation channel), so nothing listens
  beyond loopback; any inherited WEBKIT_INSPECTOR_SERVER is removed so it cannot widen that.

Each gives a page object with the subset of Playwright's Page that tests/browser/fingerprint_page.py
uses: `goto(url).status` and `evaluate(source, arg)` (source: a JavaScript function taking one
argument, possibly async; arg and the value returned: plain JSON).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = Path(__file__).resolve().parent / "firefox_bridge.mjs"

#: Long enough for a large photo in a slow browser on a busy 2-core machine; a hang still ends.
SCRIPT_TIMEOUT_S = 180


class BrowserFailure(RuntimeError):
    """The browser or its driver failed (not the page's script)."""


class ScriptError(RuntimeError):
    """The page's script threw or rejected; the message is the JavaScript error."""


@dataclass
class Response:
    status: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exited(process: subprocess.Popen, timeout: float) -> bool:
    """Whether the process has ended, waiting up to `timeout`, without reaping it: while it is
    not reaped its id, which is also its process group's, cannot be given to anyone else."""
    deadline = time.monotonic() + timeout
    while process.returncode is None:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _end_group(process: subprocess.Popen, grace_s: float = 10) -> None:
    """End the process group this run started (start_new_session=True), and only it: the
    leader (asked to stop before this) gets `grace_s`, then the group is terminated, then
    killed; what is left of the group goes with it before the leader is reaped."""
    if process.returncode is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if _exited(process, grace_s):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    _exited(process, grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children the leader left behind
    process.wait(grace_s)


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]
    return []


# --- Firefox over WebDriver BiDi -----------------------------------------------------------


def firefox_path() -> str | None:
    path = os.environ.get("FIREFOX_PATH") or shutil.which("firefox-esr") or shutil.which("firefox")
    return path if path and os.path.exists(path) else None


def firefox_available() -> tuple[bool, str]:
    if not firefox_path():
        return False, "Firefox ESR (apt-get install firefox-esr, or set FIREFOX_PATH)"
    if not shutil.which("node") or not (ROOT / "node_modules" / "puppeteer-core").is_dir():
        return False, "Node.js with puppeteer-core (npm ci) to drive Firefox"
    return True, ""


class FirefoxBrowser:
    """One Firefox for the whole run, one page in it, driven through firefox_bridge.mjs."""

    name = "firefox"

    def __init__(self) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="firefox-bridge-", suffix=".log", delete=False)
        env = {**os.environ, "FIREFOX_PATH": firefox_path() or "", "PUPPETEER_SKIP_DOWNLOAD": "true"}
        self._process = subprocess.Popen(
            ["node", str(BRIDGE)], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True, text=True, encoding="utf-8",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0
        self._ready = False
        self.errors: list[str] = []
        try:
            ready = self._line(60)
            if not ready.get("ready"):
                raise BrowserFailure(f"Firefox did not start: {ready} {self.log_tail()}")
        except BaseException:
            self.close()
            raise
        self.version = ready["version"]
        self._ready = True

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _line(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BrowserFailure(f"Firefox did not answer within {timeout} s {self.log_tail()}") from None
        if line is None:
            raise BrowserFailure(f"the Firefox bridge ended {self.log_tail()}")
        return json.loads(line)

    def log_tail(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def _call(self, op: str, timeout: float = SCRIPT_TIMEOUT_S, **fields) -> object:
        self._next_id += 1
        self._process.stdin.write(json.dumps({"id": self._next_id, "op": op, **fields}) + "\n")
        self._process.stdin.flush()
        answer = self._line(timeout)
        assert answer["id"] == self._next_id, answer
        self.errors.extend(answer.get("errors", []))
        if not answer["ok"]:
            raise ScriptError(answer["error"])
        return answer.get("value")

    def goto(self, url: str) -> Response:
        return Response(status=self._call("goto", url=url)["status"])

    def evaluate(self, source: str, arg: object = None) -> object:
        return self._call("evaluate", source=source, arg=arg)

    def take_errors(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors

    def close(self) -> None:
        try:
            if self._ready and not _exited(self._process, 0):
                with contextlib.suppress(BrowserFailure, ScriptError, BrokenPipeError, OSError):
                    self._call("close", timeout=30)
        finally:
            _end_group(self._process)
            for stream in (self._process.stdin, self._process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            self._reader.join(5)
            self._log.close()
            os.unlink(self._log.name)


# --- WebKitGTK over W3C WebDriver -----------------------------------------------------------


def minibrowser_path() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/webkit2gtk-4.1/MiniBrowser"))
    path = os.environ.get("MINIBROWSER_PATH") or (found[0] if found else None)
    return path if path and os.path.exists(path) else None


def webkit_available() -> tuple[bool, str]:
    if not shutil.which("WebKitWebDriver") or not minibrowser_path():
        return False, "WebKitGTK (apt-get install webkit2gtk-driver: WebKitWebDriver and MiniBrowser)"
    if not shutil.which("xvfb-run"):
        return False, "Xvfb for WebKit's MiniBrowser (apt-get install xvfb xauth)"
    return True, ""


# Runs as a WebDriver async script: arguments[0] is the argument, arguments[1] the callback.
# The page's own exceptions come back as values, so they are told apart from driver failures.
_ASYNC_WRAPPER = """const done = arguments[1];
Promise.resolve().then(() => (%s)(arguments[0])).then(
  (value) => done({ ok: true, value: value === undefined ? null : value }),
  (e) => done({ ok: false, error: String(e && e.stack ? e.message + '\\n' + e.stack : e) }));"""

# Uncaught errors of the page (WebDriver classic has no event for them), read after each call.
_ERROR_TRAP = """() => {
  if (window.__testErrors) return;
  window.__testErrors = [];
  window.addEventListener('error', (e) => window.__testErrors.push('error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => window.__testErrors.push('unhandled: ' + e.reason));
}"""


class WebKitBrowser:
    """One WebKitWebDriver + MiniBrowser session for the whole run, under xvfb-run."""

    name = "webkit"

    def __init__(self) -> None:
        self._port = _free_port()
        self._base = f"http://127.0.0.1:{self._port}"
        self._log = tempfile.NamedTemporaryFile(prefix="webkit-driver-", suffix=".log", delete=False)
        env = {k: v for k, v in os.environ.items() if k != "WEBKIT_INSPECTOR_SERVER"}
        # -a: the first free display; xvfb-run starts Xvfb with -nolisten tcp.
        self._process = subprocess.Popen(
            ["xvfb-run", "-a", "WebKitWebDriver", f"--port={self._port}", "--host=127.0.0.1"],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._session = None
        self.errors: list[str] = []
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(OSError, BrowserFailure):
                    if self._request("GET", "/status", timeout=5)["value"].get("ready"):
                        break
                if _exited(self._process, 0) or time.monotonic() > deadline:
                    raise BrowserFailure(f"WebKitWebDriver did not start {self.log_tail()}")
                time.sleep(0.2)
            capabilities = {"browserName": "MiniBrowser",
                            "webkitgtk:browserOptions": {"binary": minibrowser_path(), "args": ["--automation"]}}
            created = self._request("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=60)
            self._session = created["value"]["sessionId"]
            self.version = created["value"]["capabilities"].get("browserVersion", "")
            self._command("POST", "/timeouts", {"script": SCRIPT_TIMEOUT_S * 1000, "pageLoad": 60_000})
        except BaseException:
            self.close()
            raise

    def log_tail(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def _request(self, method: str, path: str, body: object = None, timeout: float = SCRIPT_TIMEOUT_S + 30) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            with e:
                detail = e.read().decode(errors="replace")[:2000]
            raise BrowserFailure(f"WebKitWebDriver {method} {path}: {e.code} {detail}") from None

    def _command(self, method: str, path: str, body: object = None) -> object:
        return self._request(method, f"/session/{self._session}{path}", body)["value"]

    def goto(self, url: str) -> Response:
        self._command("POST", "/url", {"url": url})
        self._command("POST", "/execute/sync", {"script": f"({_ERROR_TRAP})()", "args": []})
        # Classic WebDriver does not tell the status, nor does WebKit's navigation timing entry
        # (no responseStatus): ask for the same address once more.
        status = self.evaluate("async () => (await fetch(location.href, { cache: 'no-store' })).status")
        return Response(status=int(status))

    def evaluate(self, source: str, arg: object = None) -> object:
        out = self._command("POST", "/execute/async", {"script": _ASYNC_WRAPPER % source, "args": [arg]})
        errors = self._command("POST", "/execute/sync", {
            "script": "const e = window.__testErrors || []; window.__testErrors = []; return e", "args": []})
        self.errors.extend(errors or [])
        if not out["ok"]:
            raise ScriptError(out["error"])
        return out["value"]

    def take_errors(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors

    def close(self) -> None:
        try:
            if self._session:
                with contextlib.suppress(OSError, BrowserFailure):
                    self._request("DELETE", f"/session/{self._session}", timeout=30)
                self._session = None
            # Stopping the driver lets xvfb-run stop Xvfb and remove its files itself.
            for child in _children(self._process.pid):
                with contextlib.suppress(OSError), open(f"/proc/{child}/comm") as f:
                    if f.read().strip() == "WebKitWebDriver":
                        os.kill(child, signal.SIGTERM)
        finally:
            _end_group(self._process)
            self._log.close()
            os.unlink(self._log.name)
