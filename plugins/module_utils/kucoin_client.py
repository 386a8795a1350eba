# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KuCoin REST calls over httpx (0.23 to 0.28): signing, bounded retries, and errors sorted into kinds.

Runs on managed hosts: needs only Python 3 and httpx.
"""

from __future__ import annotations

import inspect
import json
import logging
import queue
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import (
    Credentials,
    encoded_endpoint,
    raw_endpoint,
    signed_headers,
)

try:
    import httpx
except ImportError:
    httpx = None
    HTTPX_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HTTPX_IMPORT_ERROR = None

if TYPE_CHECKING:
    from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import QueryParams

SUCCESS_CODE = "200000"
RATE_LIMIT_CODE = "429000"
# One try plus up to three retries, and only for answers that a retry can change (429 and 5xx).
MAX_ATTEMPTS = 4
SERVER_ERROR_BACKOFF_S = (0.25, 0.5, 1.0)
DEFAULT_RATE_LIMIT_WAIT_S = 1.0
USER_AGENT = "tradebot.kucoin key_check"


class ErrorKind:
    KUCOIN = "kucoin"  # KuCoin answered with a code other than 200000
    MALFORMED = "malformed"  # the body is not KuCoin's JSON envelope
    TIMEOUT = "timeout"
    TLS = "tls"
    DNS = "dns"
    CONNECTION = "connection"
    PROXY = "proxy"
    BAD_URL = "bad_url"
    UNEXPECTED = "unexpected"


class KucoinCallError(Exception):
    """A call that did not end in HTTP 200 with code 200000. Never carries a request header."""

    def __init__(
        self,
        kind: str,
        *,
        url: str,
        kucoin_code: str | None = None,
        http_status: int | None = None,
        server_message: str = "",
        detail: str = "",
        attempts: int = 1,
        rate_limited: bool = False,
    ) -> None:
        self.kind = kind
        self.rate_limited = rate_limited  # an HTML rate-limit page (Cloudflare 1015, any HTML 429)
        self.url = url
        self.kucoin_code = kucoin_code
        self.http_status = http_status
        self.server_message = server_message
        self.detail = detail
        self.attempts = attempts
        super().__init__(f"{kind} error calling {url}: code={kucoin_code} http={http_status} {detail}".strip())


@dataclass
class KucoinReply:
    """A successful call (HTTP 200, code 200000)."""

    url: str
    data: Any
    sent_at: float  # wall clock (s) when the successful attempt was sent
    round_trip_s: float  # duration of the successful attempt
    attempts: int


@dataclass(frozen=True)
class HttpSettings:
    timeout: float = 10.0
    validate_certs: bool = True
    ca_path: str | None = None
    proxy: str | None = field(default=None, repr=False)  # may carry a password


class _QueryHidingFilter(logging.Filter):
    """httpx logs every request's URL at INFO, which Ansible's log file (log_path) records; a KuCoin query may
    carry a passphrase (the sub-account key delete call), so the logged URL ends before its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def _without_query(value: object) -> object:
    if httpx is not None and isinstance(value, httpx.URL) and value.query:
        return str(value).split("?", 1)[0] + "?(query not logged)"
    return value


def _hide_queries_from_the_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _QueryHidingFilter) for existing in logger.filters):
        logger.addFilter(_QueryHidingFilter())


def _client_accepts(name: str) -> bool:
    return name in inspect.signature(httpx.Client.__init__).parameters


def make_client(settings: HttpSettings, transport: Any = None) -> httpx.Client:
    """An httpx.Client for these settings, on whichever httpx (0.23 .. 0.28) is installed."""
    if httpx is None:
        raise RuntimeError("httpx is not installed")
    _hide_queries_from_the_log()
    verify: bool | ssl.SSLContext = settings.validate_certs
    if settings.validate_certs and settings.ca_path:
        # An SSLContext works on every httpx version; a CA path string is deprecated from 0.28.
        verify = ssl.create_default_context(cafile=settings.ca_path)
    kwargs: dict[str, Any] = {
        "verify": verify,
        "timeout": httpx.Timeout(settings.timeout),
        "headers": {"User-Agent": USER_AGENT},
        "follow_redirects": False,
    }
    if transport is not None:
        kwargs["transport"] = transport
    if settings.proxy:
        # httpx 0.26 added `proxy`; 0.28 removed `proxies`.
        kwargs["proxy" if _client_accepts("proxy") else "proxies"] = settings.proxy
    return httpx.Client(**kwargs)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


