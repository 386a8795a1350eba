# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tradebot.kucoin.key_check's coordinator: the calls side by side within one deadline, then the policy.

The parts live in their own files: key information and whitelists (_kucoin_key_info), the clock
(_kucoin_clock), the policy (_kucoin_policy) and the wording of failures (_kucoin_diagnosis).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import (
    MS_PER_DAY,
    ClockReading,
    iso_utc,
    measure_clock,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_diagnosis import diagnose, one_line
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_key_info import mask_api_key, parse_key_info
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_policy import Policy, evaluate_policy
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
STATUS_PATH = "/api/v1/status"  # spot and futures each serve their own
KEY_INFO_PATH = "/api/v1/user/api-key"
FUTURES_OVERVIEW_PATH = "/api/v1/account-overview"
SERVICE_OPEN = "open"
# The whole check ends within this many times `timeout` (plus a moment to report): every attempt is bounded by
# `timeout`, and retries only run while the check's time lasts.
CHECK_TIMEOUT_FACTOR = 3


@dataclass(frozen=True)
class CheckRequest:
    credentials: Credentials
    api: str = "spot"
    base_url: str | None = None
    key_info_url: str | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    policy: Policy = field(default_factory=Policy)
    require_service_open: bool = False

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or (FUTURES_URL if self.api == "futures" else SPOT_URL)).rstrip("/")

    @property
    def resolved_key_info_url(self) -> str:
        if self.key_info_url:
            return self.key_info_url.rstrip("/")
        return self.resolved_base_url if self.api == "spot" else SPOT_URL

    @property
    def check_timeout(self) -> float:
        return CHECK_TIMEOUT_FACTOR * self.http.timeout


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
        "service_status": None,
        "warnings": [],
    }


def _run_calls(
    request: CheckRequest, client: Any, sleep: Callable[[float], None]
) -> tuple[dict[str, KucoinReply], dict[str, KucoinCallError], bool]:
    """The independent calls side by side, so a slow network costs one timeout, not four; all within one
    deadline. Daemon threads: a call stuck past the deadline must not keep the module's process alive."""
    base_url = request.resolved_base_url
    timeout = request.http.timeout
    deadline = time.monotonic() + request.check_timeout
    common: dict[str, Any] = {
        "max_wait_s": max(1.0, timeout),
        "sleep": sleep,
        "attempt_timeout": timeout,
        "deadline": deadline,
    }
    signed = {"credentials": request.credentials, **common}
    jobs: dict[str, Callable[[], KucoinReply]] = {
        "time": lambda: call(client, "GET", base_url, TIMESTAMP_PATH, **common),
        "status": lambda: call(client, "GET", base_url, STATUS_PATH, **common),
        "key_info": lambda: call(client, "GET", request.resolved_key_info_url, KEY_INFO_PATH, **signed),
    }
    if request.api == "futures":
        params = {"currency": "USDT"}
        jobs["futures"] = lambda: call(client, "GET", base_url, FUTURES_OVERVIEW_PATH, params=params, **signed)
    replies: dict[str, KucoinReply] = {}
    errors: dict[str, KucoinCallError] = {}
    lock = threading.Lock()

    def run(name: str, job: Callable[[], KucoinReply]) -> None:
        try:
            reply = job()
        except KucoinCallError as exc:
            with lock:
                errors[name] = exc
        except Exception as exc:  # only the type: an unexpected message could carry anything
            with lock:
                errors[name] = KucoinCallError(ErrorKind.UNEXPECTED, url=base_url, detail=type(exc).__name__)
        else:
            with lock:
                replies[name] = reply

    threads = {
        name: threading.Thread(target=run, args=(name, job), name=f"kucoin-{name}", daemon=True)
        for name, job in jobs.items()
    }
    for thread in threads.values():
        thread.start()
    for name, thread in threads.items():
        # A moment past the deadline for the call to report its own timeout, which names the URL.
        thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
        with lock:
            if thread.is_alive() and name not in errors and name not in replies:
                url = request.resolved_key_info_url if name == "key_info" else base_url
                errors[name] = KucoinCallError(
                    ErrorKind.TIMEOUT, url=url, detail=f"no answer within {request.check_timeout:g} s in all"
                )
    # Copies, so that a call finishing late cannot change what the caller reads; and whether all are done.
    with lock:
        done = not any(thread.is_alive() for thread in threading.enumerate() if thread.name.startswith("kucoin-"))
        return dict(replies), dict(errors), done


