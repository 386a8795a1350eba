"""Every way a KuCoin call can fail, in one line: KuCoin's codes, HTML rate-limit pages, transport errors."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import ClockReading
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_diagnosis import KUCOIN_DIAGNOSES, diagnose
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import ErrorKind, KucoinCallError

NOW_MS = 1_780_000_000_000
URL = "https://api.kucoin.com/api/v1/user/api-key"

# --- diagnosis ------------------------------------------------------------------------------------------

EVERY_CODE = [f"40000{n}" for n in range(1, 10)] + ["400010", "400100", "411100", "429000", "500000"]
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
    "400100": "parameter",
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


def test_400009_names_the_key_version_used() -> None:
    line = diagnose(_error(ErrorKind.KUCOIN, kucoin_code="400009", http_status=400), timeout=1, key_version=3)
    assert "KC-API-KEY-VERSION" in line
    assert "key_version 3 was used" in line


@pytest.mark.parametrize("code", ["400301", "400303", "400399"])
def test_4003xx_are_account_restrictions(code: str) -> None:
    line = diagnose(_error(ErrorKind.KUCOIN, kucoin_code=code, http_status=403), timeout=1, key_version=3)
    assert f"restricts this account ({code})" in line
    assert "KYC" in line


def test_429000_advice_is_about_account_and_pool_quotas() -> None:
    line = diagnose(_error(ErrorKind.KUCOIN, kucoin_code="429000", http_status=429), timeout=1, key_version=3)
    assert "per account (UID)" in line
    assert "sub-account" in line
    assert "do not share one key" not in line


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, "<!DOCTYPE html><title>Access denied | api.kucoin.com used Cloudflare to restrict access</title>"),
        (403, "<html>error code: 1015 You are being rate limited</html>"),
    ],
)
def test_html_rate_limit_pages_are_rate_limits(status: int, body: str) -> None:
    error = _error(ErrorKind.MALFORMED, http_status=status, detail=body[:80], rate_limited=True)
    line = diagnose(error, timeout=1, key_version=3)
    assert "rate-limit page" in line
    assert "1015" in line
    assert "captive portal" not in line
