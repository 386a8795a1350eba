# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault's HTTP API over the standard library: KV reads, token checks and renewals (hvac is only for logins).

Ansible evaluates a lookup in a fresh fork per host. Importing hvac there pulls in requests, urllib3 and
charset_normalizer, 60-100 ms of CPU per host; a worker that reuses the cached token needs one GET, which
urllib does for a few milliseconds (about 6 ms of CPU of it is importing urllib.request, http.client and ssl,
which a template task's worker has not loaded).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import RETRY_STATUSES, VaultSettings

BACKOFF_SECONDS = 0.3  # doubled on every retry
BACKOFF_LIMIT = 10.0

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


def _no_key_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key, inside an Ansible worker.
    return b""


def _header_is_safe(value: str) -> bool:
    return bool(value) and all(32 < ord(char) < 127 for char in value)


class VaultHTTP:
    """One Vault server as configured; `token` may be replaced after a login."""

    def __init__(self, settings: VaultSettings, token: str | None = None) -> None:
        self.settings = settings
        self.url = settings.url
        self.token = token
        self._opener: urllib.request.OpenerDirector | None = None

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
        target = f"{self.url}/v1/{quote(path.strip('/'))}"
        if params:
            target += "?" + urlencode(params)
        body = None if data is None else json.dumps(data).encode()
        headers = self._headers(json_body=body is not None)
        opener = self._build_opener()
        attempts = max(0, self.settings.retries) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            request = urllib.request.Request(target, data=body, headers=headers, method=method)  # noqa: S310
            try:
                with opener.open(request, timeout=self.settings.timeout) as reply:
                    return _json_reply(reply.status, reply.read())
            except urllib.error.HTTPError as exc:
                try:
                    error = VaultHTTPError.from_reply(exc.code, _read_quietly(exc))
                finally:
                    exc.close()
                if last or exc.code not in RETRY_STATUSES:
                    raise error from None
            except (OSError, http.client.HTTPException) as exc:  # URLError and socket errors are OSErrors
                kind, detail = _classify(exc)
                if last or kind == TLS:  # a certificate does not get better on the next try
                    raise VaultTransportError(transport_message(kind, self.url, detail)) from None
            time.sleep(min(BACKOFF_SECONDS * 2**attempt, BACKOFF_LIMIT))
        raise AssertionError("unreachable")  # pragma: no cover  # the loop returns or raises

    def _headers(self, json_body: bool) -> dict[str, str]:
        # Checked here because http.client's own refusal quotes the value, and the value may be the token.
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

    def _build_opener(self) -> urllib.request.OpenerDirector:
        if self._opener is not None:
            return self._opener
        scheme = urlsplit(self.url).scheme
        if scheme not in ("http", "https"):
            raise VaultTransportError(transport_message(SETUP, self.url, "the url must start with http:// or https://"))
        # Built by hand: build_opener() would also make a default TLS context (tens of ms) for plain http.
        opener = urllib.request.OpenerDirector()
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.ProxyHandler(),  # honours HTTP(S)_PROXY and NO_PROXY, as requests does
            urllib.request.HTTPHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPRedirectHandler(),  # a standby node redirects to the active one
            urllib.request.HTTPErrorProcessor(),
        ]
        if scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=self._tls_context()))
        for handler in handlers:
            opener.add_handler(handler)
        self._opener = opener
        return opener

    def _tls_context(self) -> ssl.SSLContext:
        settings = self.settings
        for path, what in (
            (settings.ca_cert if settings.validate_certs else None, "a suitable TLS CA certificate bundle"),
            (settings.client_cert, "the TLS certificate file"),
            (settings.client_key, "the TLS key file"),
        ):
            if path and not os.path.exists(path):
                raise VaultTransportError(
                    transport_message(SETUP, self.url, f"Could not find {what}, invalid path: {path}")
                )
        try:
            if settings.validate_certs:
                ca_cert = settings.ca_cert
                in_directory = bool(ca_cert) and os.path.isdir(str(ca_cert))
                context = ssl.create_default_context(
                    cafile=None if in_directory else ca_cert, capath=ca_cert if in_directory else None
                )
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if settings.client_cert:
                context.load_cert_chain(settings.client_cert, settings.client_key, password=_no_key_password)
        except (ssl.SSLError, OSError) as exc:
            raise VaultTransportError(transport_message(SETUP, self.url, str(exc))) from None
        return context


def _read_quietly(reply: Any) -> bytes:
    try:
        return reply.read()
    except (OSError, http.client.HTTPException):
        return b""


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


def _classify(exc: BaseException) -> tuple[str, str]:
    """(kind, detail) of a failure below HTTP: urllib wraps the socket's error in URLError.reason."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
        return TLS, str(reason)
    if isinstance(reason, TimeoutError):
        return TIMEOUT, ""
    return UNREACHABLE, str(reason)
