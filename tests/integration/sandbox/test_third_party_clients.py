"""The sandbox, driven by clients no one here wrote: the official kucoin-universal-sdk and ccxt."""

from __future__ import annotations

import ccxt
import pytest
from kucoin_universal_sdk.generate.account.account.model_get_futures_account_req import GetFuturesAccountReqBuilder
from kucoin_universal_sdk.generate.account.account.model_get_spot_account_list_req import (
    GetSpotAccountListReqBuilder,
)
from kucoin_universal_sdk.model.common import RestError

from harness.kucoin_sandbox import KucoinSandbox, expected_passphrase, make_key

from .clients import ccxt_futures, ccxt_signed, ccxt_spot, outcome, sdk_account_api, send, shift_sdk_clock

pytestmark = pytest.mark.sandbox

KEY_INFO = "/api/v1/user/api-key"
ACCOUNTS = "/api/v1/accounts"
OVERVIEW = "/api/v1/account-overview"


def usdt_overview() -> object:
    return GetFuturesAccountReqBuilder().set_currency("USDT").build()


# --- accepted ------------------------------------------------------------------------------------------


def test_sdk_signed_calls_are_accepted(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3, permissions=("General", "Futures"), remark="sdk"))
    api = sdk_account_api(sandbox, key)

    info = api.get_apikey_info()
    assert (info.api_key, info.api_version, info.permission, info.is_master) == (
        key.api_key,
        3,
        "General,Futures",
        True,
    )
    assert info.remark == "sdk"
    assert info.ip_whitelist == ""
    assert info.created_at == key.created_at_ms
    assert info.sub_name is None
    # The SDK reads the gw-ratelimit-* headers of every answer: key info is in the Management pool, weight 20.
    assert info.common_response.rate_limit.limit == 2000
    assert info.common_response.rate_limit.remaining == 2000 - 20

    accounts = api.get_spot_account_list(GetSpotAccountListReqBuilder().set_currency("USDT").build())
    assert [account.currency for account in accounts.data] == ["USDT"]
    overview = api.get_futures_account(usdt_overview())
    assert overview.currency == "USDT"
    assert overview.common_response.rate_limit.limit == 2000

    assert [(r.listener, r.path, r.api_key, r.http_status, r.code) for r in sandbox.requests] == [
        ("spot", KEY_INFO, key.api_key, 200, "200000"),
        ("spot", ACCOUNTS, key.api_key, 200, "200000"),
        ("futures", OVERVIEW, key.api_key, 200, "200000"),
    ]


def test_ccxt_signed_calls_are_accepted(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2, permissions=("General", "Spot", "Futures"), sub_name="grid-btc"))

    info = ccxt_spot(sandbox, key).private_get_user_api_key()
    assert info["code"] == "200000"
    assert info["data"]["apiKey"] == key.api_key
    assert info["data"]["permission"] == "General,Spot,Futures"
    assert info["data"]["isMaster"] is False
    assert info["data"]["subName"] == "grid-btc"
    assert ccxt_spot(sandbox, key).private_get_accounts({"type": "main"})["data"][0]["currency"] == "BTC"
    overview = ccxt_futures(sandbox, key).futuresprivate_get_account_overview({"currency": "USDT"})
    assert overview["data"]["currency"] == "USDT"
    assert [(r.listener, r.http_status, r.code) for r in sandbox.requests] == [
        ("spot", 200, "200000"),
        ("spot", 200, "200000"),
        ("futures", 200, "200000"),
    ]


def test_query_that_needs_percent_encoding_is_verified_decoded(sandbox: KucoinSandbox) -> None:
    """The SDK signs `k=v` raw and sends it url-encoded; ccxt signs and sends it raw. Both must pass."""
    key = sandbox.add_key(make_key(key_version=3))
    awkward = "BTC:USDT/x,y"
    sdk_reply = sdk_account_api(sandbox, key).get_spot_account_list(
        GetSpotAccountListReqBuilder().set_currency(awkward).build()
    )
    assert sdk_reply.data == []
    assert "%3A" in sandbox.requests[-1].query  # really sent encoded
    ccxt_reply = ccxt_spot(sandbox, key, headers={"KC-API-KEY-VERSION": "3"}).private_get_accounts(
        {"currency": awkward}
    )
    assert ccxt_reply["code"] == "200000"
    assert [r.code for r in sandbox.requests] == ["200000", "200000"]


