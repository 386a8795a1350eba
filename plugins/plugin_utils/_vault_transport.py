# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP session every Vault call goes through (hvac sends with it): where the token may go, and how long
and how much a request may take.

- TLS: requests' own handling of ca_cert, client certificates and validate_certs, for every call alike.
- Proxies: requests' reading of HTTP(S)_PROXY, ALL_PROXY and NO_PROXY, plus the proxies option.
- Redirects: at most one hop (a standby sending the client to the active node), never from https to anything
  else: the request carries X-Vault-Token, which requests keeps on every redirect.
- A deadline for the whole request: requests' timeout bounds each socket operation, so a server that trickles
  bytes could hold a request for ever. A timer shuts the request's sockets down when the deadline passes; the
  blocked read then returns at once. Name resolution is left to the system resolver and its own timeouts.
- Bounded memory: the standard library's HTTP parser refuses more than 100 header lines of at most 64 KiB
  each; bodies are read here and refused past MAX_BODY_BYTES.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from socket import SHUT_RDWR
from typing import Any
from urllib.parse import urlsplit

try:
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
except ImportError as exc:  # reported by the lookup as a missing hvac (which brings requests and urllib3)
    IMPORT_ERROR: ImportError | None = exc
    HTTPAdapter = object  # type: ignore[assignment,misc]
    _Session: Any = object
    _HTTPConnection: Any = object
    _HTTPSConnection: Any = object
    _HTTPPool: Any = object
    _HTTPSPool: Any = object
    _RequestException: Any = Exception
else:
    IMPORT_ERROR = None
    _Session = requests.Session
    _HTTPConnection = urllib3.connection.HTTPConnection
    _HTTPSConnection = urllib3.connection.HTTPSConnection
    _HTTPPool = urllib3.HTTPConnectionPool
    _HTTPSPool = urllib3.HTTPSConnectionPool
    _RequestException = requests.exceptions.RequestException

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import VaultSettings

MAX_BODY_BYTES = 4 * 1024 * 1024  # Vault's replies are small; a runaway peer must not fill the memory
MAX_REDIRECTS = 1
CHUNK_BYTES = 64 * 1024


class RedirectRefused(_RequestException):
    """A redirect the token must not follow; the message says why."""


class ReplyTooLarge(_RequestException):
    pass


class Deadline:
    """One request's time limit. When it passes, every socket the request uses is shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._handles: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def watch(self, handle: Any) -> None:
        with self._lock:
            if self.expired:
                _shut(handle)
            else:
                self._handles.append(handle)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for handle in self._handles:
                _shut(handle)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shut(handle: Any) -> None:
    # shutdown, not close: it wakes a read blocked in another thread, which close does not.
    with contextlib.suppress(OSError):
        handle.shutdown(SHUT_RDWR)


_CURRENT = threading.local()  # the deadline of the request this thread is sending


def _watch(handle: Any) -> None:
    deadline = getattr(_CURRENT, "deadline", None)
    if deadline is not None and handle is not None:
        deadline.watch(handle)


class _Watched:
    """A urllib3 connection whose socket the current request's deadline can shut down."""

    _handle: Any = None

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        # A second descriptor of the same socket: it stays valid when TLS wraps (and detaches) the first one.
        self._handle = sock.dup()
        _watch(self._handle)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self._handle)  # a kept-alive connection serving a later request
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _WatchedHTTPConnection(_Watched, _HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, _HTTPSConnection):
    pass


class _HTTPConnectionPool(_HTTPPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSConnectionPool(_HTTPSPool):
    ConnectionCls = _WatchedHTTPSConnection


POOL_CLASSES = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class _VaultAdapter(HTTPAdapter):
    """Watched connections, socket timeouts no longer than the deadline left, and bodies read with a cap."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers bring their own connection classes
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    def send(self, request: Any, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
        deadline: Deadline | None = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            left = deadline.remaining()
            if left <= 0:
                raise requests.exceptions.Timeout("the deadline passed before the request was sent")
            timeout = (left, left)
        response = super().send(request, stream=True, timeout=timeout, **kwargs)
        _read_body(response)
        return response


def _read_body(response: Any) -> None:
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            response.close()
            raise ReplyTooLarge(f"the reply is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what requests' Response.content returns from now on


class VaultHTTPSession(_Session):
    """requests.Session with the redirect rules above."""

    last_status: int | None = None  # of the last reply received, redirects included (hvac's errors lack it)

    def __init__(self) -> None:
        super().__init__()
        self.max_redirects = MAX_REDIRECTS
        self.hooks["response"].append(self._note_status)

    def _note_status(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.last_status = response.status_code

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        # Called for every redirect before it is sent: the last moment to keep the token home.
        source, target = urlsplit(response.url), urlsplit(prepared_request.url)
        if source.scheme == "https" and target.scheme != "https":
            raise RedirectRefused(
                f"a redirect from https to {target.scheme}://{target.netloc} was refused: "
                "it would send the Vault token in clear"
            )
        super().rebuild_auth(prepared_request, response)


def build_session(settings: VaultSettings) -> VaultHTTPSession:
    session = VaultHTTPSession()
    adapter = _VaultAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = settings.verify
    session.cert = settings.cert
    return session


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Every request this thread sends inside the block shares one deadline `seconds` from now."""
    with Deadline(seconds) as limit:
        _CURRENT.deadline = limit
        try:
            yield limit
        finally:
            _CURRENT.deadline = None
