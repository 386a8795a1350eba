"""key_check's logic without a network: diagnosis table, policy, clock maths, masking and the call plan."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import (
    KUCOIN_DIAGNOSES,
    MS_PER_DAY,
    CheckRequest,
    ClockReading,
    KeyInfo,
    Policy,
    diagnose,
    evaluate_policy,
    mask_api_key,
    measure_clock,
    parse_key_info,
    run_key_check,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import (
    ErrorKind,
    HttpSettings,
    KucoinCallError,
    make_client,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials, hmac_base64

SECRET = "secret-CHECK-51f0c2"
PASSPHRASE = "pass-CHECK-77ab"
CREDS = Credentials("6582b1c2d3e4f5a6b7c8d9ef", SECRET, PASSPHRASE, 2)
NOW_MS = 1_780_000_000_000
URL = "https://api.kucoin.com/api/v1/user/api-key"

# --- diagnosis ------------------------------------------------------------------------------------------

EVERY_CODE = [f"40000{n}" for n in range(1, 10)] + ["400010", "411100", "429000", "500000"]
CODE_WORDS = {
    "400001": "header",
    "400002": "clock",
    "400003": "does not know",
    "400004": "passphrase",
    "400005": "signature",
    "400006": "whitelist",
    "400007": "permission",
    "400008": "version 3",
    "400009": "key_version",
    "400010": "uid",
    "411100": "frozen",
    "429000": "too many requests",
    "500000": "kucoin's side",
}


def _error(kind: str, **kwargs: Any) -> KucoinCallError:
    return KucoinCallError(kind, url=kwargs.pop("url", URL), **kwargs)


@pytest.mark.parametrize("code", EVERY_CODE)
def test_every_kucoin_code_has_a_one_line_diagnosis_with_cause_and_action(code: str) -> None:
    assert code in KUCOIN_DIAGNOSES
    line = diagnose(_error(ErrorKind.KUCOIN, kucoin_code=code, http_status=401), timeout=10, key_version=2)
    assert "\n" not in line
    assert line.startswith(f"KuCoin code {code} (HTTP 401)")
    assert CODE_WORDS[code] in line.lower()
    assert ";" in KUCOIN_DIAGNOSES[code], "cause; then what to do"


def test_diagnosis_adds_what_kucoin_said_and_the_measured_clock() -> None:
    ip_error = _error(ErrorKind.KUCOIN, kucoin_code="400006", http_status=403, server_message="clientIp is:10.1.2.3")
    assert "KuCoin said: clientIp is:10.1.2.3" in diagnose(ip_error, timeout=10, key_version=2)
    clock = ClockReading(server_time_ms=NOW_MS, skew_ms=6400, round_trip_ms=20)
    late = diagnose(
        _error(ErrorKind.KUCOIN, kucoin_code="400002", http_status=400), timeout=10, key_version=2, clock=clock
    )
    assert "this host's clock is 6.400 s behind KuCoin's" in late
    wrong_version = diagnose(_error(ErrorKind.KUCOIN, kucoin_code="400004", http_status=401), timeout=10, key_version=1)
    assert "key_version 1 was used" in wrong_version


def test_unknown_code_and_http_5xx() -> None:
    assert "no advice" in diagnose(
        _error(ErrorKind.KUCOIN, kucoin_code="123456", http_status=400), timeout=1, key_version=2
    )
    outage = diagnose(_error(ErrorKind.KUCOIN, kucoin_code="503000", http_status=503), timeout=1, key_version=2)
    assert "kucoin's side" in outage.lower()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (ErrorKind.TIMEOUT, "did not answer within 2.5 seconds"),
        (ErrorKind.TLS, "tls"),
        (ErrorKind.DNS, "could not be resolved"),
        (ErrorKind.CONNECTION, "connection"),
        (ErrorKind.PROXY, "proxy"),
        (ErrorKind.BAD_URL, "not a usable"),
        (ErrorKind.UNEXPECTED, "unexpected"),
    ],
)
def test_transport_failures_have_a_diagnosis(kind: str, words: str) -> None:
    line = diagnose(_error(kind, detail="ConnectError: boom"), timeout=2.5, key_version=2)
    assert words in line.lower()
    assert "api.kucoin.com" in line
    assert "\n" not in line
    assert "(ConnectError: boom)" in line


def test_a_body_that_is_not_kucoins_json() -> None:
    line = diagnose(_error(ErrorKind.MALFORMED, http_status=200, detail="<html>login</html>"), timeout=1, key_version=2)
    assert "not KuCoin's JSON" in line
    assert "<html>login</html>" in line
    outage = diagnose(_error(ErrorKind.MALFORMED, http_status=502, detail="<html>"), timeout=1, key_version=2)
    assert "HTTP 502" in outage


# --- clock, masking, parsing ----------------------------------------------------------------------------


def test_skew_is_measured_against_the_round_trip_midpoint() -> None:
    # Sent at t=1000.000 s, answered 0.400 s later; the server read its clock at about t=1000.200 s.
    reading = measure_clock(server_time_ms=1_000_200 + 1500, sent_at_s=1000.0, round_trip_s=0.4)
    assert reading == ClockReading(server_time_ms=1_001_700, skew_ms=1500, round_trip_ms=400)
    behind = measure_clock(server_time_ms=1_000_200 - 2500, sent_at_s=1000.0, round_trip_s=0.4)
    assert behind.skew_ms == -2500


@pytest.mark.parametrize(
    ("key", "masked"),
    [("6582b1c2d3e4f5a6b7c8d9ef", "6582…ef"), ("sbx0123456789abcdef", "sbx0…ef"), ("short-key", "…"), ("", "…")],
)
def test_masking_never_shows_the_whole_key(key: str, masked: str) -> None:
    assert mask_api_key(key) == masked
    if key:
        assert key not in mask_api_key(key)


def test_parse_key_info() -> None:
    info = parse_key_info(
        {
            "permission": "General, Spot,Futures",
            "ipWhitelist": "203.0.113.7,10.0.0.0/8",
            "createdAt": 1_700_000_000_000,
            "isMaster": False,
            "subName": "grid",
            "apiVersion": 3,
        }
    )
    assert info == KeyInfo(
        ["General", "Spot", "Futures"], ["203.0.113.7", "10.0.0.0/8"], False, "grid", 1_700_000_000_000, 3
    )
    empty = parse_key_info({"permission": "", "ipWhitelist": "", "isMaster": True})
    assert (empty.permissions, empty.ip_whitelist, empty.is_master, empty.sub_account) == ([], [], True, None)
    assert parse_key_info(None).permissions == []


def test_unsendable_credentials_fail_before_any_call_without_showing_them() -> None:
    def no_client(settings: HttpSettings) -> Any:
        raise AssertionError("no call may be made")

    creds = Credentials("6582b1c2d3e4f5a6b7c8d9ef\n", SECRET, f"{PASSPHRASE}\n", 1)
    outcome = run_key_check(CheckRequest(creds), client_factory=no_client)
    assert outcome.failed
    diagnosis = outcome.result["diagnosis"]
    assert diagnosis.startswith("What was given as api_key and api_passphrase cannot be sent in an HTTP header")
    assert "6582b1c2" not in diagnosis
    assert PASSPHRASE not in diagnosis
    assert (outcome.result["kucoin_code"], outcome.result["http_status"]) == (None, None)


# --- policy ---------------------------------------------------------------------------------------------


def info(**overrides: Any) -> KeyInfo:
    values: dict[str, Any] = {
        "permissions": ["General", "Spot"],
        "ip_whitelist": ["203.0.113.7"],
        "is_master": True,
        "sub_account": None,
        "created_at_ms": NOW_MS - 10 * MS_PER_DAY,
        "api_version": 2,
    }
    values.update(overrides)
    return KeyInfo(**values)


CLOCK_OK = ClockReading(NOW_MS, 120, 30)


def test_a_good_key_passes_cleanly() -> None:
    assert evaluate_policy(info(), CLOCK_OK, Policy(), NOW_MS, 2) == ([], [])


def test_required_permissions_compare_case_insensitively() -> None:
    failures = evaluate_policy(info(), CLOCK_OK, Policy(required_permissions=("general", "SPOT")), NOW_MS, 2)[0]
    assert failures == []
    failures = evaluate_policy(info(), CLOCK_OK, Policy(required_permissions=("General", "futures")), NOW_MS, 2)[0]
    assert len(failures) == 1
    assert "lacks the required permission(s) futures" in failures[0]
    bare = evaluate_policy(info(permissions=[]), CLOCK_OK, Policy(), NOW_MS, 2)[0]
    assert "lacks the required permission(s) General (it has none)" in bare[0]


def test_forbidden_permissions() -> None:
    key = info(permissions=["General", "Spot", "Withdrawal"])
    failures = evaluate_policy(key, CLOCK_OK, Policy(forbidden_permissions=("withdrawal",)), NOW_MS, 2)[0]
    assert len(failures) == 1
    assert "forbidden permission(s) Withdrawal" in failures[0]
    assert evaluate_policy(key, CLOCK_OK, Policy(), NOW_MS, 2)[0] == []


def test_ip_whitelist_requirement() -> None:
    policy = Policy(require_ip_whitelist=True)
    assert evaluate_policy(info(), CLOCK_OK, policy, NOW_MS, 2)[0] == []
    failures = evaluate_policy(info(ip_whitelist=[]), CLOCK_OK, policy, NOW_MS, 2)[0]
    assert "no IP whitelist" in failures[0]


def test_expected_sub_account() -> None:
    sub = info(is_master=False, sub_account="grid")
    assert evaluate_policy(sub, CLOCK_OK, Policy(expected_sub_account="grid"), NOW_MS, 2)[0] == []
    failures = evaluate_policy(sub, CLOCK_OK, Policy(expected_sub_account="dca"), NOW_MS, 2)[0]
    assert "sub-account grid, not to sub-account dca" in failures[0]
    failures = evaluate_policy(info(), CLOCK_OK, Policy(expected_sub_account="dca"), NOW_MS, 2)[0]
    assert "the master account" in failures[0]


def test_old_key_warns_or_fails() -> None:
    old = info(created_at_ms=NOW_MS - 120 * MS_PER_DAY)
    failures, warnings = evaluate_policy(old, CLOCK_OK, Policy(), NOW_MS, 2)
    assert failures == []
    assert warnings == ["the key is 120 days old, older than max_key_age_days (90); rotate it"]
    failures, warnings = evaluate_policy(old, CLOCK_OK, Policy(fail_on_old_key=True), NOW_MS, 2)
    assert warnings == []
    assert "120 days old" in failures[0]
    assert evaluate_policy(old, CLOCK_OK, Policy(max_key_age_days=365), NOW_MS, 2) == ([], [])


@pytest.mark.parametrize(
    ("skew_ms", "failed", "warned"),
    [
        (0, False, False),
        (999, False, False),
        (1001, False, True),
        (-1500, False, True),
        (2001, True, False),
        (-3000, True, False),
    ],
)
def test_clock_skew_fails_over_the_limit_and_warns_from_half(skew_ms: int, failed: bool, warned: bool) -> None:
    failures, warnings = evaluate_policy(
        info(), ClockReading(NOW_MS, skew_ms, 10), Policy(max_clock_skew=2.0), NOW_MS, 2
    )
    assert bool(failures) is failed
    assert bool(warnings) is warned


def test_offset_wording_says_which_way() -> None:
    failures = evaluate_policy(info(), ClockReading(NOW_MS, -3250, 10), Policy(), NOW_MS, 2)[0]
    assert "3.250 s ahead of KuCoin's" in failures[0]
    failures = evaluate_policy(info(), ClockReading(NOW_MS, 3250, 10), Policy(), NOW_MS, 2)[0]
    assert "3.250 s behind KuCoin's" in failures[0]


def test_version_mismatch_is_a_warning() -> None:
    warnings = evaluate_policy(info(api_version=3), CLOCK_OK, Policy(), NOW_MS, 2)[1]
    assert warnings == ["KuCoin reports key version 3, but key_version is 2"]


# --- the call plan, against a fake KuCoin -------------------------------------------------------------


class FakeKucoin:
    """Answers the three endpoints by host and path; can delay, fail or answer per path."""

    def __init__(self, key_data: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        self.key_data = key_data or {
            "permission": "General,Spot,Futures",
            "ipWhitelist": "",
            "createdAt": NOW_MS - 3 * MS_PER_DAY,
            "isMaster": True,
            "apiVersion": 2,
        }
        self.delay = delay
        self.overrides: dict[str, httpx.Response] = {}
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.server_offset_ms = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(f"{request.url.host}{request.url.raw_path.decode()}")
        if self.delay:
            time.sleep(self.delay)
        path = request.url.path
        if path in self.overrides:
            return self.overrides[path]
        if path == "/api/v1/timestamp":
            return httpx.Response(200, json={"code": "200000", "data": int(time.time() * 1000) + self.server_offset_ms})
        if path == "/api/v1/user/api-key":
            return httpx.Response(200, json={"code": "200000", "data": self.key_data})
        return httpx.Response(200, json={"code": "200000", "data": {"accountEquity": 1}})

    def factory(self, settings: HttpSettings) -> httpx.Client:
        return make_client(settings, transport=httpx.MockTransport(self))


def check(fake: FakeKucoin, **overrides: Any) -> Any:
    request = CheckRequest(**{"credentials": CREDS, **overrides})
    return run_key_check(request, client_factory=fake.factory, sleep=lambda _s: None, now=lambda: NOW_MS / 1000)


def test_spot_check_calls_time_and_key_info_on_the_spot_host() -> None:
    fake = FakeKucoin()
    outcome = check(fake)
    assert not outcome.failed, outcome.result
    assert sorted(fake.seen) == ["api.kucoin.com/api/v1/timestamp", "api.kucoin.com/api/v1/user/api-key"]
    result = outcome.result
    assert result["valid"] is True
    assert result["api_key"] == "6582…ef"
    assert result["permissions"] == ["General", "Spot", "Futures"]
    assert result["is_master"] is True
    assert result["age_days"] == 3
    assert abs(result["clock_skew_ms"]) < 500
    assert result["server_time"].endswith("Z")
    assert result["created_at"].endswith("Z")


def test_futures_check_adds_the_overview_on_the_futures_host() -> None:
    fake = FakeKucoin()
    assert not check(fake, api="futures").failed
    assert sorted(fake.seen) == [
        "api-futures.kucoin.com/api/v1/account-overview?currency=USDT",
        "api-futures.kucoin.com/api/v1/timestamp",
        "api.kucoin.com/api/v1/user/api-key",
    ]
    fake.seen.clear()
    check(fake, api="futures", base_url="http://127.0.0.1:9/", key_info_url="http://127.0.0.1:8")
    assert sorted(fake.seen) == [
        "127.0.0.1/api/v1/account-overview?currency=USDT",
        "127.0.0.1/api/v1/timestamp",
        "127.0.0.1/api/v1/user/api-key",
    ]


def test_the_calls_run_side_by_side() -> None:
    fake = FakeKucoin(delay=0.4)
    started = time.monotonic()
    assert not check(fake, api="futures").failed
    assert time.monotonic() - started < 1.0, "three 0.4 s calls in sequence would take 1.2 s"


def test_the_key_info_error_wins_and_is_diagnosed() -> None:
    fake = FakeKucoin()
    fake.overrides["/api/v1/user/api-key"] = httpx.Response(401, json={"code": "400005", "msg": "Signature error"})
    fake.overrides["/api/v1/account-overview"] = httpx.Response(403, json={"code": "400007", "msg": "denied"})
    outcome = check(fake, api="futures")
    assert outcome.failed
    assert (outcome.result["kucoin_code"], outcome.result["http_status"]) == ("400005", 401)
    assert "signature" in outcome.result["diagnosis"]
    assert outcome.result["valid"] is False
    assert outcome.result["clock_skew_ms"] is not None, "what was measured is still returned"


def test_futures_without_the_futures_permission() -> None:
    fake = FakeKucoin()
    fake.overrides["/api/v1/account-overview"] = httpx.Response(403, json={"code": "400007", "msg": "denied"})
    outcome = check(fake, api="futures")
    assert outcome.result["kucoin_code"] == "400007"
    assert "Futures" in outcome.result["diagnosis"]


def test_policy_failures_join_into_one_line() -> None:
    fake = FakeKucoin()
    fake.server_offset_ms = 3500
    outcome = check(fake, policy=Policy(required_permissions=("General", "Margin"), require_ip_whitelist=True))
    assert outcome.failed
    diagnosis = outcome.result["diagnosis"]
    assert "Margin" in diagnosis
    assert "no IP whitelist" in diagnosis
    assert "clock" in diagnosis
    assert outcome.result["kucoin_code"] is None
    assert outcome.result["http_status"] == 200
    assert "\n" not in diagnosis


def test_a_server_time_that_is_not_a_number_is_malformed() -> None:
    fake = FakeKucoin()
    fake.overrides["/api/v1/timestamp"] = httpx.Response(200, json={"code": "200000", "data": "soon"})
    outcome = check(fake)
    assert outcome.failed
    assert "not KuCoin's JSON" in outcome.result["diagnosis"]


def test_no_secret_in_the_result() -> None:
    fake = FakeKucoin()
    fake.overrides["/api/v1/user/api-key"] = httpx.Response(401, json={"code": "400004", "msg": "bad"})
    text = repr(check(fake).result) + repr(check(FakeKucoin()).result)
    for secret in (SECRET, PASSPHRASE, hmac_base64(SECRET, PASSPHRASE), CREDS.api_key):
        assert secret not in text


def test_an_unreadable_ca_path_is_diagnosed(tmp_path: Any) -> None:
    request = CheckRequest(CREDS, http=HttpSettings(ca_path=str(tmp_path / "missing.pem")))
    outcome = run_key_check(request)
    assert outcome.failed
    assert "ca_path" in outcome.result["diagnosis"]
    assert outcome.result["http_status"] is None