def _failed_before_any_call(result: dict[str, Any], diagnosis: str) -> CheckOutcome:
    result.update(kucoin_code=None, http_status=None, diagnosis=one_line(diagnosis))
    return CheckOutcome(result, failed=True)


def _read_clock(
    result: dict[str, Any], replies: dict[str, KucoinReply], errors: dict[str, KucoinCallError]
) -> ClockReading | None:
    time_reply = replies.get("time")
    if time_reply is not None and str(time_reply.data).lstrip("-").isdigit():
        clock = measure_clock(int(time_reply.data), time_reply.sent_at, time_reply.round_trip_s)
        result.update(
            clock_skew_ms=clock.skew_ms,
            server_time=iso_utc(clock.server_time_ms),
            round_trip_ms=clock.round_trip_ms,
        )
        return clock
    if time_reply is not None:
        errors.setdefault(
            "time",
            KucoinCallError(ErrorKind.MALFORMED, url=time_reply.url, http_status=200, detail=str(time_reply.data)[:80]),
        )
    return None


def _service_findings(
    request: CheckRequest, result: dict[str, Any], replies: dict[str, KucoinReply], errors: dict[str, KucoinCallError]
) -> tuple[list[str], list[str]]:
    """KuCoin's own word on trading (open, close, cancelonly): a warning unless require_service_open."""
    reply = replies.get("status")
    data = reply.data if reply is not None and isinstance(reply.data, dict) else {}
    status = str(data.get("status") or "") or None
    result["service_status"] = status
    if status == SERVICE_OPEN:
        return [], []
    if status is None:
        error = errors.pop("status", None)
        why = ""
        if error is not None:
            why = f": {diagnose(error, timeout=request.http.timeout, key_version=request.credentials.key_version)}"
        text = f"KuCoin's service status ({STATUS_PATH}) could not be read{why}"
    else:
        said = f" ({data['msg']})" if data.get("msg") else ""
        text = (
            f"KuCoin reports its {request.api} service as '{status}'{said}, so the bot cannot place orders now; "
            "deploy after the maintenance ends or set require_service_open: false to go ahead anyway"
        )
    return ([text], []) if request.require_service_open else ([], [text])


def _url_option(request: CheckRequest, call_name: str) -> str:
    """The option a call's URL came from, as a user would set it."""
    if call_name != "key_info" or request.resolved_key_info_url == request.resolved_base_url:
        return "base_url"
    if request.key_info_url:
        return "key_info_url"
    return f"key_info_url (for api={request.api} it defaults to {SPOT_URL}, not to base_url)"


def run_key_check(
    request: CheckRequest,
    *,
    client_factory: Callable[[HttpSettings], Any] = make_client,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckOutcome:
    """Server time, service status, key info and (for futures) the account overview, side by side; then policy."""
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
        client = client_factory(request.http)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        # Only a bad ca_path or proxy gets here, before any call.
        return _failed_before_any_call(
            result,
            f"the HTTP client could not be set up ({type(exc).__name__}: {exc}); check that ca_path is a "
            "readable PEM file of CA certificates and that proxy is a valid URL",
        )
    replies, errors, done = _run_calls(request, client, sleep)
    if done:  # else a call may still use the client: the process's end closes it
        client.close()

    clock = _read_clock(result, replies, errors)
    service_failures, service_warnings = _service_findings(request, result, replies, errors)

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

    futures_error = errors.get("futures")
    lacks_futures = info is not None and "futures" not in {p.lower() for p in info.permissions}
    if futures_error is not None and futures_error.kucoin_code == "400007" and lacks_futures:
        # KuCoin refused the overview for want of Futures, and the key information shows it: the policy's
        # words (which permission, what to change) say more than the bare 400007.
        del errors["futures"]
    # The key-info error is the most specific, then the futures call's, then the clock's.
    for name in ("key_info", "futures", "time"):
        if name in errors:
            error = errors[name]
            result.update(
                kucoin_code=error.kucoin_code,
                http_status=error.http_status,
                diagnosis=diagnose(
                    error,
                    timeout=request.http.timeout,
                    key_version=creds.key_version,
                    clock=clock,
                    option=_url_option(request, name),
                ),
            )
            result["warnings"] = service_warnings
            return CheckOutcome(result, failed=True)

    failures, warnings = evaluate_policy(info or parse_key_info({}), clock, request.policy, now_ms, creds.key_version)
    result["warnings"] = warnings + service_warnings
    failures += service_failures
    if failures:
        result.update(kucoin_code=None, http_status=200, diagnosis=one_line("; ".join(failures)))
        return CheckOutcome(result, failed=True)
    result["valid"] = True
    return CheckOutcome(result, failed=False)
