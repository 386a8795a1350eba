# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What tradebot.kucoin.key_check does, apart from option parsing: calls, clock maths, policy, diagnosis."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import (
    ErrorKind,
    HttpSettings,
    KucoinCallError,
    KucoinReply,
    call,
    make_client,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials, unsendable_fields

SPOT_URL = "https://api.kucoin.com"
FUTURES_URL = "https://api-futures.kucoin.com"
TIMESTAMP_PATH = "/api/v1/timestamp"
KEY_INFO_PATH = "/api/v1/user/api-key"
FUTURES_OVERVIEW_PATH = "/api/v1/account-overview"
KUCOIN_TIMESTAMP_WINDOW_MS = 5000
MS_PER_DAY = 86_400_000

# One line per KuCoin code: the likely cause, then what to do.
KUCOIN_DIAGNOSES: dict[str, str] = {
    "400001": (
        "KuCoin found an auth header (KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE) missing or "
        "malformed, usually an empty api_key or api_passphrase or a proxy that strips headers; set all three "
        "credentials and call KuCoin directly or through a proxy that keeps headers"
    ),
    "400002": (
        "KuCoin rejected the request time because this host's clock is more than 5 seconds away from KuCoin's; "
        "turn on time sync (chrony or systemd-timesyncd) on this host and check again"
    ),
    "400003": (
        "KuCoin does not know this API key: it was deleted, mistyped, copied with spaces, or belongs to another "
        "KuCoin environment; copy the key again from KuCoin's API management page"
    ),
    "400004": (
        "KuCoin rejected the passphrase header: the passphrase is wrong, the secret is wrong (versions 2 and 3 "
        "send the passphrase's HMAC made with the secret), or key_version does not match the key (version 1 sends "
        "the passphrase as is); check api_passphrase, api_secret and the key's version on KuCoin"
    ),
    "400005": (
        "KuCoin rejected the signature: the API secret does not belong to this key, was copied with spaces, or a "
        "proxy changed the request; copy the secret again or create a new key"
    ),
    "400006": (
        "KuCoin refused the request because the IP address it came from is not on the key's IP whitelist; add "
        "this host's public IP address to the key's whitelist or run the bot from a whitelisted host"
    ),
    "400007": (
        "the key lacks a permission this call needs (the account overview on the futures API needs Futures); "
        "add the permission to the key on KuCoin or use a key that has it"
    ),
    "400008": (
        "KuCoin no longer accepts version 1 or 2 API keys on this API; create a version 3 key and set key_version: 3"
    ),
    "400009": (
        "KuCoin rejected the KC-API-KEY-VERSION header; set key_version to the version shown for the key on "
        "KuCoin (1, 2 or 3)"
    ),
    "400010": (
        "KuCoin denied access for this account (UID) because it lacks a permission the call needs; check the "
        "account's and the key's permissions on KuCoin"
    ),
    "411100": (
        "KuCoin has frozen this account or key, so every call is refused; contact KuCoin support or use a key "
        "of an account that is not frozen"
    ),
    "429000": (
        "KuCoin kept answering 'too many requests' after the retries, so the key's or this IP's rate limit is "
        "used up (often by a bot already running with the same key); wait a minute and check again, and do not "
        "share one key between bots"
    ),
    "500000": (
        "KuCoin had an internal error after the retries, which is on KuCoin's side; check again in a few minutes "
        "and watch KuCoin's status page"
    ),
}

TRANSPORT_DIAGNOSES: dict[str, str] = {
    ErrorKind.TIMEOUT: (
        "KuCoin did not answer within {timeout:g} seconds: the network, a firewall or a slow proxy is in the way, "
        "or KuCoin is overloaded; check this host's route to {host} or raise timeout"
    ),
    ErrorKind.TLS: (
        "the TLS connection to {host} failed (certificate not trusted, wrong host name or a TLS-intercepting "
        "proxy); fix the host's CA bundle or set ca_path to the CA that signs the server's certificate"
    ),
    ErrorKind.DNS: (
        "the host name {host} could not be resolved; check base_url for typos and this host's DNS resolver"
    ),
    ErrorKind.CONNECTION: (
        "the connection to {host} failed or was closed before an answer (refused, reset or dropped); check that "
        "the URL and port are right and that a firewall lets this host reach KuCoin"
    ),
    ErrorKind.PROXY: "the proxy refused or failed the request to {host}; check the proxy option and the proxy itself",
    ErrorKind.BAD_URL: "{url} is not a usable http(s) URL; check base_url and key_info_url",
    ErrorKind.UNEXPECTED: "the call to {host} failed in an unexpected way; run again with -vvv and report a bug",
}


