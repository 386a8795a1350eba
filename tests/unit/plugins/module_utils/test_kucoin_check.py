"""key_check's coordinator without a network: the call plan, its deadline, service status, and what it returns."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import MS_PER_DAY
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_policy import Policy
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import CheckRequest, run_key_check
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import HttpSettings, make_client
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials, hmac_base64

SECRET = "secret-CHECK-51f0c2"
PASSPHRASE = "pass-CHECK-77ab"
CREDS = Credentials("6582b1c2d3e4f5a6b7c8d9ef", SECRET, PASSPHRASE, 2)
NOW_MS = 1_780_000_000_000


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
        self.status = "open"

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
        if path == "/api/v1/status":
            return httpx.Response(200, json={"code": "200000", "data": {"status": self.status, "msg": ""}})
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
    assert sorted(fake.seen) == [
        "api.kucoin.com/api/v1/status",
        "api.kucoin.com/api/v1/timestamp",
        "api.kucoin.com/api/v1/user/api-key",
    ]
    result = outcome.result
    assert result["valid"] is True
    assert result["api_key"] == "6582…ef"
    assert result["permissions"] == ["General", "Spot", "Futures"]
    assert result["is_master"] is True
    assert result["age_days"] == 3
    assert abs(result["clock_skew_ms"]) < 500
    assert result["server_time"].endswith("Z")
    assert result["created_at"].endswith("Z")
    assert result["service_status"] == "open"


def test_futures_check_adds_the_overview_on_the_futures_host() -> None:
    fake = FakeKucoin()
    assert not check(fake, api="futures").failed
    assert sorted(fake.seen) == [
        "api-futures.kucoin.com/api/v1/account-overview?currency=USDT",
        "api-futures.kucoin.com/api/v1/status",
        "api-futures.kucoin.com/api/v1/timestamp",
        "api.kucoin.com/api/v1/user/api-key",
    ]
    fake.seen.clear()
    check(fake, api="futures", base_url="http://127.0.0.1:9/", key_info_url="http://127.0.0.1:8")
    assert sorted(fake.seen) == [
        "127.0.0.1/api/v1/account-overview?currency=USDT",
        "127.0.0.1/api/v1/status",
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


@pytest.mark.parametrize("status", ["close", "cancelonly"])
def test_a_service_not_open_warns_or_fails_on_request(status: str) -> None:
    fake = FakeKucoin()
    fake.status = status
    warned = check(fake)
    assert not warned.failed, warned.result
    assert warned.result["service_status"] == status
    assert any(f"service as '{status}'" in w for w in warned.result["warnings"])
    refused = check(fake, require_service_open=True)
    assert refused.failed
    assert f"service as '{status}'" in refused.result["diagnosis"]
    assert "require_service_open" in refused.result["diagnosis"]


def test_an_unreadable_service_status_is_a_warning() -> None:
    fake = FakeKucoin()
    fake.overrides["/api/v1/status"] = httpx.Response(404, json={"code": "404000", "msg": "Not Found"})
    outcome = check(fake)
    assert not outcome.failed
    assert outcome.result["service_status"] is None
    assert any("could not be read" in w and "404000" in w for w in outcome.result["warnings"])


class Trickle(httpx.SyncByteStream):
    """A body that arrives one byte every `pause` seconds: each read is quick, the whole is not."""

    def __init__(self, body: bytes, pause: float) -> None:
        self.body, self.pause = body, pause

    def __iter__(self):  # type: ignore[override]
        for byte in self.body:
            time.sleep(self.pause)
            yield bytes([byte])


def test_timeout_bounds_each_whole_call_and_the_check() -> None:
    fake = FakeKucoin()
    body = b'{"code": "200000", "data": {"permission": "General,Spot"}}'
    fake.overrides["/api/v1/user/api-key"] = httpx.Response(200, stream=Trickle(body, 0.1))
    started = time.monotonic()
    outcome = check(fake, http=HttpSettings(timeout=0.5))
    took = time.monotonic() - started
    assert outcome.failed
    assert "did not answer within 0.5 seconds" in outcome.result["diagnosis"]
    assert took < 3 * 0.5 + 0.6, f"{took:.2f} s"


class UnresolvableHost(FakeKucoin):
    """Like FakeKucoin, but one host name does not resolve."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == self.host:
            raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)
        return super().__call__(request)


def test_an_unresolvable_key_info_host_names_key_info_url_not_base_url() -> None:
    # A futures check with base_url set elsewhere still reads key info from api.kucoin.com by default.
    outcome = check(UnresolvableHost("api.kucoin.com"), api="futures", base_url="https://futures.example.test")
    assert outcome.failed
    diagnosis = outcome.result["diagnosis"]
    assert "api.kucoin.com could not be resolved; check key_info_url (for api=futures it defaults to" in diagnosis
    assert "check base_url" not in diagnosis
    given = check(
        UnresolvableHost("info.example.test"),
        api="futures",
        base_url="https://futures.example.test",
        key_info_url="https://info.example.test",
    )
    assert "check key_info_url for typos" in given.result["diagnosis"]
    spot = check(UnresolvableHost("spot.example.test"), base_url="https://spot.example.test")
    assert "check base_url for typos" in spot.result["diagnosis"]
