"""A local KuCoin REST auth sandbox: two loopback listeners (spot, futures) that verify signed requests.

KuCoin retired its public sandbox. This one checks requests exactly as KuCoin documents its REST auth, with
its own verification code (never the collection's signing code), serves the few endpoints the collection
calls (key information, and the sub-account API-key endpoints a key rotation uses), and injects faults on
demand. docs/kucoin-api.md lists each behaviour with its source.

`python -m harness sandbox --keys keys.json` starts one by hand and prints its URLs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

TIMESTAMP_WINDOW_MS = 5000  # KuCoin rejects a KC-API-TIMESTAMP more than 5 s from its clock
RATE_LIMIT_WINDOW_MS = 30_000  # KuCoin's quota window, from the first request of the window

SPOT = "spot"
FUTURES = "futures"

# KuCoin's rate-limit pools and their VIP0 quotas per 30 s (docs-new "Rate Limit"); sent in gw-ratelimit-limit.
SPOT_POOL = "Spot"
FUTURES_POOL = "Futures"
MANAGEMENT_POOL = "Management"
PUBLIC_POOL = "Public"
POOL_LIMITS = {SPOT_POOL: 4000, FUTURES_POOL: 2000, MANAGEMENT_POOL: 2000, PUBLIC_POOL: 2000}

# (code, HTTP status, message): codes and messages as KuCoin's current error-code page has them.
MISSING_HEADERS = ("400001", 400, "Please check the URL of your request.")
BAD_TIMESTAMP = ("400002", 400, "Invalid KC-API-TIMESTAMP.")
UNKNOWN_KEY = ("400003", 401, "KC-API-KEY does not exist.")
BAD_PASSPHRASE = ("400004", 401, "Invalid KC-API-PASSPHRASE.")
BAD_SIGNATURE = ("400005", 401, "Invalid KC-API-SIGN.")
IP_NOT_ALLOWED = ("400006", 403, "Invalid request IP, the current client IP is: {ip}.")
NO_PERMISSION = ("400007", 403, "Access denied, requires more permission.")
BAD_KEY_VERSION = ("400009", 400, "Invalid KC-API-KEY-VERSION.")
PARAMETER_ERROR = ("400100", 400, "Parameter Error")
# 4003xx: regional and identity-verification (KYC) limits of the account.
RESTRICTIONS = {
    "400301": "Operation restricted due to local laws, regulations, or policies.",
    "400303": (
        "To enjoy the full range of our products and services, we kindly request you complete the identity "
        "verification process."
    ),
}
FROZEN = ("411100", 403, "User is frozen")
TOO_MANY = ("429000", 429, "Too Many Requests")
SERVER_ERROR = ("500000", 500, "Internal Server Error")
NOT_FOUND = ("404000", 404, "Url Not Found")
SERVICE_STATUSES = ("open", "close", "cancelonly")
# What Cloudflare, in front of KuCoin, answers when one IP address sends too much (error 1015), abridged.
CLOUDFLARE_1015 = (
    b"<!DOCTYPE html>\n<html><head><title>Access denied | api.kucoin.com used Cloudflare to restrict access</title>"
    b'</head><body><div id="cf-error-details"><h1>Error 1015</h1><h2>You are being rate limited</h2>'
    b"<p>The owner of this website (api.kucoin.com) has banned you temporarily from accessing this website.</p>"
    b"</div></body></html>\n"
)


@dataclass
class SandboxKey:
    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    key_version: int = 3  # 1, 2 or 3; KuCoin creates version 3 keys
    permissions: tuple[str, ...] = ("General", "Spot")  # KuCoin's names, e.g. General, Spot, Futures, Transfer
    ip_whitelist: tuple[str, ...] = ()  # empty: any IP allowed; addresses in clear (key info shows them masked)
    created_at_ms: int | None = None  # None: now (fixed when the key is added)
    sub_name: str | None = None  # None: master-account key (isMaster true)
    frozen: bool = False
    remark: str = ""
    # The master account: a master key's own, or the one that owns the key's sub-account. Master keys of one
    # account share its UID (and quota); set it to tell two masters apart.
    master_account: str = "master"
    expire_days: int | None = None  # as a sub-account key was created or modified; None: never (recorded only)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SandboxKey:
        """A key from JSON-ish data (lists become tuples), as read by the CLI."""
        values = dict(data)
        for name in ("permissions", "ip_whitelist"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def make_key(**overrides: Any) -> SandboxKey:
    """A key with random, distinctive credentials (so a leak is easy to grep for); fields can be overridden."""
    values: dict[str, Any] = {
        "api_key": "sbx" + secrets.token_hex(12),
        "secret": "sbx-secret-" + secrets.token_hex(16),
        "passphrase": "sbx-pass-" + secrets.token_hex(8),
    }
    values.update(overrides)
    return SandboxKey(**values)


@dataclass
class Faults:
    """Per-key faults apply to requests whose KC-API-KEY header names the key (public calls carry none, unless
    a client sends auth headers there too); they add to the server-wide ones, and their counters go first."""

    clock_offset_ms: int = 0  # server clock = real clock + offset (also moves /api/v1/timestamp)
    latency_ms: int = 0  # delay before answering (half before handling the request, half after)
    rate_limit_count: int = 0  # the next N requests get 429000 / HTTP 429 with gw-ratelimit-* headers
    server_error_count: int = 0  # the next N requests get HTTP 500
    malformed_count: int = 0  # the next N requests get a body that is not JSON
    drop_count: int = 0  # the next N requests: connection closed without a response
    rate_limit_reset_ms: int = 500  # gw-ratelimit-reset sent with an injected 429 (addition to the contract)
    param_error_count: int = 0  # the next N requests get 400100
    restricted_count: int = 0  # the next N requests get the 4003xx code in restricted_code
    restricted_code: int = 400301
    cloudflare_count: int = 0  # the next N requests get Cloudflare's HTML 1015 page with HTTP 429
    trickle_ms: int = 0  # the answer goes out one byte every this many milliseconds
    # The next N calls of one sub-account API-key endpoint that pass authentication get 500000 / HTTP 500 and
    # change nothing (set them on the master key, or server-wide).
    sub_key_add_error_count: int = 0  # POST /api/v1/sub/api-key
    sub_key_update_error_count: int = 0  # POST /api/v1/sub/api-key/update
    sub_key_list_error_count: int = 0  # GET /api/v1/sub/api-key
    sub_key_delete_error_count: int = 0  # DELETE /api/v1/sub/api-key


FAULT_FIELDS = frozenset(f.name for f in dataclasses.fields(Faults))
# Counted faults, most drastic first; one request consumes at most one of them.
COUNTED_FAULTS = (
    ("drop_count", "drop"),
    ("server_error_count", "server_error"),
    ("cloudflare_count", "cloudflare_1015"),
    ("rate_limit_count", "rate_limit"),
    ("restricted_count", "restricted"),
    ("param_error_count", "param_error"),
    ("malformed_count", "malformed"),
)


@dataclass(frozen=True)
class RequestRecord:
    listener: str  # "spot" or "futures"
    method: str
    path: str  # without the query
    api_key: str | None  # the KC-API-KEY header as sent (never the secret or passphrase)
    http_status: int | None  # None: connection dropped
    code: str | None  # KuCoin code in the body; None for a dropped connection or a malformed body
    query: str = ""  # raw query string, a passphrase's value replaced by *** (addition)
    client_ip: str = ""  # TCP peer address (addition)
    fault: str | None = None  # injected fault: one of COUNTED_FAULTS' names, or "quota" (addition)


# --- pure verification helpers (KuCoin's documented algorithm, written here) ---------------------------


def prehash(timestamp: str, method: str, path: str, raw_query: str, body: bytes) -> bytes:
    """timestamp + METHOD + path (+ '?' + percent-decoded query) + body, as KuCoin signs it.

    kucoin-universal-sdk signs the unencoded `k=v&...` string while sending it url-encoded; ccxt signs and
    sends `unquote(urlencode(params))`. Decoding the query as received accepts both.
    """
    target = path.encode()
    if raw_query:
        target += b"?" + unquote_to_bytes(raw_query)
    return f"{timestamp}{method.upper()}".encode() + target + body


def hmac_b64(secret: str, data: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def expected_passphrase(key: SandboxKey) -> str:
    """Version 1 keys send the passphrase as is; versions 2 and 3 send base64(HMAC-SHA256(secret, passphrase))."""
    return key.passphrase if key.key_version == 1 else hmac_b64(key.secret, key.passphrase.encode())


def mask_ip(entry: str) -> str:
    """A whitelist entry as KuCoin's key information shows it: an IPv4 address's middle octets masked."""
    parts = entry.strip().split(".")
    return f"{parts[0]}.**.{parts[-1]}" if len(parts) == 4 and "/" not in entry else entry.strip()


def ip_allowed(client_ip: str, whitelist: Iterable[str]) -> bool:
    entries = tuple(whitelist)
    if not entries:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in entries:
        with contextlib.suppress(ValueError):
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
    return False


@dataclass(frozen=True)
class AuthError:
    code: str
    http_status: int
    msg: str


def _error(spec: tuple[str, int, str], **fmt: str) -> AuthError:
    code, status, msg = spec
    return AuthError(code, status, msg.format(**fmt) if fmt else msg)


def check_auth(  # noqa: PLR0911 (one return per documented check reads best)
    *,
    keys: Mapping[str, SandboxKey],
    method: str,
    path: str,
    raw_query: str,
    body: bytes,
    headers: Mapping[str, str],
    client_ip: str,
    server_now_ms: int,
    required_permission: str,
) -> tuple[SandboxKey | None, AuthError | None]:
    """Verify one signed request. `headers` has lower-case names. Checks run in the exchange's order:
    headers, timestamp, key, passphrase, signature, frozen, IP whitelist, permission."""
    api_key = headers.get("kc-api-key", "")
    sign = headers.get("kc-api-sign", "")
    timestamp = headers.get("kc-api-timestamp", "")
    passphrase = headers.get("kc-api-passphrase", "")
    # A missing version header means a version 1 key: those predate the header.
    version_header = headers.get("kc-api-key-version", "1").strip()
    present = all((api_key, sign, timestamp, passphrase))
    if not present or not timestamp.isdigit():
        return None, _error(MISSING_HEADERS)
    if version_header not in {"1", "2", "3"}:
        return None, _error(BAD_KEY_VERSION)
    if abs(int(timestamp) - server_now_ms) > TIMESTAMP_WINDOW_MS:
        return None, _error(BAD_TIMESTAMP)
    key = keys.get(api_key)
    if key is None:
        return None, _error(UNKNOWN_KEY)
    # Versions 2 and 3 share the HMAC passphrase and KuCoin takes either header for either (ccxt sends 2 for
    # every key, the official SDK 3). Version 1 against 2/3 means the passphrase was encoded for the other
    # scheme (plain vs HMAC); KuCoin reports the passphrase, not the version, as wrong.
    if (int(version_header) == 1) != (key.key_version == 1) or not hmac.compare_digest(
        passphrase.encode(), expected_passphrase(key).encode()
    ):
        return key, _error(BAD_PASSPHRASE)
    expected_sign = hmac_b64(key.secret, prehash(timestamp, method, path, raw_query, body))
    if not hmac.compare_digest(sign.encode(), expected_sign.encode()):
        return key, _error(BAD_SIGNATURE)
    if key.frozen:
        return key, _error(FROZEN)
    if not ip_allowed(client_ip, key.ip_whitelist):
        return key, _error(IP_NOT_ALLOWED, ip=client_ip)
    if required_permission not in key.permissions:
        return key, _error(NO_PERMISSION)
    return key, None


def stable_uid(name: str) -> int:
    """A fixed-looking 9-digit UID per account name."""
    return 100_000_000 + int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 900_000_000


def account_uid(key: SandboxKey) -> int:
    """The UID of the account a key belongs to: its sub-account's, or its master account's."""
    return stable_uid(key.sub_name or key.master_account)


# --- endpoint data ------------------------------------------------------------------------------------


def key_info(key: SandboxKey) -> dict[str, Any]:
    data: dict[str, Any] = {
        "remark": key.remark,
        "apiKey": key.api_key,
        "apiVersion": key.key_version,
        "permission": ",".join(key.permissions),
        "ipWhitelist": ",".join(mask_ip(entry) for entry in key.ip_whitelist),
        "createdAt": key.created_at_ms,
        "uid": account_uid(key),
        "isMaster": key.sub_name is None,
    }
    if key.sub_name is not None:
        data["subName"] = key.sub_name
    return data


SPOT_ACCOUNTS = (
    {"id": "5bd6e9286d99522a52e458de", "currency": "USDT", "type": "trade", "balance": "1000", "available": "1000"},
    {"id": "5bd6e9216d99522a52e458d6", "currency": "BTC", "type": "main", "balance": "0.5", "available": "0.5"},
)


def spot_accounts(query: Mapping[str, list[str]]) -> list[dict[str, str]]:
    currency = query.get("currency", [""])[0]
    account_type = query.get("type", [""])[0]
    return [
        {**account, "holds": "0"}
        for account in SPOT_ACCOUNTS
        if (not currency or account["currency"] == currency) and (not account_type or account["type"] == account_type)
    ]


def futures_overview(query: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        "accountEquity": 1000.0,
        "unrealisedPNL": 0.0,
        "marginBalance": 1000.0,
        "positionMargin": 0.0,
        "orderMargin": 0.0,
        "frozenFunds": 0.0,
        "availableBalance": 1000.0,
        "currency": query.get("currency", ["XBT"])[0],  # KuCoin's default currency is XBT
        "riskRatio": 0.0,
        "maxWithdrawAmount": 1000.0,
    }


# --- sub-account API keys (POST/GET/DELETE /api/v1/sub/api-key, POST /api/v1/sub/api-key/update) ----------

# What the add and modify endpoints may set (the spec's request fields; Transfer is not among them).
SUB_KEY_PERMISSIONS = ("General", "Spot", "Futures", "Margin", "InnerTransfer")
SUB_KEY_EXPIRE_DAYS: dict[str, int | None] = {"-1": None, "30": 30, "90": 90, "180": 180, "360": 360}
SUB_KEY_MAX_IPS = 20
PASSPHRASE_LENGTHS = (7, 32)
REMARK_LENGTHS = (1, 24)


class KucoinError(Exception):
    """An error reply an endpoint answers with: a KuCoin code and HTTP status, and a message."""

    def __init__(self, spec: tuple[str, int, str], msg: str | None = None, *, fault: str | None = None) -> None:
        self.code, self.http_status = spec[0], spec[1]
        self.msg = spec[2] if msg is None else msg
        self.fault = fault  # an injected fault's name (recorded; its reply carries no quota headers)
        super().__init__(f"{self.code} {self.msg}")


def parameter_error(msg: str) -> KucoinError:
    """400100 with a message naming the parameter, as KuCoin's 400100 replies do."""
    return KucoinError(PARAMETER_ERROR, msg)