@dataclass(frozen=True)
class Policy:
    required_permissions: tuple[str, ...] = ("General",)
    forbidden_permissions: tuple[str, ...] = ()
    max_key_age_days: float = 90
    fail_on_old_key: bool = False
    require_ip_whitelist: bool = False
    expected_sub_account: str | None = None
    max_clock_skew: float = 2.0  # seconds

    @property
    def skew_warning_ms(self) -> float:
        return self.max_clock_skew * 1000 / 2

    @property
    def skew_limit_ms(self) -> float:
        return self.max_clock_skew * 1000


@dataclass(frozen=True)
class CheckRequest:
    credentials: Credentials
    api: str = "spot"
    base_url: str | None = None
    key_info_url: str | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    policy: Policy = field(default_factory=Policy)

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or (FUTURES_URL if self.api == "futures" else SPOT_URL)).rstrip("/")

    @property
    def resolved_key_info_url(self) -> str:
        if self.key_info_url:
            return self.key_info_url.rstrip("/")
        return self.resolved_base_url if self.api == "spot" else SPOT_URL


@dataclass
class KeyInfo:
    permissions: list[str]
    ip_whitelist: list[str]
    is_master: bool | None
    sub_account: str | None
    created_at_ms: int | None
    api_version: int | None


@dataclass(frozen=True)
class ClockReading:
    server_time_ms: int
    skew_ms: int  # server minus local, at the midpoint of the round trip
    round_trip_ms: int


def split_list(value: Any) -> list[str]:
    """KuCoin's comma-separated strings (or lists) as a clean list."""
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(p).strip() for p in parts if str(p).strip()]


def parse_key_info(data: Any) -> KeyInfo:
    data = data if isinstance(data, dict) else {}
    created = data.get("createdAt")
    version = data.get("apiVersion")
    is_master = data.get("isMaster")
    sub_name = data.get("subName")
    return KeyInfo(
        permissions=split_list(data.get("permission")),
        ip_whitelist=split_list(data.get("ipWhitelist")),
        is_master=bool(is_master) if is_master is not None else None,
        sub_account=str(sub_name) if sub_name else None,
        created_at_ms=int(created) if isinstance(created, (int, float, str)) and str(created).isdigit() else None,
        api_version=int(version) if str(version).isdigit() else None,
    )


def measure_clock(server_time_ms: int, sent_at_s: float, round_trip_s: float) -> ClockReading:
    """Skew against the round trip's midpoint: the best local estimate of when the server read its clock."""
    midpoint_ms = (sent_at_s + round_trip_s / 2) * 1000
    return ClockReading(
        server_time_ms=int(server_time_ms),
        skew_ms=round(server_time_ms - midpoint_ms),
        round_trip_ms=round(round_trip_s * 1000),
    )


def mask_api_key(api_key: str) -> str:
    """First 4 and last 2 characters, enough to tell keys apart; short keys show nothing."""
    if len(api_key) < 12:
        return "…"
    return f"{api_key[:4]}…{api_key[-2:]}"


