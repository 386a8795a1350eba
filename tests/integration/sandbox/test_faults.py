"""Faults on demand (per key or server-wide), observed through the SDK, ccxt and plain HTTP."""

from __future__ import annotations

import time

import ccxt
import pytest
import requests
from kucoin_universal_sdk.model.common import RestError

from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.procs import wait_for

from .clients import ccxt_signed, ccxt_spot, outcome, sdk_account_api

pytestmark = pytest.mark.sandbox


def test_rate_limit_answers_429_with_gateway_headers_then_recovers(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(rate_limit_count=2, rate_limit_reset_ms=1234)
    exchange = ccxt_spot(sandbox, key)
    for _attempt in range(2):
        with pytest.raises(ccxt.RateLimitExceeded, match="429000"):
            exchange.private_get_user_api_key()
        headers = {name.lower(): value for name, value in exchange.last_response_headers.items()}
        assert headers["gw-ratelimit-limit"] == "2000"  # key info draws on the Management pool
        assert headers["gw-ratelimit-remaining"] == "0"
        assert headers["gw-ratelimit-reset"] == "1234"
        assert outcome(sandbox) == (429, "429000")
    assert exchange.private_get_user_api_key()["code"] == "200000"
    headers = {name.lower(): value for name, value in exchange.last_response_headers.items()}
    assert int(headers["gw-ratelimit-remaining"]) == 2000 - 3 * 20  # three key-info requests of weight 20
    assert 0 < int(headers["gw-ratelimit-reset"]) <= 30_000
    assert [r.fault for r in sandbox.requests] == ["rate_limit", "rate_limit", None]


def test_rate_limit_seen_by_the_sdk(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3))
    sandbox.set_faults(key.api_key, rate_limit_count=1)
    with pytest.raises(RestError, match=r"Invalid status code: 429.*429000"):
        sdk_account_api(sandbox, key).get_apikey_info()
    assert sdk_account_api(sandbox, key).get_apikey_info().api_key == key.api_key


def test_server_errors_then_success(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(server_error_count=2)
    for _attempt in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            ccxt_spot(sandbox, key).private_get_user_api_key()
        assert outcome(sandbox) == (500, "500000")
    assert ccxt_spot(sandbox, key).private_get_user_api_key()["code"] == "200000"


def test_malformed_body(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3))
    sandbox.set_faults(malformed_count=3)
    with pytest.raises(RestError, match="Failed to parse common response JSON"):
        sdk_account_api(sandbox, key).get_apikey_info()
    # ccxt hands a non-JSON body back as a string rather than raising.
    raw = ccxt_spot(sandbox, key, headers={"KC-API-KEY-VERSION": "3"}).private_get_user_api_key()
    assert isinstance(raw, str)
    assert raw.startswith("<html>")
    reply = requests.get(f"{sandbox.spot_url}/api/v1/timestamp", timeout=10)
    assert reply.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 (requests' JSON error type varies by version)
        reply.json()
    assert [(r.http_status, r.code, r.fault) for r in sandbox.requests] == [(200, None, "malformed")] * 3
    assert requests.get(f"{sandbox.spot_url}/api/v1/timestamp", timeout=10).json()["code"] == "200000"


def test_dropped_connection(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3))
    sandbox.set_faults(drop_count=1)
    with pytest.raises(ccxt.NetworkError):
        ccxt_spot(sandbox, key, headers={"KC-API-KEY-VERSION": "3"}).private_get_user_api_key()
    assert outcome(sandbox) == (None, None)
    assert sandbox.requests[-1].fault == "drop"

    sandbox.set_faults(drop_count=1)
    with pytest.raises(RestError, match="Remote end closed connection without response"):
        sdk_account_api(sandbox, key, max_retries=0).get_apikey_info()
    # With its default max_retries the SDK's urllib3 retries a dropped GET, so one drop costs it nothing.
    sandbox.set_faults(drop_count=1)
    assert sdk_account_api(sandbox, key).get_apikey_info().api_key == key.api_key
    assert [r.http_status for r in sandbox.requests] == [None, None, None, 200]


def test_latency_delays_the_answer_and_trips_client_timeouts(sandbox: KucoinSandbox) -> None:
    slow = sandbox.add_key(make_key(key_version=2))
    fast = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(slow.api_key, latency_ms=600)

    started = time.monotonic()
    assert ccxt_spot(sandbox, slow).private_get_user_api_key()["code"] == "200000"
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    ccxt_spot(sandbox, fast).private_get_user_api_key()
    assert time.monotonic() - started < 0.5  # per-key latency leaves other keys alone

    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        ccxt_spot(sandbox, slow, timeout=150).private_get_user_api_key()  # ccxt timeout is in ms
    assert time.monotonic() - started < 0.55
    # The sandbox still answers (late) and records it.
    wait_for(lambda: len(sandbox.requests) == 3, timeout=5, what="the late answer's record")
    assert outcome(sandbox) == (200, "200000")


def test_server_wide_latency_applies_to_public_calls(sandbox: KucoinSandbox) -> None:
    sandbox.set_faults(latency_ms=400)
    started = time.monotonic()
    assert requests.get(f"{sandbox.spot_url}/api/v1/timestamp", timeout=10).json()["code"] == "200000"
    assert time.monotonic() - started >= 0.4