_DNS_HINTS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)
_TLS_HINTS = ("certificate", "ssl", "tls", "handshake")


def classify_transport_error(exc: BaseException) -> str:
    """Sort an httpx exception (and what caused it) into timeout / TLS / DNS / proxy / connection."""
    chain = _exception_chain(exc)
    by_type: list[tuple[tuple[type[BaseException], ...], str]] = []
    if httpx is not None:
        by_type += [
            ((httpx.TimeoutException,), ErrorKind.TIMEOUT),
            ((httpx.ProxyError,), ErrorKind.PROXY),
            ((httpx.UnsupportedProtocol, httpx.InvalidURL), ErrorKind.BAD_URL),
        ]
    by_type += [
        ((socket.timeout, CallTimedOut), ErrorKind.TIMEOUT),
        ((ssl.SSLError,), ErrorKind.TLS),
        ((socket.gaierror,), ErrorKind.DNS),
    ]
    for types, kind in by_type:
        if any(isinstance(e, types) for e in chain):
            return kind
    # Some wrappers keep only the message of the OS error, so read the words too.
    text = " ".join(str(e) for e in chain).lower()
    for hints, kind in ((_DNS_HINTS, ErrorKind.DNS), (_TLS_HINTS, ErrorKind.TLS)):
        if any(hint in text for hint in hints):
            return kind
    transport_types: tuple[type[BaseException], ...] = (OSError,) if httpx is None else (OSError, httpx.TransportError)
    if any(isinstance(e, transport_types) for e in chain):
        return ErrorKind.CONNECTION
    return ErrorKind.UNEXPECTED


def _transport_detail(exc: BaseException) -> str:
    # The innermost cause names the real problem (e.g. "[Errno 111] Connection refused"); requests never
    # carry headers into these messages, and the caller scrubs secrets anyway.
    chain = _exception_chain(exc)
    for candidate in reversed(chain):
        text = str(candidate).strip()
        if text:
            return f"{type(candidate).__name__}: {text}"[:300]
    return type(exc).__name__


class CallTimedOut(Exception):
    """One attempt (connect, TLS, send, receive) took longer than its time."""