def iso_utc(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe_offset(skew_ms: int) -> str:
    """Skew is KuCoin minus local, so a positive skew means this host is behind."""
    direction = "behind" if skew_ms > 0 else "ahead of"
    return f"{abs(skew_ms) / 1000:.3f} s {direction} KuCoin's"


def _lower_set(names: Iterable[str]) -> set[str]:
    return {n.strip().lower() for n in names if n and n.strip()}


def evaluate_policy(
    info: KeyInfo, clock: ClockReading | None, policy: Policy, now_ms: int, key_version: int
) -> tuple[list[str], list[str]]:
    """(failures, warnings) for this key under this policy; permission names compare case-insensitively."""
    failures: list[str] = []
    warnings: list[str] = []
    held = _lower_set(info.permissions)
    missing = [p for p in policy.required_permissions if p.strip().lower() not in held]
    if missing:
        failures.append(
            f"the key lacks the required permission(s) {', '.join(missing)} "
            f"(it has {', '.join(info.permissions) or 'none'}); "
            "add them to the key on KuCoin"
        )
    forbidden = _lower_set(policy.forbidden_permissions)
    present = [p for p in info.permissions if p.lower() in forbidden]
    if present:
        failures.append(
            f"the key has the forbidden permission(s) {', '.join(present)}; create a key without them, "
            "a trading bot should never be able to do that"
        )
    if policy.require_ip_whitelist and not info.ip_whitelist:
        failures.append(
            "the key has no IP whitelist, so anyone who gets it can use it from anywhere; restrict it to the "
            "bot hosts' IP addresses on KuCoin"
        )
    if policy.expected_sub_account is not None and info.sub_account != policy.expected_sub_account:
        actual = f"sub-account {info.sub_account}" if info.sub_account else "the master account"
        failures.append(
            f"the key belongs to {actual}, not to sub-account {policy.expected_sub_account}; use that sub-account's key"
        )
    if info.created_at_ms is not None:
        age_days = (now_ms - info.created_at_ms) / MS_PER_DAY
        if age_days > policy.max_key_age_days:
            text = (
                f"the key is {int(age_days)} days old, older than max_key_age_days ({policy.max_key_age_days:g}); "
                "rotate it"
            )
            (failures if policy.fail_on_old_key else warnings).append(text)
    if info.api_version is not None and info.api_version != key_version:
        warnings.append(f"KuCoin reports key version {info.api_version}, but key_version is {key_version}")
    if clock is not None:
        skew = abs(clock.skew_ms)
        if skew > policy.skew_limit_ms:
            failures.append(
                f"this host's clock is {describe_offset(clock.skew_ms)} (limit {policy.max_clock_skew:g} s, "
                "KuCoin rejects requests beyond 5 s); turn on time sync (chrony or systemd-timesyncd)"
            )
        elif skew > policy.skew_warning_ms:
            warnings.append(
                f"this host's clock is {describe_offset(clock.skew_ms)}, more than half of "
                f"max_clock_skew ({policy.max_clock_skew:g} s); check time sync"
            )
    return failures, warnings


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0] or url


def diagnose(error: KucoinCallError, *, timeout: float, key_version: int, clock: ClockReading | None = None) -> str:
    """One line in plain words: which call failed, the likely cause, what to do."""
    host = _host_of(error.url)
    if error.kind == ErrorKind.KUCOIN:
        code = error.kucoin_code or ""
        advice = KUCOIN_DIAGNOSES.get(code)
        if advice is None and error.http_status is not None and error.http_status >= 500:
            advice = KUCOIN_DIAGNOSES["500000"]
        if advice is None:
            advice = "KuCoin refused the call with a code this module has no advice for; look it up in KuCoin's list"
        line = f"KuCoin code {code} (HTTP {error.http_status}) from {error.url}: {advice}"
        if code == "400002" and clock is not None:
            line += f" (measured: this host's clock is {describe_offset(clock.skew_ms)})"
        if code == "400004":
            line += f" (key_version {key_version} was used)"
        if error.server_message:
            line += f". KuCoin said: {error.server_message}"
        return _one_line(line)
    if error.kind == ErrorKind.MALFORMED:
        if error.http_status is not None and error.http_status >= 500:
            cause = f"KuCoin answered HTTP {error.http_status} without its JSON body after the retries (an outage)"
            todo = "check again in a few minutes"
        else:
            cause = (
                f"{host} answered HTTP {error.http_status} with a body that is not KuCoin's JSON, so the URL "
                "points at something else (a proxy, captive portal or wrong host)"
            )
            todo = "check base_url, key_info_url and proxy"
        excerpt = f" (body starts: {error.detail!r})" if error.detail else ""
        return _one_line(f"{cause}{excerpt}; {todo}")
    template = TRANSPORT_DIAGNOSES.get(error.kind, TRANSPORT_DIAGNOSES[ErrorKind.UNEXPECTED])
    line = template.format(timeout=timeout, host=host, url=error.url)
    if error.detail:
        line += f" ({error.detail})"
    return _one_line(line)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat[0].upper() + flat[1:] if flat else flat


@dataclass
class CheckOutcome:
    result: dict[str, Any]
    failed: bool


def _initial_result(request: CheckRequest) -> dict[str, Any]:
    creds = request.credentials
    return {
        "valid": False,
        "api_key": mask_api_key(creds.api_key),
        "key_version": creds.key_version,
        "api": request.api,
        "permissions": [],
        "ip_whitelist": [],
        "is_master": None,
        "sub_account": None,
        "created_at": None,
        "age_days": None,
        "clock_skew_ms": None,
        "server_time": None,
        "round_trip_ms": None,
        "warnings": [],
    }


