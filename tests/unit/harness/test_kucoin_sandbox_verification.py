"""The sandbox's own verification code, pinned to KuCoin's documented example and to requests that
kucoin-universal-sdk and ccxt build themselves (clocks pinned, nothing sent)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

import ccxt
import pytest
from kucoin_universal_sdk.generate.account.account.model_get_spot_account_list_req import (
    GetSpotAccountListReqBuilder,
)
from kucoin_universal_sdk.internal.infra import default_signer
from kucoin_universal_sdk.internal.infra.default_transport import DefaultTransport
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder

from harness.kucoin_sandbox import (
    SandboxKey,
    check_auth,
    expected_passphrase,
    hmac_b64,
    ip_allowed,
    key_info,
    make_key,
    mask_ip,
    prehash,
)

NOW_MS = 1547015186532


def test_kucoin_documented_example() -> None:
    data = prehash("1547015186532", "POST", "/api/v1/deposit-addresses", "", b'{"currency":"BTC"}')
    assert data == b'1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}'
    assert hmac_b64("f03a5284-5c39-4aaa-9b20-dea10bdcf8e3", data) == "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="


def test_prehash_uses_the_percent_decoded_query() -> None:
    assert prehash("1", "get", "/api/v1/accounts", "currency=BTC%3AUSDT%2Cx", b"") == (
        b"1GET/api/v1/accounts?currency=BTC:USDT,x"
    )
    assert prehash("1", "GET", "/api/v1/user/api-key", "", b"") == b"1GET/api/v1/user/api-key"


def test_passphrase_forms() -> None:
    plain = SandboxKey("k", "s3cret", "pass", key_version=1)
    assert expected_passphrase(plain) == "pass"
    for version in (2, 3):
        signed = SandboxKey("k", "s3cret", "pass", key_version=version)
        assert expected_passphrase(signed) == hmac_b64("s3cret", b"pass")
        assert expected_passphrase(signed) != "pass"


@pytest.mark.parametrize(
    ("ip", "whitelist", "allowed"),
    [
        ("127.0.0.1", (), True),
        ("127.0.0.1", ("127.0.0.1",), True),
        ("127.0.0.1", ("10.0.0.1", " 127.0.0.0/8"), True),
        ("127.0.0.2", ("127.0.0.1",), False),
        ("::1", ("127.0.0.1",), False),
        ("::1", ("::1",), True),
        ("127.0.0.1", ("not-an-ip",), False),
    ],
)
def test_ip_allowed(ip: str, whitelist: tuple[str, ...], allowed: bool) -> None:
    assert ip_allowed(ip, whitelist) is allowed


def test_repr_hides_secret_and_passphrase() -> None:
    key = make_key()
    assert key.secret not in repr(key)
    assert key.passphrase not in repr(key)
    assert key.api_key in repr(key)


def test_from_mapping_turns_lists_into_tuples() -> None:
    key = SandboxKey.from_mapping(
        {"api_key": "a", "secret": "s", "passphrase": "p", "permissions": ["General"], "ip_whitelist": ["1.2.3.4"]}
    )
    assert key.permissions == ("General",)
    assert key.ip_whitelist == ("1.2.3.4",)


def test_key_info_master_and_sub_account() -> None:
    master = key_info(SandboxKey("a", "s", "p", permissions=("General", "Spot"), created_at_ms=5))
    assert master["isMaster"] is True
    assert "subName" not in master
    assert (master["permission"], master["ipWhitelist"], master["createdAt"]) == ("General,Spot", "", 5)
    sub = key_info(SandboxKey("b", "s", "p", sub_name="bot1", ip_whitelist=("1.2.3.4", "5.6.7.8")))
    # KuCoin masks the middle of each whitelisted address in key information.
    assert (sub["isMaster"], sub["subName"], sub["ipWhitelist"]) == (False, "bot1", "1.**.4,5.**.8")
    assert sub["uid"] != master["uid"]


# --- requests built by the third-party clients ------------------------------------------------------------


def sdk_request(
    monkeypatch: pytest.MonkeyPatch, key: SandboxKey, currency: str, now_ms: int = NOW_MS
) -> tuple[str, str, dict[str, str]]:
    """(path, raw query, lower-case KC headers) of the SDK's spot-accounts request at a pinned time."""
    monkeypatch.setattr(default_signer, "time", SimpleNamespace(time=lambda: now_ms / 1000))
    option = (
        ClientOptionBuilder()
        .set_key(key.api_key)
        .set_secret(key.secret)
        .set_passphrase(key.passphrase)
        .set_spot_endpoint("https://api.kucoin.com")
        .build()
    )
    transport = DefaultTransport(option, "test")
    request_obj = GetSpotAccountListReqBuilder().set_currency(currency).build()
    prepared = transport.process_request(
        request_obj,
        broker=False,
        path="/api/v1/accounts",
        endpoint="https://api.kucoin.com",
        method="GET",
        request_as_json=False,
    )
    url = urlsplit(prepared.url)
    headers = {name.lower(): value for name, value in prepared.headers.items() if name.lower().startswith("kc-")}
    return url.path, url.query, headers