def required_text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise parameter_error(f"{name} is required")
    return value


def parse_passphrase(value: Any) -> str:
    """A new key's passphrase: 7 to 32 characters, no spaces."""
    low, high = PASSPHRASE_LENGTHS
    if not isinstance(value, str) or not low <= len(value) <= high or any(ch.isspace() for ch in value):
        raise parameter_error(f"passphrase must be {low}-{high} characters and cannot contain spaces")
    return value


def parse_remark(value: Any) -> str:
    low, high = REMARK_LENGTHS
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise parameter_error(f"remark must be {low}-{high} characters")
    return value


def parse_permissions(value: Any) -> tuple[str, ...]:
    """A comma list of the settable permissions (spaces around names allowed); absent means General."""
    if value is None:
        return ("General",)
    names = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else []
    refused = [name for name in names if name not in SUB_KEY_PERMISSIONS]
    if not names or refused:
        shown = ", ".join(refused) or repr(value)
        raise parameter_error(f"permission {shown} cannot be set; allowed: {', '.join(SUB_KEY_PERMISSIONS)}")
    return tuple(dict.fromkeys(names))


def parse_ip_whitelist(value: Any) -> tuple[str, ...]:
    """A comma list of up to 20 IP addresses; absent or empty means no whitelist."""
    if value is None:
        return ()
    if not isinstance(value, str):
        raise parameter_error("ipWhitelist must be a comma-separated list of IP addresses")
    entries = tuple(part.strip() for part in value.split(",") if part.strip())
    if len(entries) > SUB_KEY_MAX_IPS:
        raise parameter_error(f"ipWhitelist takes up to {SUB_KEY_MAX_IPS} IPs, not {len(entries)}")
    for entry in entries:
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            raise parameter_error(f"ipWhitelist entry {entry!r} is not an IP address") from None
    return tuple(dict.fromkeys(entries))


