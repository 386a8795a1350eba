# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault's HTTP API over the standard library: KV reads, token checks and renewals (hvac is only for logins).

Ansible evaluates a lookup in a fresh fork per host, so every import is paid once per host. hvac would pull
in requests, urllib3 and charset_normalizer (60-100 ms of CPU); even urllib.request with http.client and ssl
costs about 12 ms in a template task's worker, which has loaded none of them. A worker that reuses the cached
token needs one request, so requests go over a plain socket here, with ssl loaded only for https://.
When a proxy is configured in the environment, urllib sends them instead (vault_proxy): it honours the
*_PROXY and NO_PROXY variables exactly as other tools do. The TLS context is built in vault_tls; both
modules load only when needed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, urlencode, urljoin, urlsplit

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import RETRY_STATUSES, VaultSettings

if TYPE_CHECKING:
    import ssl

BACKOFF_SECONDS = 0.3  # doubled on every retry
BACKOFF_LIMIT = 10.0
MAX_REDIRECTS = 5
MAX_REPLY_BYTES = 16 * 1024 * 1024  # Vault's replies are small; a runaway peer must not fill the memory
MAX_LINE_BYTES = 65536
REDIRECTS = (301, 302, 303, 307, 308)

# The kinds of transport failure, each with one message (also used for hvac's errors during a login).
SETUP, TLS, TIMEOUT, HEADER, UNREACHABLE = "setup", "tls", "timeout", "header", "unreachable"


def transport_message(kind: str, url: str, detail: str = "") -> str:
    if kind == SETUP:
        return f"cannot connect to Vault at {url}: {detail} (check ca_cert, client_cert and client_key)"
    if kind == TLS:
        return f"TLS failure talking to Vault at {url}: {detail} (check ca_cert / VAULT_CACERT)"
    if kind == TIMEOUT:
        return f"Vault at {url} did not answer in time"
    if kind == HEADER:
        # Never the header's value: it may be the Vault token.
        return f"a request header for Vault at {url} is invalid (a line break or space in the token or namespace?)"
    return f"Vault at {url} is unreachable: {detail}"


class VaultTransportError(Exception):
    """No answer from Vault (or no request could be made); the message is final and holds no secret."""


class VaultHTTPError(Exception):
    """Vault answered with an error status. `errors` is Vault's own list; `body` its JSON, if any."""

    def __init__(self, status: int, errors: list[str] | None = None, body: Any = None, text: str = "") -> None:
        self.status = status
        self.errors = errors or []
        self.body = body
        # str() is the raw text when Vault gave no error list (a proxy's HTML page), else "HTTP <status>".
        super().__init__(text.strip() or f"HTTP {status}")

    @classmethod
    def from_reply(cls, status: int, raw: bytes) -> VaultHTTPError:
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            return cls(status, text=text)
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors:
            return cls(status, [str(error) for error in errors], body)
        return cls(status, body=body)


class MalformedReply(OSError):
    """The peer's answer is not HTTP/1.x as this client reads it."""


def _header_is_safe(value: str) -> bool:
    return bool(value) and all(32 < ord(char) < 127 for char in value)


def proxy_in_environment(environ: Mapping[str, str] | None = None) -> bool:
    """Whether any *_proxy variable is set; urllib then decides, per scheme and NO_PROXY, what goes through it."""
    environ = os.environ if environ is None else environ
    return any(
        name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value for name, value in environ.items()
    )