def test_public_server_time_moves_with_the_clock_offset(sandbox: KucoinSandbox) -> None:
    exchange = ccxt_spot(sandbox, make_key())
    before = exchange.milliseconds()
    plain = exchange.public_get_timestamp()["data"]
    assert abs(plain - before) < 2000
    sandbox.set_faults(clock_offset_ms=60_000)
    shifted = exchange.public_get_timestamp()["data"]
    assert 58_000 < shifted - exchange.milliseconds() < 62_000
    futures = ccxt_futures(sandbox, make_key()).futurespublic_get_timestamp()["data"]
    assert 58_000 < futures - exchange.milliseconds() < 62_000


# --- key versions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
def test_version_2_and_3_keys_work_with_both_clients(sandbox: KucoinSandbox, version: int) -> None:
    """ccxt sends KC-API-KEY-VERSION 2 for every key and the official SDK 3; KuCoin accepts either for keys
    of version 2 and 3 (both use the HMAC passphrase), so both clients work against the real exchange."""
    key = sandbox.add_key(make_key(key_version=version))
    assert sdk_account_api(sandbox, key).get_apikey_info().api_version == version
    assert ccxt_spot(sandbox, key).private_get_user_api_key()["data"]["apiVersion"] == version
    assert ccxt_spot(sandbox, key, headers={"KC-API-KEY-VERSION": "3"}).private_get_user_api_key()["code"] == "200000"
    assert [r.code for r in sandbox.requests] == ["200000"] * 3


def test_an_invalid_version_header_is_400009(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3))
    with pytest.raises(ccxt.ExchangeError, match="400009"):
        ccxt_spot(sandbox, key, headers={"KC-API-KEY-VERSION": "4"}).private_get_user_api_key()
    assert outcome(sandbox) == (400, "400009")


def test_key_version_1_plain_passphrase(sandbox: KucoinSandbox) -> None:
    """Neither client signs version 1 keys any more; ccxt's request is sent with the two headers version 1 uses
    (plain passphrase, version 1 or no version header). The signature is still ccxt's."""
    key = sandbox.add_key(make_key(key_version=1))
    request = ccxt_signed(ccxt_spot(sandbox, key), "user/api-key", "private")
    reply = send(request, {"KC-API-PASSPHRASE": key.passphrase, "KC-API-KEY-VERSION": "1"})
    assert (reply.status_code, reply.json()["data"]["apiVersion"]) == (200, 1)
    reply = send(request, {"KC-API-PASSPHRASE": key.passphrase, "KC-API-KEY-VERSION": None})
    assert reply.json()["code"] == "200000"
    # ccxt as is sends the HMAC form, which a version 1 key does not accept.
    with pytest.raises(ccxt.AuthenticationError, match="400004"):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    assert [(r.http_status, r.code) for r in sandbox.requests] == [(200, "200000"), (200, "200000"), (401, "400004")]


# --- rejected: credentials and clock --------------------------------------------------------------------


@pytest.mark.parametrize("client", ["sdk", "ccxt"])
def test_wrong_passphrase_is_400004(sandbox: KucoinSandbox, client: str) -> None:
    key = sandbox.add_key(make_key(key_version=3 if client == "sdk" else 2, permissions=("General", "Futures")))
    if client == "sdk":
        with pytest.raises(RestError, match="Invalid status code: 401"):
            sdk_account_api(sandbox, key, passphrase="not-the-passphrase").get_apikey_info()
        assert outcome(sandbox, KEY_INFO) == (401, "400004")
        with pytest.raises(RestError, match="400004"):
            sdk_account_api(sandbox, key, passphrase="not-the-passphrase").get_futures_account(usdt_overview())
    else:
        with pytest.raises(ccxt.AuthenticationError, match="400004"):
            ccxt_spot(sandbox, key, password="not-the-passphrase").private_get_user_api_key()
        assert outcome(sandbox, KEY_INFO) == (401, "400004")
        with pytest.raises(ccxt.AuthenticationError, match="400004"):
            ccxt_futures(sandbox, key, password="not-the-passphrase").futuresprivate_get_account_overview(
                {"currency": "USDT"}
            )
    assert outcome(sandbox, OVERVIEW) == (401, "400004")