def parse_expire(value: Any) -> int | None:
    """`expire` in days: -1 (never, the default), 30, 90, 180 or 360."""
    text = "-1" if value is None else str(value).strip()
    if isinstance(value, bool) or text not in SUB_KEY_EXPIRE_DAYS:
        raise parameter_error(f"expire must be one of {', '.join(SUB_KEY_EXPIRE_DAYS)}")
    return SUB_KEY_EXPIRE_DAYS[text]


def new_sub_key(
    *,
    sub_name: str,
    master_account: str,
    passphrase: str,
    remark: str,
    permissions: tuple[str, ...],
    ip_whitelist: tuple[str, ...],
    expire_days: int | None,
    now_ms: int,
) -> SandboxKey:
    """A key as KuCoin's add endpoint makes one: a 24-hex-digit key, a UUID secret, version 3."""
    return SandboxKey(
        api_key=secrets.token_hex(12),
        secret=str(uuid.uuid4()),
        passphrase=passphrase,
        key_version=3,
        permissions=permissions,
        ip_whitelist=ip_whitelist,
        created_at_ms=now_ms,
        sub_name=sub_name,
        remark=remark,
        master_account=master_account,
        expire_days=expire_days,
    )


def _with_whitelist(data: dict[str, Any], key: SandboxKey) -> dict[str, Any]:
    """ipWhitelist in clear, only when the key has one (the spec's examples leave it out for a key without)."""
    return {**data, "ipWhitelist": ",".join(key.ip_whitelist)} if key.ip_whitelist else data