def ccxt_request(key: SandboxKey, params: dict[str, str], now_ms: int = NOW_MS) -> tuple[str, str, dict[str, str]]:
    exchange = ccxt.kucoin({"apiKey": key.api_key, "secret": key.secret, "password": key.passphrase})
    exchange.nonce = lambda: now_ms  # pin ccxt's clock
    signed = exchange.sign("accounts", ["private"], "GET", dict(params))
    url = urlsplit(signed["url"])
    return url.path, url.query, {name.lower(): value for name, value in signed["headers"].items()}


def verify(key: SandboxKey, path: str, query: str, headers: dict[str, str], now_ms: int = NOW_MS) -> str | None:
    _accepted, error = check_auth(
        keys={key.api_key: key},
        method="GET",
        path=path,
        raw_query=query,
        body=b"",
        headers=headers,
        client_ip="127.0.0.1",
        server_now_ms=now_ms,
        required_permission="General",
    )
    return error.code if error else None


@pytest.mark.parametrize("currency", ["BTC", "BTC:USDT/x,y"])
def test_sdk_requests_verify(monkeypatch: pytest.MonkeyPatch, currency: str) -> None:
    key = make_key(key_version=3)
    path, query, headers = sdk_request(monkeypatch, key, currency)
    assert headers["kc-api-timestamp"] == str(NOW_MS)
    assert verify(key, path, query, headers) is None
    assert verify(key, path, query.replace("BTC", "ETH"), headers) == "400005"


@pytest.mark.parametrize("currency", ["BTC", "BTC:USDT/x,y"])
def test_ccxt_requests_verify(currency: str) -> None:
    key = make_key(key_version=2)
    path, query, headers = ccxt_request(key, {"currency": currency})
    assert verify(key, path, query, headers) is None
    assert verify(key, path, query + "&type=main", headers) == "400005"


def test_timestamp_window_is_5_seconds_inclusive() -> None:
    key = make_key(key_version=2)
    path, query, headers = ccxt_request(key, {})
    assert verify(key, path, query, headers, now_ms=NOW_MS + 5000) is None
    assert verify(key, path, query, headers, now_ms=NOW_MS - 5000) is None
    assert verify(key, path, query, headers, now_ms=NOW_MS + 5001) == "400002"
    assert verify(key, path, query, headers, now_ms=NOW_MS - 5001) == "400002"


def test_each_check_in_order() -> None:
    """Every failing property at once, then fixed one by one: the codes come out in the exchange's order."""
    key = make_key(key_version=2, frozen=True, ip_whitelist=("10.0.0.1",), permissions=("Spot",))
    path, query, good = ccxt_request(key, {})
    broken = dict(good, **{"kc-api-passphrase": "nope", "kc-api-sign": "bad"})
    assert verify(key, path, query, {k: v for k, v in broken.items() if k != "kc-api-sign"}) == "400001"
    assert verify(key, path, query, broken, now_ms=NOW_MS + 9000) == "400002"
    assert verify(SandboxKey("other", "s", "p"), path, query, broken) == "400003"
    assert verify(key, path, query, broken) == "400004"
    assert verify(key, path, query, dict(broken, **{"kc-api-passphrase": good["kc-api-passphrase"]})) == "400005"
    assert verify(key, path, query, good) == "411100"
    key.frozen = False
    assert verify(key, path, query, good) == "400006"
    key.ip_whitelist = ()
    assert verify(key, path, query, good) == "400007"
    key.permissions = ("General",)
    assert verify(key, path, query, good) is None


@pytest.mark.parametrize("version", [2, 3])
def test_headers_2_and_3_are_interchangeable_for_version_2_and_3_keys(version: int) -> None:
    key = make_key(key_version=version)
    path, query, headers = ccxt_request(key, {})  # ccxt sends version 2 with the HMAC passphrase
    assert verify(key, path, query, headers) is None
    assert verify(key, path, query, dict(headers, **{"kc-api-key-version": "3"})) is None
    # Version 1 means a plain passphrase: the HMAC one no longer matches.
    assert verify(key, path, query, dict(headers, **{"kc-api-key-version": "1"})) == "400004"


@pytest.mark.parametrize("header", ["x", "4", "0", "v3"])
def test_an_invalid_version_header_is_400009(header: str) -> None:
    key = make_key(key_version=3)
    path, query, headers = ccxt_request(key, {})
    assert verify(key, path, query, dict(headers, **{"kc-api-key-version": header})) == "400009"


def test_a_version_1_key_needs_header_1_or_none() -> None:
    key = make_key(key_version=1)
    path, query, headers = ccxt_request(key, {})
    plain = dict(headers, **{"kc-api-passphrase": key.passphrase})
    assert verify(key, path, query, dict(plain, **{"kc-api-key-version": "1"})) is None
    assert verify(key, path, query, {k: v for k, v in plain.items() if k != "kc-api-key-version"}) is None
    assert verify(key, path, query, plain) == "400004"  # header 2


@pytest.mark.parametrize(("entry", "shown"), [("203.0.113.154", "203.**.154"), ("10.0.0.1", "10.**.1"), ("::1", "::1")])
def test_whitelist_entries_are_masked_as_kucoin_shows_them(entry: str, shown: str) -> None:
    assert mask_ip(entry) == shown