@pytest.mark.parametrize("client", ["sdk", "ccxt"])
def test_wrong_secret(sandbox: KucoinSandbox, client: str) -> None:
    """Versions 2 and 3 sign the passphrase with the secret, so a wrong secret fails the passphrase check
    (400004) before the signature check; with a version 1 key it is a signature error (400005)."""
    key = sandbox.add_key(make_key(key_version=3 if client == "sdk" else 2, permissions=("General", "Futures")))
    if client == "sdk":
        with pytest.raises(RestError, match="Invalid status code: 401"):
            sdk_account_api(sandbox, key, secret="not-the-secret").get_apikey_info()
        with pytest.raises(RestError, match="400004"):
            sdk_account_api(sandbox, key, secret="not-the-secret").get_futures_account(usdt_overview())
    else:
        with pytest.raises(ccxt.AuthenticationError, match="400004"):
            ccxt_spot(sandbox, key, secret="not-the-secret").private_get_user_api_key()
        with pytest.raises(ccxt.AuthenticationError, match="400004"):
            ccxt_futures(sandbox, key, secret="not-the-secret").futuresprivate_get_account_overview(
                {"currency": "USDT"}
            )
    assert outcome(sandbox, KEY_INFO) == (401, "400004")
    assert outcome(sandbox, OVERVIEW) == (401, "400004")


def test_wrong_secret_is_a_signature_error_once_the_passphrase_passes(sandbox: KucoinSandbox) -> None:
    v1 = sandbox.add_key(make_key(key_version=1))
    request = ccxt_signed(ccxt_spot(sandbox, v1, secret="not-the-secret"), "user/api-key", "private")
    reply = send(request, {"KC-API-PASSPHRASE": v1.passphrase, "KC-API-KEY-VERSION": "1"})
    assert (reply.status_code, reply.json()["code"]) == (401, "400005")

    v2 = sandbox.add_key(make_key(key_version=2))
    good = ccxt_signed(ccxt_spot(sandbox, v2), "user/api-key", "private")
    bad = ccxt_signed(ccxt_spot(sandbox, v2, secret="not-the-secret"), "user/api-key", "private")
    reply = send(bad, {"KC-API-PASSPHRASE": good["headers"]["KC-API-PASSPHRASE"]})
    assert (reply.status_code, reply.json()["code"]) == (401, "400005")
    # A correctly signed request replayed with another query no longer matches its signature.
    signed = ccxt_signed(ccxt_spot(sandbox, v2), "accounts", "private", {"currency": "USDT"})
    tampered = dict(signed, url=signed["url"].replace("USDT", "BTC"))
    assert send(signed).json()["code"] == "200000"
    assert send(tampered).json()["code"] == "400005"
    assert [(r.http_status, r.code) for r in sandbox.requests] == [
        (401, "400005"),
        (401, "400005"),
        (200, "200000"),
        (401, "400005"),
    ]


@pytest.mark.parametrize("client", ["sdk", "ccxt"])
@pytest.mark.parametrize("where", ["sandbox", "client"])
def test_clock_moved_by_6_seconds_is_400002(
    sandbox: KucoinSandbox, monkeypatch: pytest.MonkeyPatch, client: str, where: str
) -> None:
    key = sandbox.add_key(make_key(key_version=3 if client == "sdk" else 2, permissions=("General", "Futures")))
    if where == "sandbox":
        sandbox.set_faults(clock_offset_ms=6000)
    if client == "sdk":
        if where == "client":
            shift_sdk_clock(monkeypatch, -6)
        with pytest.raises(RestError, match="Invalid status code: 400"):
            sdk_account_api(sandbox, key).get_apikey_info()
        with pytest.raises(RestError, match="400002"):
            sdk_account_api(sandbox, key).get_futures_account(usdt_overview())
    else:
        shift = {"options": {"timeDifference": 6000}} if where == "client" else {}  # ccxt: nonce = now - diff
        with pytest.raises(ccxt.InvalidNonce, match="400002"):
            ccxt_spot(sandbox, key, **shift).private_get_user_api_key()
        with pytest.raises(ccxt.InvalidNonce, match="400002"):
            ccxt_futures(sandbox, key, **shift).futuresprivate_get_account_overview({"currency": "USDT"})
    assert outcome(sandbox, KEY_INFO) == (400, "400002")
    assert outcome(sandbox, OVERVIEW) == (400, "400002")


