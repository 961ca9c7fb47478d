"""A throwaway production-like stack on loopback for benchmarks: PostgreSQL, Redis, gunicorn
and a supervised worker, each in a temp dir and process group of its own.

Everything listens on 127.0.0.1 only, and `Stack.close()` (also run at exit and on SIGTERM)
stops every process it started and removes its temp dir, whatever happened before.
"""

from __future__ import annotations

import atexit
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
VENV_BIN = Path(sys.executable).parent


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int) -> int:
    """The preferred port when nobody holds it, else any free one (another run may be up)."""
    if port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False


def tail(path: Path, lines: int = 30, pattern: str | None = None) -> str:
    """The last lines of a log (only those matching `pattern`, with the line after each)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    if pattern:
        rx = re.compile(pattern)
        picked = []
        for i, line in enumerate(text):
            if rx.search(line):
                picked.extend(text[i:i + 2])
        text = picked
    return "\n".join(text[-lines:])


class Stack:
    """Owns the temp dir and every process started through it."""

    def __init__(self, prefix: str = "imageshield-stack-") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its subdir
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        self.logs.chmod(0o777)
        self._procs: list[subprocess.Popen] = []
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        atexit.register(self.close)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def spawn(self, argv: list[str], *, log: str, env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> subprocess.Popen:
        """Start a process in a new session (its own process group), output to logs/<log>."""
        out = open(self.logs / log, "ab")
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self._procs.append(proc)
        return proc

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    @staticmethod
    def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        """Signal the process's whole group, then SIGKILL it if it lingers."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children left in the group (rq's work horse)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait(timeout=timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as error:  # keep cleaning up
                print(f"cleanup: {error}", file=sys.stderr)
        for proc in reversed(self._procs):
            try:
                self.stop(proc, timeout=5)
            except Exception as error:
                print(f"cleanup: {error}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres:
    """A PostgreSQL cluster of its own (trust auth, loopback only), run as the postgres user
    because PostgreSQL refuses to run as root."""

    def __init__(self, stack: Stack, port: int) -> None:
        self.stack, self.port = stack, port
        self.data = stack.dir / "pgdata"
        self.sock = stack.dir / "pgsock"
        self.log = stack.logs / "postgres.log"
        for path in (self.data, self.sock):
            path.mkdir()
            self._own(path)
        self.log.touch()
        self._own(self.log)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-sync"], timeout=120)
        stack.on_close(lambda: self._ctl("stop", "-m", "immediate", check=False))

    @staticmethod
    def _own(path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def _run(self, argv: list[str], *, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.stack.dir)
        if check and result.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {result.stdout}{result.stderr}")
        return result

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args], check=check)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} -c max_connections=200"
        self._ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-t", "60", "-m", mode)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


class Redis:
    """A redis-server of its own. No persistence unless asked: a crash then loses every
    queued job and flag, the harshest case for the outbox and the sweep."""

    def __init__(self, stack: Stack, port: int, *, appendonly: bool = False) -> None:
        self.stack, self.port, self.appendonly = stack, port, appendonly
        self.data = stack.dir / "redis"
        self.data.mkdir()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data),
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--protected-mode", "yes"]
        self.proc = self.stack.spawn(argv, log="redis.log")
        if not wait_for(self.ping, 20):
            raise RuntimeError("redis-server did not start:\n" + tail(self.stack.logs / "redis.log"))

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def crash(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


def http_get(port: int, path: str, *, timeout: float = 5, headers: dict[str, str] | None = None
             ) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def start_gunicorn(stack: Stack, port: int, env: dict[str, str], workers: int, threads: int = 2, *,
                   nice: int = 0, log: str = "gunicorn.log") -> subprocess.Popen:
    """gunicorn with the shipped production settings (deploy/gunicorn.conf.py: its access log,
    timeouts, request limits), only the address, the pool size and a shorter shutdown changed.
    `nice` as the unit's Nice= (deploy/systemd/imageshield-partner.service)."""
    argv = [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "portal.wsgi",
            "--log-level", "warning", "--graceful-timeout", "5"]
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers),
           "GUNICORN_THREADS": str(threads)}
    proc = stack.spawn(argv, log=log, env=env)
    if nice:
        # Linux gives each session its own scheduling group (autogroup), and nice counts only
        # inside a group; the pool runs in a session of its own, so its group is lowered too.
        # (Under systemd, CPUWeight= does this between units.)
        try:
            Path(f"/proc/{proc.pid}/autogroup").write_text(str(nice))
        except OSError:
            pass
    if not wait_for(lambda: http_get(port, "/api/v1/openapi.json")[0] == 200, 60, 0.3):
        raise RuntimeError("gunicorn did not start:\n" + tail(stack.logs / log))
    return proc


def systemd_seconds(path: Path, key: str, default: float) -> tuple[float, bool]:
    """A time setting (`RestartSec=2`, `OnUnitActiveSec=5min`) from a unit file, and whether
    the file said so; systemd's plain-seconds and s/min/h suffixes only."""
    try:
        text = path.read_text()
    except OSError:
        return default, False
    match = re.search(rf"^\s*{key}\s*=\s*([\d.]+)\s*(ms|s|sec|min|m|h)?\s*$", text, re.M)
    if not match:
        return default, False
    scale = {"ms": 0.001, None: 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}[match.group(2)]
    return float(match.group(1)) * scale, True


class Supervisor:
    """What systemd's Restart=always does for the worker: start it again `restart_sec` after
    it exits, for whatever reason, until stopped. The benchmark never restarts it by hand."""

    def __init__(self, stack: Stack, argv: list[str], env: dict[str, str], restart_sec: float, log: str) -> None:
        self.stack, self.argv, self.env, self.restart_sec, self.log = stack, argv, env, restart_sec, log
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.exits: list[tuple[float, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        stack.on_close(self.close)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.proc = self.stack.spawn(self.argv, log=self.log, env=self.env)
            self.starts += 1
            while self.proc.poll() is None and not self._stop.is_set():
                time.sleep(0.05)
            if self._stop.is_set():
                return
            self.exits.append((time.monotonic(), self.proc.returncode))
            # The main process gone, rq's work horse may linger in the group: systemd's
            # KillMode=control-group would end it too.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._stop.wait(self.restart_sec)

    def kill(self) -> int:
        """SIGKILL the worker and its work horse (the whole group); returns the pid killed."""
        proc = self.proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.pid

    def close(self) -> None:
        self._stop.set()
        if self.proc is not None:
            Stack.stop(self.proc, timeout=5)
        self._thread.join(timeout=10)