def created_sub_key(key: SandboxKey) -> dict[str, Any]:
    """The add endpoint's data: the new key's secret and passphrase, and its whitelist in clear."""
    data = {
        "subName": key.sub_name,
        "remark": key.remark,
        "apiKey": key.api_key,
        "apiSecret": key.secret,
        "apiVersion": key.key_version,
        "passphrase": key.passphrase,
        "permission": ",".join(key.permissions),
        "createdAt": key.created_at_ms,
    }
    return _with_whitelist(data, key)


def modified_sub_key(key: SandboxKey) -> dict[str, Any]:
    data = {"subName": key.sub_name, "apiKey": key.api_key, "permission": ",".join(key.permissions)}
    return _with_whitelist(data, key)


def redact_query(raw_query: str) -> str:
    """The raw query with a `passphrase` parameter's value replaced (the delete endpoint sends one in clear)."""
    return "&".join(
        "passphrase=***" if part.split("=", 1)[0] == "passphrase" else part for part in raw_query.split("&")
    )


# --- routes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One authenticated (or public) request as an endpoint's handler sees it."""

    method: str
    key: SandboxKey | None  # None for public endpoints
    query: Mapping[str, list[str]]
    body: bytes
    now_ms: int
    listener: str

    def params(self) -> Mapping[str, Any]:
        """POST: the JSON body's object; GET and DELETE: the query (first value of each name)."""
        if self.method != "POST":
            return {name: values[0] for name, values in self.query.items()}
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise parameter_error("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise parameter_error("the request body must be a JSON object")
        return data


@dataclass(frozen=True)
class Route:
    """One endpoint as KuCoin's OpenAPI spec describes it: permission (None: public), rate-limit pool, weight;
    master_only: a sub-account key is refused; fault: the Faults counter that makes only this endpoint fail."""

    permission: str | None
    pool: str
    weight: int
    build: Callable[[KucoinSandbox, Call], Any]
    master_only: bool = False
    fault: str | None = None


ROUTES: dict[tuple[str, str, str], Route] = {
    (SPOT, "GET", "/api/v1/timestamp"): Route(None, PUBLIC_POOL, 3, lambda _sb, call: call.now_ms),
    (SPOT, "GET", "/api/v1/status"): Route(None, PUBLIC_POOL, 3, lambda sb, call: sb.service(call.listener)),
    (SPOT, "GET", "/api/v1/user/api-key"): Route(
        "General", MANAGEMENT_POOL, 20, lambda _sb, call: key_info(call.key) if call.key else None
    ),
    (SPOT, "GET", "/api/v1/accounts"): Route(
        "General", MANAGEMENT_POOL, 5, lambda _sb, call: spot_accounts(call.query)
    ),
    (SPOT, "POST", "/api/v1/sub/api-key"): Route(
        "General", MANAGEMENT_POOL, 20, lambda sb, call: sb.sub_key_add(call), True, "sub_key_add_error_count"
    ),
    (SPOT, "POST", "/api/v1/sub/api-key/update"): Route(
        "General", MANAGEMENT_POOL, 30, lambda sb, call: sb.sub_key_update(call), True, "sub_key_update_error_count"
    ),
    (SPOT, "GET", "/api/v1/sub/api-key"): Route(
        "General", MANAGEMENT_POOL, 20, lambda sb, call: sb.sub_key_list(call), True, "sub_key_list_error_count"
    ),
    (SPOT, "DELETE", "/api/v1/sub/api-key"): Route(
        "General", MANAGEMENT_POOL, 30, lambda sb, call: sb.sub_key_delete(call), True, "sub_key_delete_error_count"
    ),
    (FUTURES, "GET", "/api/v1/timestamp"): Route(None, PUBLIC_POOL, 2, lambda _sb, call: call.now_ms),
    (FUTURES, "GET", "/api/v1/status"): Route(None, PUBLIC_POOL, 4, lambda sb, call: sb.service(call.listener)),
    (FUTURES, "GET", "/api/v1/account-overview"): Route(
        "Futures", FUTURES_POOL, 5, lambda _sb, call: futures_overview(call.query)
    ),
}


# --- the server ---------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int | None  # None: drop the connection
    code: str | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


def _json_reply(status: int, payload: Mapping[str, Any], headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, str(payload["code"]), json.dumps(payload).encode(), headers or {})


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: KucoinSandbox, name: str) -> None:
        self.sandbox = sandbox
        self.name = name
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) resets the socket mid-answer; that is expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Keep-alive connections would otherwise keep handler threads waiting after stop()."""
        with self.connections_lock:
            open_now = list(self.connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDK sessions expect
    server: _Listener

    def version_string(self) -> str:
        return "kucoin-sandbox"

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # records go to sandbox.requests; the default would print request lines to stderr

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        sandbox._count_in_flight(+1)
        try:
            self._answer(sandbox)
        finally:
            sandbox._count_in_flight(-1)

    def _answer(self, sandbox: KucoinSandbox) -> None:
        target = urlsplit(self.path)
        length_header = self.headers.get("Content-Length") or "0"
        length = int(length_header) if length_header.isdigit() else 0
        body = self.rfile.read(length) if length else b""
        auth_headers = {
            name: value
            for name in ("kc-api-key", "kc-api-sign", "kc-api-timestamp", "kc-api-passphrase", "kc-api-key-version")
            if (value := self.headers.get(name)) is not None
        }
        client_ip = self.client_address[0]
        api_key = auth_headers.get("kc-api-key")
        generation = sandbox._generation
        latency = sandbox._delay_ms("latency_ms", api_key) / 1000
        # Half the delay on the way in and half on the way out, like a network: a client that estimates skew
        # from the round-trip midpoint then measures the configured clock offset, not the latency.
        if latency:
            time.sleep(latency / 2)
        reply = sandbox._respond(
            self.server.name, self.command, target.path, target.query, body, auth_headers, client_ip, generation
        )
        sandbox._record(
            generation,
            RequestRecord(
                self.server.name,
                self.command,
                target.path,
                api_key,
                reply.status,
                reply.code,
                redact_query(target.query),
                client_ip,
                reply.fault,
            ),
        )
        if latency:
            time.sleep(latency / 2)
        if reply.status is None:
            self.close_connection = True  # no status line at all: the client sees the connection drop
            return
        content_type = "text/html; charset=UTF-8" if reply.body.startswith(b"<") else "application/json"
        headers = {"Content-Type": content_type, "Content-Length": str(len(reply.body)), **reply.headers}
        trickle = sandbox._delay_ms("trickle_ms", api_key) / 1000
        if trickle:
            self._trickle(reply.status, headers, reply.body, trickle)
            return
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _trickle(self, status: int, headers: Mapping[str, str], body: bytes, pause_s: float) -> None:
        """The whole answer, status line included, one byte at a time: every read is quick, the whole is not."""
        head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        self.close_connection = True
        for byte in head.encode("latin-1") + body:
            time.sleep(pause_s)
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up, as it should
                return


class KucoinSandbox:
    """Spot and futures listeners on free loopback ports, ready when start() returns."""

    def __init__(
        self, keys: Iterable[SandboxKey] = (), host: str = "127.0.0.1", *, spot_port: int = 0, futures_port: int = 0
    ) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._keys: dict[str, SandboxKey] = {}
        self._sub_accounts: dict[str, str] = {}  # sub-account name -> the master account that owns it
        self._server_faults = Faults()
        self._key_faults: dict[str, Faults] = {}
        self._quota: dict[tuple[str, str], tuple[int, int]] = {}  # (pool, caller) -> (window start, used)
        self.pool_limits = dict(POOL_LIMITS)  # settable, to reach a quota in a few requests
        self._service = {name: {"status": "open", "msg": ""} for name in (SPOT, FUTURES)}
        self.requests: list[RequestRecord] = []
        self._generation = 0  # bumped by clear_requests()
        self._in_flight = 0
        self._ports = {SPOT: spot_port, FUTURES: futures_port}
        self._listeners: dict[str, _Listener] = {}
        self._threads: list[threading.Thread] = []
        self.spot_url = ""
        self.futures_url = ""
        for key in keys:
            self.add_key(key)

    # lifecycle
    def start(self) -> KucoinSandbox:
        if self._listeners:
            return self
        for name, port in self._ports.items():
            # The socket listens once constructed, so clients can connect as soon as start() returns.
            listener = _Listener((self.host, port), self, name)
            self._listeners[name] = listener
            # A short poll interval keeps stop() quick; serve_forever checks for shutdown once per interval.
            thread = threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"kucoin-sandbox-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        self.spot_url = self._url(SPOT)
        self.futures_url = self._url(FUTURES)
        return self

    def _url(self, name: str) -> str:
        host, port = self._listeners[name].server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def stop(self) -> None:
        for listener in self._listeners.values():
            listener.shutdown()
            listener.close_connections()
            listener.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._listeners.clear()
        self._threads.clear()

    def __enter__(self) -> KucoinSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # keys
    def add_key(self, key: SandboxKey) -> SandboxKey:
        """Register (or replace) a key. The object is kept, so later changes to it take effect at once."""
        if key.key_version not in {1, 2, 3}:
            raise ValueError(f"key_version must be 1, 2 or 3, not {key.key_version!r}")
        if key.created_at_ms is None:
            key.created_at_ms = int(time.time() * 1000)
        with self._lock:
            self._keys[key.api_key] = key
        return key

    def remove_key(self, api_key: str) -> None:
        with self._lock:
            self._keys.pop(api_key, None)

    @property
    def keys(self) -> dict[str, SandboxKey]:
        """A snapshot of the registered keys by api_key (addition)."""
        with self._lock:
            return dict(self._keys)

    # sub-accounts
    def add_sub_account(self, sub_name: str, master: SandboxKey) -> None:
        """Make `sub_name` a sub-account of the master key's account: that account's master keys may manage
        its API keys; other accounts' calls about it fail."""
        if master.sub_name is not None:
            raise ValueError(f"{master.api_key} is a key of sub-account {master.sub_name}, not a master-account key")
        with self._lock:
            owner = self._sub_accounts.setdefault(sub_name, master.master_account)
        if owner != master.master_account:
            raise ValueError(f"sub-account {sub_name!r} already belongs to master account {owner!r}")

    @property
    def sub_accounts(self) -> dict[str, str]:
        """A snapshot: sub-account name -> the master account that owns it (addition)."""
        with self._lock:
            return dict(self._sub_accounts)

    # faults
    def set_faults(self, api_key: str | None = None, **fault_fields: int) -> None:
        """Set the named fault fields (others unchanged) for one key, or server-wide when api_key is None."""
        unknown = set(fault_fields) - FAULT_FIELDS
        if unknown:
            raise TypeError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        with self._lock:
            target = self._server_faults if api_key is None else self._key_faults.setdefault(api_key, Faults())
            for name, value in fault_fields.items():
                setattr(target, name, int(value))

    def clear_faults(self) -> None:
        with self._lock:
            self._server_faults = Faults()
            self._key_faults.clear()
            self._quota.clear()
            self.pool_limits = dict(POOL_LIMITS)
            self._service = {name: {"status": "open", "msg": ""} for name in (SPOT, FUTURES)}

    def faults(self, api_key: str | None = None) -> Faults:
        """A copy of the faults in force for one key or server-wide (addition)."""
        with self._lock:
            source = self._server_faults if api_key is None else self._key_faults.get(api_key, Faults())
            return dataclasses.replace(source)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self._generation += 1

    def reset(
        self, keys: Mapping[str, SandboxKey] | None = None, sub_accounts: Mapping[str, str] | None = None
    ) -> None:
        """Clear faults and request records; with `keys` (e.g. an earlier `.keys`) and `sub_accounts`, register
        exactly those key objects and sub-accounts again (addition: what the per-test fixture does)."""
        self.clear_faults()
        self.clear_requests()
        with self._lock:
            if keys is not None:
                self._keys = dict(keys)
            if sub_accounts is not None:
                self._sub_accounts = dict(sub_accounts)

    def server_time_ms(self, api_key: str | None = None) -> int:
        """The sandbox clock, as seen by requests signed with `api_key` (addition)."""
        with self._lock:
            offset = self._server_faults.clock_offset_ms
            if api_key is not None and api_key in self._key_faults:
                offset += self._key_faults[api_key].clock_offset_ms
        return int(time.time() * 1000) + offset

    @property
    def in_flight(self) -> int:
        """Requests being handled right now, e.g. ones held by a latency fault (addition)."""
        with self._lock:
            return self._in_flight

    # request handling (called from handler threads)
    def _count_in_flight(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta

    def _record(self, generation: int, record: RequestRecord) -> None:
        with self._lock:
            # A slow request that arrived before clear_requests() (a previous test's timeout) stays out.
            if generation == self._generation:
                self.requests.append(record)

    def _delay_ms(self, field_name: str, api_key: str | None) -> int:
        """A delay fault (latency_ms, trickle_ms): the server-wide one plus the key's own."""
        with self._lock:
            delay = getattr(self._server_faults, field_name)
            if api_key is not None and api_key in self._key_faults:
                delay += getattr(self._key_faults[api_key], field_name)
        return max(delay, 0)

    def _take_fault(self, api_key: str | None, generation: int) -> tuple[str | None, Faults]:
        """Consume one counted fault, the key's own before server-wide ones; also return the faults it came from."""
        with self._lock:
            # A request held by a latency fault past clear_requests() belongs to a test that is over (its
            # client gave up long ago): it must not use up faults that the next test has set.
            if generation != self._generation:
                return None, self._server_faults
            scopes = [self._key_faults[api_key]] if api_key is not None and api_key in self._key_faults else []
            scopes.append(self._server_faults)
            for faults in scopes:
                for counter, name in COUNTED_FAULTS:
                    if getattr(faults, counter) > 0:
                        setattr(faults, counter, getattr(faults, counter) - 1)
                        return name, dataclasses.replace(faults)
        return None, self._server_faults

    def _take_endpoint_fault(self, api_key: str | None, counter: str, generation: int) -> bool:
        """Consume one of an endpoint's own fault counters, the key's before the server-wide one."""
        with self._lock:
            if generation != self._generation:
                return False
            scopes = [self._key_faults[api_key]] if api_key is not None and api_key in self._key_faults else []
            for faults in [*scopes, self._server_faults]:
                if getattr(faults, counter) > 0:
                    setattr(faults, counter, getattr(faults, counter) - 1)
                    return True
        return False

    def _caller(self, route: Route | None, api_key: str | None, client_ip: str) -> str:
        """Whose quota a request draws on: private pools count per account (UID), the public pool per IP."""
        key = self.keys.get(api_key or "")
        if route is not None and route.pool != PUBLIC_POOL and key is not None:
            return f"uid:{account_uid(key)}"
        return f"ip:{client_ip}"

    def _draw_quota(self, pool: str, caller: str, weight: int) -> tuple[bool, dict[str, str]]:
        """Deduct `weight` from the caller's quota in `pool`; (within quota, gw-ratelimit-* headers).

        The window starts with the caller's first request and lasts 30 s, as KuCoin counts it."""
        now = int(time.time() * 1000)
        with self._lock:
            limit = self.pool_limits[pool]
            start, used = self._quota.get((pool, caller), (now, 0))
            if now - start >= RATE_LIMIT_WINDOW_MS:
                start, used = now, 0
            allowed = used + weight <= limit
            if allowed:
                used += weight
            self._quota[(pool, caller)] = (start, used)
        return allowed, {
            "gw-ratelimit-limit": str(limit),
            "gw-ratelimit-remaining": str(max(limit - used, 0)),
            "gw-ratelimit-reset": str(max(RATE_LIMIT_WINDOW_MS - (now - start), 0)),
        }

    def quota_used(self, pool: str, *, api_key: str | None = None, client_ip: str = "127.0.0.1") -> int:
        """Weight used in the current window of a pool, by a key's account or an IP address (addition)."""
        key = self.keys.get(api_key or "")
        caller = f"uid:{account_uid(key)}" if key is not None else f"ip:{client_ip}"
        with self._lock:
            start, used = self._quota.get((pool, caller), (0, 0))
        return used if int(time.time() * 1000) - start < RATE_LIMIT_WINDOW_MS else 0

    def _fault_reply(self, api_key: str | None, quota: dict[str, str], generation: int) -> _Reply | None:
        fault, faults = self._take_fault(api_key, generation)
        if fault is None:
            return None
        if fault == "drop":
            return _Reply(None, None, fault=fault)
        if fault == "malformed":
            # What a proxy's error page looks like to a JSON client.
            return _Reply(200, None, b"<html><body><h1>502 Bad Gateway</h1></body></html>", quota, fault)
        if fault == "cloudflare_1015":
            return _Reply(429, None, CLOUDFLARE_1015, {}, fault)
        headers: dict[str, str] = quota
        if fault == "rate_limit":
            spec = TOO_MANY
            headers = {**quota, "gw-ratelimit-remaining": "0", "gw-ratelimit-reset": str(faults.rate_limit_reset_ms)}
        elif fault == "restricted":
            code = str(faults.restricted_code)
            spec = (code, 400, RESTRICTIONS.get(code, "Operation restricted for this account."))
        elif fault == "param_error":
            spec = PARAMETER_ERROR
        else:
            spec, headers = SERVER_ERROR, {}
        reply = _json_reply(spec[1], {"code": spec[0], "msg": spec[2]}, headers)
        reply.fault = fault
        return reply

    # service status
    def set_service_status(self, status: str, msg: str = "", listener: str | None = None) -> None:
        """What GET /api/v1/status answers, on one listener or both: open, close or cancelonly."""
        if status not in SERVICE_STATUSES:
            raise ValueError(f"status must be one of {SERVICE_STATUSES}, not {status!r}")
        with self._lock:
            for name in (listener,) if listener else (SPOT, FUTURES):
                self._service[name] = {"status": status, "msg": msg}

    def service(self, listener: str) -> dict[str, str]:
        with self._lock:
            return dict(self._service[listener])

    def _respond(
        self,
        listener: str,
        method: str,
        path: str,
        raw_query: str,
        body: bytes,
        headers: Mapping[str, str],
        client_ip: str,
        generation: int,
    ) -> _Reply:
        api_key = headers.get("kc-api-key")
        route = ROUTES.get((listener, method, path))
        pool = route.pool if route is not None else PUBLIC_POOL
        within, quota = self._draw_quota(pool, self._caller(route, api_key, client_ip), route.weight if route else 1)
        fault_reply = self._fault_reply(api_key, quota, generation)
        if fault_reply is not None:
            return fault_reply
        if not within:
            reply = _json_reply(TOO_MANY[1], {"code": TOO_MANY[0], "msg": TOO_MANY[2]}, quota)
            reply.fault = "quota"
            return reply
        if route is None:
            return _json_reply(NOT_FOUND[1], {"code": NOT_FOUND[0], "msg": NOT_FOUND[2]}, quota)
        call = Call(
            method, None, parse_qs(raw_query, keep_blank_values=True), body, self.server_time_ms(api_key), listener
        )
        try:
            data = self._call_route(route, call, path, raw_query, headers, client_ip, generation)
        except KucoinError as error:
            reply = _json_reply(error.http_status, {"code": error.code, "msg": error.msg}, {} if error.fault else quota)
            reply.fault = error.fault
            return reply
        return _json_reply(200, {"code": "200000", "data": data}, quota)

    def _call_route(
        self,
        route: Route,
        call: Call,
        path: str,
        raw_query: str,
        headers: Mapping[str, str],
        client_ip: str,
        generation: int,
    ) -> Any:
        """Authenticate (private endpoints), then run the endpoint; a KucoinError is the error reply."""
        if route.permission is not None:
            key, error = check_auth(
                keys=self.keys,
                method=call.method,
                path=path,
                raw_query=raw_query,
                body=call.body,
                headers=headers,
                client_ip=client_ip,
                server_now_ms=call.now_ms,
                required_permission=route.permission,
            )
            if error is not None:
                raise KucoinError((error.code, error.http_status, error.msg))
            call = dataclasses.replace(call, key=key)
        if route.master_only and call.key is not None and call.key.sub_name is not None:
            raise KucoinError(NO_PERMISSION)
        if route.fault is not None and self._take_endpoint_fault(headers.get("kc-api-key"), route.fault, generation):
            raise KucoinError(SERVER_ERROR, fault=route.fault.removesuffix("_count"))
        return route.build(self, call)

    # sub-account API-key endpoints (called from handler threads, after authentication as a master key)
    def _owned_sub_account(self, call: Call, params: Mapping[str, Any]) -> str:
        sub_name = required_text(params, "subName")
        master = call.key.master_account if call.key is not None else None
        with self._lock:
            owner = self._sub_accounts.get(sub_name)
        if owner is None or owner != master:
            raise parameter_error(f"sub-account {sub_name} does not exist")
        return sub_name

    def _sub_key(self, call: Call, params: Mapping[str, Any]) -> SandboxKey:
        """The sub-account key a modify or delete names, once its passphrase is proven."""
        sub_name = self._owned_sub_account(call, params)
        api_key = required_text(params, "apiKey")
        passphrase = required_text(params, "passphrase")
        key = self.keys.get(api_key)
        if key is None or key.sub_name != sub_name:
            raise parameter_error(f"apiKey {api_key} does not exist for sub-account {sub_name}")
        if not hmac.compare_digest(passphrase.encode(), key.passphrase.encode()):
            raise parameter_error("passphrase is incorrect")
        return key

    def sub_key_add(self, call: Call) -> dict[str, Any]:
        params = call.params()
        sub_name = self._owned_sub_account(call, params)
        key = new_sub_key(
            sub_name=sub_name,
            master_account=call.key.master_account if call.key is not None else "master",
            passphrase=parse_passphrase(params.get("passphrase")),
            remark=parse_remark(params.get("remark")),
            permissions=parse_permissions(params.get("permission")),
            ip_whitelist=parse_ip_whitelist(params.get("ipWhitelist")),
            expire_days=parse_expire(params.get("expire")),
            now_ms=call.now_ms,
        )
        self.add_key(key)
        return created_sub_key(key)

    def sub_key_update(self, call: Call) -> dict[str, Any]:
        """Fields sent replace the key's; fields left out stay as they are."""
        params = call.params()
        key = self._sub_key(call, params)
        permissions = parse_permissions(params["permission"]) if "permission" in params else key.permissions
        whitelist = parse_ip_whitelist(params["ipWhitelist"]) if "ipWhitelist" in params else key.ip_whitelist
        expire_days = parse_expire(params["expire"]) if "expire" in params else key.expire_days
        with self._lock:
            key.permissions, key.ip_whitelist, key.expire_days = permissions, whitelist, expire_days
        return modified_sub_key(key)

    def sub_key_list(self, call: Call) -> list[dict[str, Any]]:
        params = call.params()
        sub_name = self._owned_sub_account(call, params)
        wanted = params.get("apiKey") or None
        found = [
            key for key in self.keys.values() if key.sub_name == sub_name and (wanted is None or key.api_key == wanted)
        ]
        return [key_info(key) for key in sorted(found, key=lambda key: key.created_at_ms or 0)]

    def sub_key_delete(self, call: Call) -> dict[str, Any]:
        key = self._sub_key(call, call.params())
        self.remove_key(key.api_key)
        return {"subName": key.sub_name, "apiKey": key.api_key}


# --- command line -------------------------------------------------------------------------------------


def load_keys(path: Path) -> list[SandboxKey]:
    """keys.json: a list of objects with SandboxKey's fields (permissions and ip_whitelist as lists)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, Mapping):
        data = data.get("keys", [])
    return [SandboxKey.from_mapping(entry) for entry in data]


def load_sub_accounts(path: Path) -> dict[str, str]:
    """keys.json as an object may also have "sub_accounts": sub-account name -> api_key of its master key."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return dict(data.get("sub_accounts", {})) if isinstance(data, Mapping) else {}


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness sandbox", description=__doc__)
    parser.add_argument(
        "--keys",
        type=Path,
        help='JSON list of keys (api_key, secret, passphrase, key_version, ...), or an object with "keys" and '
        '"sub_accounts" (sub-account name -> api_key of the master key that owns it)',
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--spot-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--futures-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--clock-offset-ms", type=int, default=0, help="server clock = real clock + this")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="do not print one line per request")
    options = parser.parse_args(argv)
    keys = load_keys(options.keys) if options.keys else []
    sub_accounts = load_sub_accounts(options.keys) if options.keys else {}
    by_api_key = {key.api_key: key for key in keys}
    unknown = sorted(master for master in sub_accounts.values() if master not in by_api_key)
    if unknown:
        parser.error(f"sub_accounts name master keys that are not in the keys: {', '.join(unknown)}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = KucoinSandbox(keys, options.host, spot_port=options.spot_port, futures_port=options.futures_port)
    sandbox.set_faults(clock_offset_ms=options.clock_offset_ms, latency_ms=options.latency_ms)
    for sub_name, master in sub_accounts.items():
        sandbox.add_sub_account(sub_name, by_api_key[master])
    with sandbox:
        print(f"spot:    {sandbox.spot_url}")
        print(f"futures: {sandbox.futures_url}")
        for key in keys:  # repr hides secret and passphrase
            print(f"key: {key.api_key} v{key.key_version} {','.join(key.permissions)}")
        for sub_name, master in sub_accounts.items():
            print(f"sub-account: {sub_name} of master key {master}")
        print("Ctrl-C stops it.", flush=True)
        shown = 0
        while not stop.wait(0.2):
            if options.quiet:
                continue
            records = list(sandbox.requests)
            for record in records[shown:]:
                print(
                    f"{record.listener} {record.method} {record.path} key={record.api_key or '-'} "
                    f"-> {record.http_status or 'dropped'} {record.code or ''}",
                    flush=True,
                )
            shown = len(records)
    return 0