@pytest.mark.parametrize("offset_ms", [4000, -4000])
def test_clock_within_the_5_second_window_is_accepted(sandbox: KucoinSandbox, offset_ms: int) -> None:
    key = sandbox.add_key(make_key(key_version=3))
    sandbox.set_faults(key.api_key, clock_offset_ms=offset_ms)
    assert sdk_account_api(sandbox, key).get_apikey_info().api_key == key.api_key
    sandbox.set_faults(key.api_key, clock_offset_ms=-1 * (offset_ms + offset_ms // 2))  # 6 s the other way
    with pytest.raises(RestError, match="400002"):
        sdk_account_api(sandbox, key).get_apikey_info()


def test_unknown_key_is_400003(sandbox: KucoinSandbox) -> None:
    stranger = make_key(key_version=3)  # never added
    with pytest.raises(RestError, match="Invalid status code: 401"):
        sdk_account_api(sandbox, stranger).get_apikey_info()
    assert outcome(sandbox) == (401, "400003")
    with pytest.raises(ccxt.AuthenticationError, match="400003"):
        ccxt_spot(sandbox, stranger).private_get_user_api_key()
    assert outcome(sandbox) == (401, "400003")
    assert sandbox.requests[-1].api_key == stranger.api_key


# --- rejected: key policy ----------------------------------------------------------------------------------


def test_ip_not_on_the_whitelist_is_400006_naming_the_client_ip(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3, ip_whitelist=("10.20.30.40", "192.0.2.0/24")))
    with pytest.raises(ccxt.AuthenticationError) as raised:
        ccxt_spot(sandbox, key, headers={"KC-API-KEY-VERSION": "3"}).private_get_user_api_key()
    assert "400006" in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
    assert outcome(sandbox) == (403, "400006")
    with pytest.raises(RestError, match=r"Invalid status code: 403.*client IP is: 127\.0\.0\.1"):
        sdk_account_api(sandbox, key).get_apikey_info()

    allowed = sandbox.add_key(make_key(key_version=3, ip_whitelist=("10.20.30.40", "127.0.0.1")))
    # Key information shows the whitelist masked, as KuCoin does.
    assert sdk_account_api(sandbox, allowed).get_apikey_info().ip_whitelist == "10.**.40,127.**.1"
    network = sandbox.add_key(make_key(key_version=3, ip_whitelist=("127.0.0.0/8",)))
    assert sdk_account_api(sandbox, network).get_apikey_info().api_key == network.api_key
    assert [r.http_status for r in sandbox.requests] == [403, 403, 200, 200]


def test_missing_futures_permission_is_400007(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=3, permissions=("General", "Spot")))
    api = sdk_account_api(sandbox, key)
    assert api.get_apikey_info().permission == "General,Spot"  # key info needs only General
    with pytest.raises(RestError, match="Invalid status code: 403"):
        api.get_futures_account(usdt_overview())
    assert outcome(sandbox, OVERVIEW) == (403, "400007")
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        ccxt_futures(sandbox, key, headers={"KC-API-KEY-VERSION": "3"}).futuresprivate_get_account_overview(
            {"currency": "USDT"}
        )
    assert outcome(sandbox, OVERVIEW) == (403, "400007")


def test_frozen_key_is_411100(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2, frozen=True))
    with pytest.raises(ccxt.AccountSuspended, match="411100"):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    assert outcome(sandbox) == (403, "411100")
    key.frozen = False  # the sandbox holds the object: unfreezing takes effect at once
    assert ccxt_spot(sandbox, key).private_get_user_api_key()["code"] == "200000"