class VaultHTTP:
    """One Vault server as configured; `token` may be replaced after a login."""

    def __init__(self, settings: VaultSettings, token: str | None = None) -> None:
        self.settings = settings
        self.url = settings.url
        self.token = token
        self._context: ssl.SSLContext | None = None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def post(self, path: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, data=dict(data or {}))

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Vault's JSON reply ({} for 204). Retries connection errors and 412/500/502/503 with backoff."""
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise VaultTransportError(transport_message(SETUP, self.url, "the url must start with http:// or https://"))
        target = f"{self.url}/v1/{quote(path.strip('/'))}"
        if params:
            target += "?" + urlencode(params)
        body = None if data is None else json.dumps(data).encode()
        headers = self._headers(json_body=body is not None)
        send = self._send_through_proxy if proxy_in_environment() else self._send
        attempts = max(0, self.settings.retries) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                status, raw = send(method, target, body, headers)
            except OSError as exc:  # socket, TLS and malformed-reply errors; urllib's URLError too
                kind, detail = _classify(exc)
                if last or kind == TLS:  # a certificate does not get better on the next try
                    raise VaultTransportError(transport_message(kind, self.url, detail)) from None
            else:
                if 200 <= status < 300:
                    return _json_reply(status, raw)
                error = VaultHTTPError.from_reply(status, raw)
                if last or status not in RETRY_STATUSES:
                    raise error
            time.sleep(min(BACKOFF_SECONDS * 2**attempt, BACKOFF_LIMIT))
        raise AssertionError("unreachable")  # pragma: no cover  # the loop returns or raises

    def _headers(self, json_body: bool) -> dict[str, str]:
        # Checked here because a header with a line break would split the request, and the value may be the token.
        headers = {"X-Vault-Request": "true"}
        if self.token:
            headers["X-Vault-Token"] = self.token
        if self.settings.namespace:
            headers["X-Vault-Namespace"] = self.settings.namespace
        if json_body:
            headers["Content-Type"] = "application/json"
        if not all(_header_is_safe(value) for value in headers.values()):
            raise VaultTransportError(transport_message(HEADER, self.url))
        return headers

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of one request, following a standby node's redirect to the active one."""
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(target)
            status, location, raw = self._exchange(parts, method, body, headers)
            if status not in REDIRECTS or not location:
                return status, raw
            following = urljoin(target, location)
            scheme = urlsplit(following).scheme
            if scheme not in ("http", "https") or (parts.scheme == "https" and scheme != "https"):
                # Following would send the token in clear text, or somewhere this client cannot speak to.
                detail = f"HTTP {status} to {following}, not followed"
                raise VaultTransportError(transport_message(UNREACHABLE, self.url, detail))
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
            target = following
        detail = f"more than {MAX_REDIRECTS} redirects"
        raise VaultTransportError(transport_message(UNREACHABLE, self.url, detail))

    def _exchange(
        self, parts: SplitResult, method: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:  # a port that is not a number
            raise VaultTransportError(transport_message(SETUP, self.url, str(exc))) from None
        if not host:
            raise VaultTransportError(transport_message(SETUP, self.url, "the url has no host"))
        lines = [
            f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            f"Host: {parts.netloc.rpartition('@')[2]}",
            "User-Agent: tradebot.kucoin",
            "Accept-Encoding: identity",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        try:
            request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")
        except UnicodeEncodeError:
            raise VaultTransportError(
                transport_message(SETUP, self.url, "write the url's host name in ASCII")
            ) from None
        context = self._tls_context() if parts.scheme == "https" else None
        connection = socket.create_connection((host, port), timeout=self.settings.timeout)
        try:
            if context is not None:
                connection = context.wrap_socket(connection, server_hostname=host)
            connection.sendall(request)
            with connection.makefile("rb") as reply:
                return _read_reply(reply)
        finally:
            connection.close()

    def _send_through_proxy(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        # Imported here, like vault_tls: a worker that talks to Vault directly never compiles it.
        from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_proxy import send_through_proxy

        context = self._tls_context() if urlsplit(target).scheme == "https" else None
        return send_through_proxy(method, target, body, headers, timeout=self.settings.timeout, context=context)

    def _tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_tls import tls_context

            self._context = tls_context(self.settings)
        return self._context


def _read_line(reply: Any) -> bytes:
    line = reply.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise MalformedReply("a header line is too long")
    return line


def _read_reply(reply: Any) -> tuple[int, str, bytes]:
    """(status, Location header, body) of an HTTP/1.x reply; interim 1xx answers are skipped."""
    while True:
        status_line = _read_line(reply)
        if not status_line:
            raise MalformedReply("the connection closed before a reply")
        version, _space, rest = status_line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise MalformedReply("the reply is not HTTP/1.x")
        fields: dict[str, str] = {}
        while (line := _read_line(reply)) not in (b"\r\n", b"\n", b""):
            name, _colon, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if not 100 <= int(code) < 200:
            break
    status = int(code)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = _read_chunked(reply)
    elif "content-length" in fields:
        length = fields["content-length"]
        if not length.isdigit() or int(length) > MAX_REPLY_BYTES:
            raise MalformedReply("the reply's Content-Length is unusable")
        body = reply.read(int(length))
        if len(body) < int(length):
            raise MalformedReply("the reply was cut short")
    else:
        body = reply.read(MAX_REPLY_BYTES + 1)
        if len(body) > MAX_REPLY_BYTES:
            raise MalformedReply("the reply is too large")
    return status, fields.get("location", ""), body


def _read_chunked(reply: Any) -> bytes:
    chunks: list[bytes] = []
    size_read = 0
    while True:
        size_field = _read_line(reply).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise MalformedReply("a chunk size is unreadable") from None
        if size == 0:
            break
        size_read += size
        if size_read > MAX_REPLY_BYTES:
            raise MalformedReply("the reply is too large")
        chunk = reply.read(size)
        if len(chunk) < size or _read_line(reply).strip():
            raise MalformedReply("the reply was cut short")
        chunks.append(chunk)
    while _read_line(reply) not in (b"\r\n", b"\n", b""):  # trailers
        pass
    return b"".join(chunks)


def _json_reply(status: int, raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise VaultHTTPError(status, ["the reply is not JSON"]) from None
    if not isinstance(body, dict):
        raise VaultHTTPError(status, ["the reply is not a JSON object"])
    return body


def _classify(exc: OSError) -> tuple[str, str]:
    """(kind, detail) of a failure below HTTP; urllib wraps the socket's error in URLError.reason."""
    urllib_error = sys.modules.get("urllib.error")
    reason: Any = exc.reason if urllib_error and isinstance(exc, urllib_error.URLError) else exc
    ssl = sys.modules.get("ssl")  # not imported means no TLS was spoken, so no TLS error
    if ssl is not None and isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
        return TLS, str(reason)
    if isinstance(reason, TimeoutError):
        return TIMEOUT, ""
    return UNREACHABLE, str(reason)