def test_per_key_counted_faults_come_before_server_wide_ones(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2))
    other = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(key.api_key, server_error_count=1)
    sandbox.set_faults(rate_limit_count=1)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    with pytest.raises(ccxt.RateLimitExceeded):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    assert ccxt_spot(sandbox, other).private_get_user_api_key()["code"] == "200000"
    assert [r.fault for r in sandbox.requests] == ["server_error", "rate_limit", None]
    assert sandbox.faults(key.api_key).server_error_count == 0
    assert sandbox.faults().rate_limit_count == 0


def test_per_key_clock_offset_adds_to_the_server_wide_one(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(clock_offset_ms=3500)
    assert ccxt_spot(sandbox, key).private_get_user_api_key()["code"] == "200000"
    sandbox.set_faults(key.api_key, clock_offset_ms=3500)
    with pytest.raises(ccxt.InvalidNonce):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    assert sandbox.server_time_ms(key.api_key) - sandbox.server_time_ms() == pytest.approx(3500, abs=50)


def test_fault_fields_are_checked(sandbox: KucoinSandbox) -> None:
    with pytest.raises(TypeError, match="clock_ofset_ms"):
        sandbox.set_faults(clock_ofset_ms=1)
    sandbox.set_faults(latency_ms=5)
    sandbox.clear_faults()
    assert sandbox.faults().latency_ms == 0


def test_faults_do_not_touch_the_signature_checks(sandbox: KucoinSandbox) -> None:
    """A request that survives the fault counters is still verified: a bad signature stays 400005."""
    key = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(latency_ms=50, rate_limit_count=1)
    request = ccxt_signed(ccxt_spot(sandbox, key), "accounts", "private", {"currency": "USDT"})
    assert requests.get(request["url"], headers=request["headers"], timeout=10).status_code == 429
    tampered = request["url"].replace("USDT", "BTC")
    reply = requests.get(tampered, headers=request["headers"], timeout=10)
    assert (reply.status_code, reply.json()["code"]) == (401, "400005")


def test_parameter_error_and_account_restrictions(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key())
    sandbox.set_faults(key.api_key, param_error_count=1)
    with pytest.raises(ccxt.BadRequest, match="400100"):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    assert outcome(sandbox) == (400, "400100")
    for code, exception in ((400303, ccxt.PermissionDenied), (400301, ccxt.ExchangeError)):
        sandbox.set_faults(key.api_key, restricted_count=1, restricted_code=code)
        with pytest.raises(exception, match=str(code)):
            ccxt_spot(sandbox, key).private_get_user_api_key()
        assert outcome(sandbox) == (400, str(code))
    sandbox.set_faults(key.api_key, restricted_count=1, restricted_code=400303)
    with pytest.raises(RestError, match="identity verification"):
        sdk_account_api(sandbox, key).get_apikey_info()
    assert ccxt_spot(sandbox, key).private_get_user_api_key()["code"] == "200000"


def test_cloudflare_rate_limit_page(sandbox: KucoinSandbox) -> None:
    sandbox.set_faults(cloudflare_count=1)
    reply = requests.get(f"{sandbox.spot_url}/api/v1/timestamp", timeout=10)
    assert reply.status_code == 429
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "Error 1015" in reply.text
    assert "You are being rate limited" in reply.text
    assert sandbox.requests[-1].fault == "cloudflare_1015"
    key = sandbox.add_key(make_key())
    sandbox.set_faults(cloudflare_count=1)
    with pytest.raises(ccxt.RateLimitExceeded):  # ccxt reads any 429 as a rate limit
        ccxt_spot(sandbox, key).private_get_user_api_key()


def test_trickle_sends_the_answer_byte_by_byte(sandbox: KucoinSandbox) -> None:
    slow = sandbox.add_key(make_key())
    sandbox.set_faults(slow.api_key, trickle_ms=20)
    started = time.monotonic()
    assert ccxt_spot(sandbox, slow).private_get_user_api_key()["code"] == "200000"
    assert time.monotonic() - started > 2, "a few hundred bytes at 20 ms each"
    # Every single read is quick, so a per-read timeout does not trip: only a deadline on the whole call does.
    started = time.monotonic()
    assert ccxt_spot(sandbox, slow, timeout=500).private_get_user_api_key()["code"] == "200000"
    assert time.monotonic() - started > 2


def test_service_status_is_settable_per_listener(sandbox: KucoinSandbox) -> None:
    assert requests.get(f"{sandbox.spot_url}/api/v1/status", timeout=10).json()["data"] == {
        "status": "open",
        "msg": "",
    }
    sandbox.set_service_status("close", "maintenance", listener="futures")
    assert requests.get(f"{sandbox.futures_url}/api/v1/status", timeout=10).json()["data"]["status"] == "close"
    assert requests.get(f"{sandbox.spot_url}/api/v1/status", timeout=10).json()["data"]["status"] == "open"
    with pytest.raises(ValueError, match="cancelonly"):
        sandbox.set_service_status("paused")