def test_checks_run_in_the_exchange_order(sandbox: KucoinSandbox) -> None:
    """A frozen key with a wrong passphrase from a non-whitelisted IP reports the passphrase first, etc."""
    key = sandbox.add_key(make_key(key_version=2, frozen=True, ip_whitelist=("10.0.0.1",), permissions=()))
    with pytest.raises(ccxt.AuthenticationError, match="400004"):
        ccxt_spot(sandbox, key, password="wrong").private_get_user_api_key()
    with pytest.raises(ccxt.AccountSuspended, match="411100"):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    key.frozen = False
    with pytest.raises(ccxt.AuthenticationError, match="400006"):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    key.ip_whitelist = ()
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        ccxt_spot(sandbox, key).private_get_user_api_key()
    sandbox.set_faults(clock_offset_ms=-10_000)
    with pytest.raises(ccxt.InvalidNonce, match="400002"):
        ccxt_spot(sandbox, key, password="wrong").private_get_user_api_key()
    assert [r.code for r in sandbox.requests] == ["400004", "411100", "400006", "400007", "400002"]


# --- malformed headers and routing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"KC-API-KEY": None},
        {"KC-API-SIGN": None},
        {"KC-API-TIMESTAMP": None},
        {"KC-API-PASSPHRASE": None},
        {"KC-API-SIGN": ""},
        {"KC-API-TIMESTAMP": "yesterday"},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_missing_or_malformed_headers_are_400001(sandbox: KucoinSandbox, change: dict[str, str | None]) -> None:
    key = sandbox.add_key(make_key(key_version=2))
    request = ccxt_signed(ccxt_spot(sandbox, key), "user/api-key", "private")
    assert send(request).json()["code"] == "200000"  # as ccxt built it, it passes
    reply = send(request, change)
    assert (reply.status_code, reply.json()["code"]) == (400, "400001")
    assert outcome(sandbox) == (400, "400001")


def test_unknown_path_and_wrong_listener_are_404(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key(key_version=2))
    with pytest.raises(ccxt.NotSupported, match="404000"):
        ccxt_spot(sandbox, key).private_get_user_info()
    assert outcome(sandbox) == (404, "404000")
    # The key-info call lives on the spot host only.
    request = ccxt_signed(ccxt_spot(sandbox, key), "user/api-key", "private")
    reply = send(dict(request, url=request["url"].replace(sandbox.spot_url, sandbox.futures_url)))
    assert (reply.status_code, reply.json()["code"]) == (404, "404000")
    assert sandbox.requests[-1].listener == "futures"


# --- what never leaves the sandbox ---------------------------------------------------------------------------


def test_records_and_output_carry_no_secret(sandbox: KucoinSandbox, capfd: pytest.CaptureFixture[str]) -> None:
    key = sandbox.add_key(make_key(key_version=3, permissions=("General", "Futures")))
    api = sdk_account_api(sandbox, key)
    api.get_apikey_info()
    api.get_futures_account(usdt_overview())
    with pytest.raises(RestError):
        sdk_account_api(sandbox, key, passphrase="wrong").get_apikey_info()
    captured = capfd.readouterr()
    seen = repr(sandbox.requests) + repr(sandbox.keys) + repr(key) + captured.out + captured.err
    for secret in (key.secret, key.passphrase, expected_passphrase(key)):
        assert secret not in seen
    assert key.api_key in seen


def test_keys_and_faults_are_isolated_per_key(sandbox: KucoinSandbox) -> None:
    faulty = sandbox.add_key(make_key(key_version=2))
    healthy = sandbox.add_key(make_key(key_version=2))
    sandbox.set_faults(faulty.api_key, server_error_count=1)
    assert ccxt_spot(sandbox, healthy).private_get_user_api_key()["code"] == "200000"
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ccxt_spot(sandbox, faulty).private_get_user_api_key()
    assert ccxt_spot(sandbox, faulty).private_get_user_api_key()["code"] == "200000"
    sandbox.remove_key(healthy.api_key)
    with pytest.raises(ccxt.AuthenticationError, match="400003"):
        ccxt_spot(sandbox, healthy).private_get_user_api_key()
    assert [(r.api_key == faulty.api_key, r.http_status) for r in sandbox.requests] == [
        (False, 200),
        (True, 500),
        (True, 200),
        (False, 401),
    ]
