"""Small local HTTP servers that stand between a client and Vault: they record what reached them.

- Redirector: answers every request with a redirect to another base URL (optionally over TLS).
- ForwardProxy: a forwarding HTTP proxy (absolute-form requests) in front of a plain-HTTP Vault.
- Trickler: accepts, reads the request, then sends a reply one byte at a time and never finishes; it notes
  when each connection opened and when the client gave up on it.

`python -m harness` does not start these; tests and the benchmark do.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.tls import TestCA


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Recorder:
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: Seen) -> None:
        with self.lock:
            self.seen.append(entry)

    def carried(self, text: str) -> bool:
        """Whether any request that reached here held `text` in its target, headers or body."""
        for entry in self.seen:
            blob = entry.target + "".join(f"{k}: {v}\n" for k, v in entry.headers.items())
            if text in blob or text.encode() in entry.body:
                return True
        return False


def _read_request(handler: BaseHTTPRequestHandler) -> Seen:
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    return Seen(handler.command, handler.path, dict(handler.headers.items()), body)


class _Server:
    """A ThreadingHTTPServer on a free loopback port, optionally TLS with a test CA's certificate."""

    scheme = "http"

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls_ca: TestCA | None = None) -> None:
        self.recorder = Recorder()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.fixture = self  # type: ignore[attr-defined]
        if tls_ca is not None:
            issued = tls_ca.issue(f"fixture-{id(self)}", server=True)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(issued.cert), str(issued.key))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def seen(self) -> list[Seen]:
        return self.recorder.seen

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    @property
    def fixture(self) -> Any:
        return self.server.fixture  # type: ignore[attr-defined]


class _RedirectHandler(_Quiet):
    def _answer(self) -> None:
        self.fixture.recorder.add(_read_request(self))
        self.send_response(self.fixture.status)
        self.send_header("Location", self.fixture.target.rstrip("/") + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _answer


class Redirector(_Server):
    """Redirects every request to `target` + the same path, with `status` (307 keeps method and body)."""

    def __init__(self, target: str, status: int = 307, tls_ca: TestCA | None = None) -> None:
        self.target = target
        self.status = status
        super().__init__(_RedirectHandler, tls_ca)


class Sink(_Server):
    """Records requests and answers 404: a place the token must never reach."""

    def __init__(self) -> None:
        class Handler(_Quiet):
            def _answer(self) -> None:
                self.fixture.recorder.add(_read_request(self))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        super().__init__(Handler)


class _ProxyHandler(_Quiet):
    def _forward(self) -> None:
        seen = _read_request(self)
        self.fixture.recorder.add(seen)
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "this proxy forwards absolute http:// requests only")
            return
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            upstream.request(self.command, path, body=seen.body or None, headers=headers)
            reply = upstream.getresponse()
            body = reply.read()
            self.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _forward


class ForwardProxy(_Server):
    """A forwarding proxy for plain-HTTP targets; `seen` holds the absolute URL of each forwarded request."""

    def __init__(self) -> None:
        super().__init__(_ProxyHandler)

    def paths(self) -> list[str]:
        return [urlsplit(entry.target).path for entry in self.seen]


@dataclass
class Trickle:
    opened: float
    closed: float | None = None

    @property
    def lasted(self) -> float | None:
        return None if self.closed is None else self.closed - self.opened


class Trickler:
    """Reads a request, then sends an endless HTTP reply one byte every `interval` seconds.

    Each connection's `opened` and `closed` (when the client shut it or went away) are monotonic times.
    """

    REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Trickle: " + b"z" * 60000

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.connections: list[Trickle] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except OSError:
                continue
            record = Trickle(opened=time.monotonic())
            self.connections.append(record)
            worker = threading.Thread(target=self._trickle, args=(conn, record), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _trickle(self, conn: socket.socket, record: Trickle) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                data = b""
                while b"\r\n\r\n" not in data:  # the request's headers
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                for byte in self.REPLY:
                    if self._stop.is_set():
                        break
                    conn.sendall(bytes([byte]))
                    readable = select.select([conn], [], [], self.interval)[0]
                    if readable and not conn.recv(1):
                        break  # the client shut the connection down
            record.closed = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Trickler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tls_ca(directory: Path) -> TestCA:
    return TestCA(directory, "fixture CA")