def _request_within(client: httpx.Client, seconds: float, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """client.request, bounded as a whole: httpx's timeouts bound each read, so a server trickling bytes
    would otherwise hold the call for ever. The request runs in a daemon thread, left behind if it overruns
    (the module's process ends right after)."""
    answers: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def attempt() -> None:
        try:
            response = client.request(method, url, **kwargs)
            response.read()
            answers.put((True, response))
        except BaseException as exc:  # handed to the caller's thread, which classifies it
            answers.put((False, exc))

    threading.Thread(target=attempt, name="kucoin-call", daemon=True).start()
    try:
        ok, value = answers.get(timeout=max(seconds, 0.0))
    except queue.Empty:
        raise CallTimedOut(f"no complete answer within {seconds:g} s") from None
    if ok:
        return value
    raise value


def _rate_limit_page(status: int, raw: bytes) -> bool:
    lowered = raw[:4096].lower()
    return status == 429 or (b"1015" in lowered and b"rate limit" in lowered)


def _printable_excerpt(raw: bytes, limit: int = 80) -> str:
    text = raw[:limit].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def _retry_wait(response: httpx.Response, attempt: int, max_wait: float) -> float:
    if response.status_code == 429:
        reset = response.headers.get("gw-ratelimit-reset")
        try:
            # KuCoin sends the milliseconds left until the rate-limit window resets.
            wait = float(reset) / 1000.0 if reset is not None else DEFAULT_RATE_LIMIT_WAIT_S
        except ValueError:
            wait = DEFAULT_RATE_LIMIT_WAIT_S
        return min(max(wait, 0.0), max_wait)
    return SERVER_ERROR_BACKOFF_S[min(attempt - 1, len(SERVER_ERROR_BACKOFF_S) - 1)]


def _is_retryable(response: httpx.Response, code: str | None, retry_server_errors: bool) -> bool:
    if response.status_code == 429 or code == RATE_LIMIT_CODE:
        return True  # refused before KuCoin acted on it
    return retry_server_errors and response.status_code >= 500


def _decode_envelope(response: httpx.Response) -> tuple[str | None, Any, str]:
    """(code, data, msg) from KuCoin's {"code": ..., "data": ..., "msg": ...}; code None if it is not that."""
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None, None, ""
    if not isinstance(body, dict) or "code" not in body:
        return None, None, ""
    return str(body["code"]), body.get("data"), str(body.get("msg") or "")


def call(
    client: httpx.Client,
    method: str,
    base_url: str,
    path: str,
    *,
    params: QueryParams = None,
    credentials: Credentials | None = None,
    body: str = "",
    max_wait_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    attempt_timeout: float | None = None,
    deadline: float | None = None,
    retry_server_errors: bool = True,
) -> KucoinReply:
    """One KuCoin REST call; signed when credentials are given. Raises KucoinCallError unless code 200000.

    `retry_server_errors=False` for a call that must not run twice (one that creates something): a 5xx may come
    after KuCoin acted on it, so only rate-limit answers are retried.

    `attempt_timeout` bounds each attempt as a whole; `deadline` (time.monotonic()) ends the call, retries
    included: no attempt runs past it and no retry starts whose wait would pass it.
    """
    url = base_url.rstrip("/") + encoded_endpoint(path, params)
    raw = raw_endpoint(path, params)
    method = method.upper()
    attempt = 0
    while True:
        attempt += 1
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        if credentials is not None:
            # Signed afresh on every attempt: a retry after a wait must carry a current timestamp.
            headers.update(signed_headers(credentials, method, raw, body))
        sent_at = time.time()
        started = time.perf_counter()
        limit = attempt_timeout if attempt_timeout is not None else float("inf")
        if deadline is not None:
            limit = min(limit, deadline - time.monotonic())
        content = body.encode("utf-8") if body else None
        try:
            if limit == float("inf"):
                response = client.request(method, url, headers=headers, content=content)
            elif limit <= 0:
                raise CallTimedOut("the check's time was used up")
            else:
                response = _request_within(client, limit, method, url, headers=headers, content=content)
        except Exception as exc:
            raise KucoinCallError(
                classify_transport_error(exc), url=url, detail=_transport_detail(exc), attempts=attempt
            ) from None  # `from None`: the chain holds httpx's request objects, never needed by the caller
        round_trip = time.perf_counter() - started
        code, data, message = _decode_envelope(response)
        if response.status_code == 200 and code == SUCCESS_CODE:
            return KucoinReply(url, data, sent_at, round_trip, attempt)
        if _is_retryable(response, code, retry_server_errors) and attempt < MAX_ATTEMPTS:
            wait = _retry_wait(response, attempt, max_wait_s)
            if deadline is None or time.monotonic() + wait < deadline:
                sleep(wait)
                continue
        if code is None:
            raise KucoinCallError(
                ErrorKind.MALFORMED,
                url=url,
                http_status=response.status_code,
                detail=_printable_excerpt(response.content),
                attempts=attempt,
                rate_limited=_rate_limit_page(response.status_code, response.content),
            )
        raise KucoinCallError(
            ErrorKind.KUCOIN,
            url=url,
            kucoin_code=code,
            http_status=response.status_code,
            server_message=message[:300],
            attempts=attempt,
        )
