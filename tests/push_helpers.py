"""Helpers for the push tests: a certificate made for the test, and small TLS servers on
loopback that answer a push the way a real endpoint (or a broken or hostile one) would."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The name the test certificates are made for, besides 127.0.0.1.
TEST_HOST = "receiver.example"


def make_certificate(directory: Path, names: tuple[str, ...] = (TEST_HOST,),
                     addresses: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for `names` and `addresses`: (cert, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else addresses[0])])
    now = datetime.datetime.now(datetime.UTC)
    alternatives = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Received:
    request_line: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """A TLS server on 127.0.0.1 that records each request and answers as `mode` says:

    - "ok": 202 Accepted;
    - "status:NNN": that status (e.g. "status:500", "status:302" with a Location);
    - "silent": takes the request and never answers (until closed);
    - "drip": answers a status line one byte every 0.2 s (for ever, until closed);
    - "no-tls": accepts TCP and never starts TLS.
    """

    cert: Path
    key: Path
    mode: str = "ok"
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._context = server_context(self.cert, self.key)
        self._closed = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/push", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            if self.mode == "no-tls":
                self._closed.wait(30)
                return
            connection.settimeout(10)
            tls = self._context.wrap_socket(connection, server_side=True)
            self._open.append(tls)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            while len(body) < int(headers.get("content-length", "0")):
                body += tls.recv(65536)
            self.received.append(Received(lines[0], headers, body))
            if self.mode == "silent":
                self._closed.wait(30)
            elif self.mode == "drip":
                for byte in b"HTTP/1.1 202 Accepted\r\n" * 100:
                    if self._closed.wait(0.2):
                        return
                    tls.sendall(bytes([byte]))
            else:
                status = 202 if self.mode == "ok" else int(self.mode.split(":")[1])
                extra = f"Location: https://127.0.0.1:{self.port}/elsewhere\r\n" if 300 <= status < 400 else ""
                tls.sendall(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        except OSError:
            pass
        finally:
            try:
                connection.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass


def wait_until(check, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll `check` until it is true: waits for an event, never measures a duration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