def _run_calls(
    request: CheckRequest, client: Any, sleep: Callable[[float], None]
) -> tuple[dict[str, KucoinReply], dict[str, KucoinCallError]]:
    """The independent calls, side by side, so a slow network costs one timeout, not three."""
    base_url = request.resolved_base_url
    common: dict[str, Any] = {"max_wait_s": max(1.0, request.http.timeout), "sleep": sleep}
    signed = {"credentials": request.credentials, **common}
    jobs: dict[str, Callable[[], KucoinReply]] = {
        "time": lambda: call(client, "GET", base_url, TIMESTAMP_PATH, **common),
        "key_info": lambda: call(client, "GET", request.resolved_key_info_url, KEY_INFO_PATH, **signed),
    }
    if request.api == "futures":
        params = {"currency": "USDT"}
        jobs["futures"] = lambda: call(client, "GET", base_url, FUTURES_OVERVIEW_PATH, params=params, **signed)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        pending = {name: pool.submit(job) for name, job in jobs.items()}
    replies: dict[str, KucoinReply] = {}
    errors: dict[str, KucoinCallError] = {}
    for name, future in pending.items():
        exc = future.exception()
        if exc is None:
            replies[name] = future.result()
        elif isinstance(exc, KucoinCallError):
            errors[name] = exc
        else:  # only the type: an unexpected message could carry anything
            errors[name] = KucoinCallError(ErrorKind.UNEXPECTED, url=base_url, detail=type(exc).__name__)
    return replies, errors


def _failed_before_any_call(result: dict[str, Any], diagnosis: str) -> CheckOutcome:
    result.update(kucoin_code=None, http_status=None, diagnosis=_one_line(diagnosis))
    return CheckOutcome(result, failed=True)


def run_key_check(
    request: CheckRequest,
    *,
    client_factory: Callable[[HttpSettings], Any] = make_client,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckOutcome:
    """Server time, key info and (for futures) the account overview, concurrently; then policy."""
    creds = request.credentials
    result = _initial_result(request)
    unsendable = unsendable_fields(creds)
    if unsendable:
        return _failed_before_any_call(
            result,
            f"what was given as {' and '.join(unsendable)} cannot be sent in an HTTP header: a space or line break "
            "at an end, a control character or a non-ASCII character came with it (often when copying); store it "
            "again without them",
        )
    try:
        client_cm = client_factory(request.http)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        # Only a bad ca_path or proxy gets here, before any call.
        return _failed_before_any_call(
            result,
            f"the HTTP client could not be set up ({type(exc).__name__}: {exc}); check that ca_path is a "
            "readable PEM file of CA certificates and that proxy is a valid URL",
        )
    with client_cm as client:
        replies, errors = _run_calls(request, client, sleep)

    clock: ClockReading | None = None
    time_reply = replies.get("time")
    if time_reply is not None and str(time_reply.data).lstrip("-").isdigit():
        clock = measure_clock(int(time_reply.data), time_reply.sent_at, time_reply.round_trip_s)
        result.update(
            clock_skew_ms=clock.skew_ms,
            server_time=iso_utc(clock.server_time_ms),
            round_trip_ms=clock.round_trip_ms,
        )
    elif time_reply is not None:
        errors.setdefault(
            "time",
            KucoinCallError(ErrorKind.MALFORMED, url=time_reply.url, http_status=200, detail=str(time_reply.data)[:80]),
        )

    info_reply = replies.get("key_info")
    info = parse_key_info(info_reply.data) if info_reply is not None else None
    now_ms = int(now() * 1000)
    if info is not None:
        result.update(
            permissions=info.permissions,
            ip_whitelist=info.ip_whitelist,
            is_master=info.is_master,
            sub_account=info.sub_account,
        )
        if info.created_at_ms is not None:
            result["created_at"] = iso_utc(info.created_at_ms)
            result["age_days"] = max(0, (now_ms - info.created_at_ms) // MS_PER_DAY)

    # The key-info error is the most specific, then the futures call's, then the clock's.
    for name in ("key_info", "futures", "time"):
        if name in errors:
            error = errors[name]
            result.update(
                kucoin_code=error.kucoin_code,
                http_status=error.http_status,
                diagnosis=diagnose(error, timeout=request.http.timeout, key_version=creds.key_version, clock=clock),
            )
            return CheckOutcome(result, failed=True)

    failures, warnings = evaluate_policy(info or parse_key_info({}), clock, request.policy, now_ms, creds.key_version)
    result["warnings"] = warnings
    if failures:
        result.update(kucoin_code=None, http_status=200, diagnosis=_one_line("; ".join(failures)))
        return CheckOutcome(result, failed=True)
    result["valid"] = True
    return CheckOutcome(result, failed=False)
