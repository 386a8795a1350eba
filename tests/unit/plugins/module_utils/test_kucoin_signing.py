"""The one signing function, pinned to KuCoin's documented example and to headers that the official
kucoin-universal-sdk and ccxt produce in the test itself (their clocks pinned)."""

from __future__ import annotations

import warnings
from typing import Any
from urllib.parse import unquote, urlsplit

import ccxt
import pytest

with warnings.catch_warnings():
    # The SDK's generated pydantic models warn on import; that noise is theirs.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kucoin_universal_sdk.api.client import DefaultClient
    from kucoin_universal_sdk.generate.account.account.model_get_futures_account_req import GetFuturesAccountReq
    from kucoin_universal_sdk.generate.account.account.model_get_spot_ledger_req import GetSpotLedgerReq
    from kucoin_universal_sdk.generate.account.deposit.model_add_deposit_address_v1_req import AddDepositAddressV1Req
    from kucoin_universal_sdk.internal.infra import default_signer
    from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
    from kucoin_universal_sdk.model.transport_option import Interceptor, TransportOptionBuilder

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import (
    Credentials,
    encoded_endpoint,
    hmac_base64,
    passphrase_header,
    prehash,
    raw_endpoint,
    signed_headers,
    unsendable_fields,
)

DOC_SECRET = "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3"
DOC_TIMESTAMP = 1547015186532
DOC_SIGNATURE = "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="
PINNED_MS = 1767225600123
CREDS = {"api_key": "65a1b2c3d4e5f60718293a4b", "api_secret": DOC_SECRET, "api_passphrase": "pass-phrase-Z9"}
# Characters a query must percent-encode on the wire but sign raw: ',', '/', ' ', '+', ':', '&'-free unicode.
AWKWARD_QUERY = {"currency": "BTC,USDT", "bizType": "Sub Account/Transfer+1 é", "startAt": 1767225600000}
# The SDK's generated pydantic models warn on import; that noise is theirs.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
FIVE_HEADERS = {"KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE", "KC-API-KEY-VERSION"}


def test_kucoin_documented_example() -> None:
    text = prehash(DOC_TIMESTAMP, "post", "/api/v1/deposit-addresses", '{"currency":"BTC"}')
    assert text == '1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}'
    assert hmac_base64(DOC_SECRET, text) == DOC_SIGNATURE
    creds = Credentials(**CREDS, key_version=2)
    headers = signed_headers(creds, "POST", "/api/v1/deposit-addresses", '{"currency":"BTC"}', DOC_TIMESTAMP)
    assert headers["KC-API-SIGN"] == DOC_SIGNATURE
    assert headers["KC-API-TIMESTAMP"] == "1547015186532"
    assert set(headers) == FIVE_HEADERS


def test_passphrase_is_plain_for_version_1_and_hmac_for_2_and_3() -> None:
    expected_hmac = hmac_base64(DOC_SECRET, "pass-phrase-Z9")
    assert passphrase_header(DOC_SECRET, "pass-phrase-Z9", 1) == "pass-phrase-Z9"
    assert passphrase_header(DOC_SECRET, "pass-phrase-Z9", 2) == expected_hmac
    assert passphrase_header(DOC_SECRET, "pass-phrase-Z9", 3) == expected_hmac
    signatures = set()
    for version in (1, 2, 3):
        headers = signed_headers(Credentials(**CREDS, key_version=version), "GET", "/api/v1/user/api-key", "", 1)
        assert headers["KC-API-KEY-VERSION"] == str(version)
        signatures.add(headers["KC-API-SIGN"])
    assert len(signatures) == 1, "the request signature does not depend on the key version"


def test_bad_key_version_is_refused() -> None:
    with pytest.raises(ValueError, match="key_version"):
        Credentials(**CREDS, key_version=4)


def test_secrets_stay_out_of_repr() -> None:
    text = repr(Credentials(**CREDS))
    assert DOC_SECRET not in text
    assert "pass-phrase-Z9" not in text
    assert CREDS["api_key"] not in text  # only a masked form is ever shown


@pytest.mark.parametrize(
    ("api_key", "passphrase", "version", "unsendable"),
    [
        ("key", "pass phrase", 1, []),
        ("key\n", "pass", 2, ["api_key"]),
        (" key", "pass", 2, ["api_key"]),
        ("key", "pass\n", 1, ["api_passphrase"]),
        ("key", "pass\r\nX: y", 1, ["api_passphrase"]),
        ("key", "pässword", 1, ["api_passphrase"]),
        ("key", "pass\x00", 1, ["api_passphrase"]),
        ("key", " pass\n", 2, []),  # versions 2 and 3 send only its HMAC
        ("k\tey", "pass\n", 1, ["api_key", "api_passphrase"]),
    ],
)
def test_values_that_cannot_travel_in_a_header(api_key: str, passphrase: str, version: int, unsendable: list) -> None:
    creds = Credentials(api_key=api_key, api_secret="s", api_passphrase=passphrase, key_version=version)
    assert unsendable_fields(creds) == unsendable


def test_wire_query_decodes_to_the_signed_query() -> None:
    raw = raw_endpoint("/api/v1/accounts/ledgers", AWKWARD_QUERY)
    wire = encoded_endpoint("/api/v1/accounts/ledgers", AWKWARD_QUERY)
    assert raw == "/api/v1/accounts/ledgers?currency=BTC,USDT&bizType=Sub Account/Transfer+1 é&startAt=1767225600000"
    assert " " not in wire
    assert "+" not in wire.split("?", 1)[1], "a '+' on the wire is ambiguous (space or plus)"
    assert unquote(wire) == raw
    assert raw_endpoint("/api/v1/x", {"flag": True, "skip": None}) == "/api/v1/x?flag=true"
    assert raw_endpoint("/api/v1/x", [("b", 1), ("a", 2)]) == "/api/v1/x?b=1&a=2"
    assert encoded_endpoint("/api/v1/x") == raw_endpoint("/api/v1/x") == "/api/v1/x"


# --- kucoin-universal-sdk ------------------------------------------------------------------------------


class _Captured(Exception):
    pass


class _CaptureAndStop(Interceptor):
    """Records the prepared request the SDK would send, then stops it before any network I/O."""

    def __init__(self) -> None:
        self.request: Any = None

    def before(self, req: Any) -> Any:
        self.request = req
        raise _Captured

    def after(self, req: Any, resp: Any, err: Any) -> Any:
        return resp


def sdk_request(monkeypatch: pytest.MonkeyPatch, call: str, req: Any) -> Any:
    """Run one SDK API call with the clock pinned and return the request it built (headers, url, body)."""
    monkeypatch.setattr(default_signer.time, "time", lambda: PINNED_MS / 1000)
    capture = _CaptureAndStop()
    option = (
        ClientOptionBuilder()
        .set_key(CREDS["api_key"])
        .set_secret(CREDS["api_secret"])
        .set_passphrase(CREDS["api_passphrase"])
        .set_spot_endpoint("https://api.kucoin.com")
        .set_futures_endpoint("https://api-futures.kucoin.com")
        .set_transport_option(TransportOptionBuilder().add_interceptor(capture).set_max_retries(0).build())
        .build()
    )
    account = DefaultClient(option).rest_service().get_account_service()
    api = account.get_deposit_api() if call == "add_deposit_address_v1" else account.get_account_api()
    with pytest.raises(Exception, match="Interceptor before failed"):
        getattr(api, call)(req)
    assert capture.request is not None
    return capture.request


def ours(key_version: int, method: str, endpoint: str, body: str = "") -> dict[str, str]:
    """Our five headers for the test credentials at the pinned clock."""
    headers = signed_headers(Credentials(**CREDS, key_version=key_version), method, endpoint, body, PINNED_MS)
    return {name: headers[name] for name in FIVE_HEADERS}


def five(headers: Any) -> dict[str, str]:
    return {name: headers[name] for name in FIVE_HEADERS}


def test_sdk_get_with_a_query_that_needs_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"currency": "BTC,USDT", "bizType": "Sub Account/Transfer+1 é", "startAt": 1767225600000}
    sent = sdk_request(monkeypatch, "get_spot_ledger", GetSpotLedgerReq(**params))
    assert "%2C" in sent.url, "the SDK percent-encodes the query on the wire"
    # The SDK adds its defaults (page) to the query; sign exactly the pairs it sent, in its order.
    pairs = [tuple(p.split("=", 1)) for p in urlsplit(sent.url).query.split("&")]
    decoded = [(unquote(k.replace("+", " ")), unquote(v.replace("+", " "))) for k, v in pairs]
    endpoint = raw_endpoint("/api/v1/accounts/ledgers", decoded)
    assert "bizType=Sub Account/Transfer+1 é" in endpoint
    assert ours(3, "GET", endpoint) == five(sent.headers)


def test_sdk_get_futures_account_overview(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = sdk_request(monkeypatch, "get_futures_account", GetFuturesAccountReq(currency="USDT"))
    assert sent.url == "https://api-futures.kucoin.com/api/v1/account-overview?currency=USDT"
    assert ours(3, "GET", raw_endpoint("/api/v1/account-overview", {"currency": "USDT"})) == five(sent.headers)


def test_sdk_post_with_a_body(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = sdk_request(monkeypatch, "add_deposit_address_v1", AddDepositAddressV1Req(currency="BTC"))
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    assert body.startswith('{"currency":"BTC"')
    assert ours(3, "POST", "/api/v1/deposit-addresses", body) == five(sent.headers)


# --- ccxt ----------------------------------------------------------------------------------------------


def ccxt_signed(exchange_class: type, path: str, api: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    exchange = exchange_class(
        {"apiKey": CREDS["api_key"], "secret": CREDS["api_secret"], "password": CREDS["api_passphrase"]}
    )
    exchange.milliseconds = lambda: PINNED_MS  # ccxt's nonce() reads this clock
    return exchange.sign(path, [api], method, params)


def test_ccxt_get_with_a_query_that_needs_encoding() -> None:
    params = dict(AWKWARD_QUERY)
    signed = ccxt_signed(ccxt.kucoin, "accounts/ledgers", "private", "GET", dict(params))
    path = urlsplit(signed["url"]).path
    assert signed["headers"]["KC-API-KEY-VERSION"] == "2"
    assert ours(2, "GET", raw_endpoint(path, params)) == five(signed["headers"])


def test_ccxt_post_with_a_body() -> None:
    signed = ccxt_signed(ccxt.kucoin, "deposit-addresses", "private", "POST", {"currency": "BTC"})
    assert signed["body"] == '{"currency":"BTC"}'
    assert ours(2, "POST", "/api/v1/deposit-addresses", signed["body"]) == five(signed["headers"])


def test_ccxt_futures_account_overview() -> None:
    signed = ccxt_signed(ccxt.kucoinfutures, "account-overview", "futuresPrivate", "GET", {"currency": "USDT"})
    assert signed["url"].endswith("/api/v1/account-overview?currency=USDT")
    assert ours(2, "GET", raw_endpoint("/api/v1/account-overview", {"currency": "USDT"})) == five(signed["headers"])


def test_version_1_differs_from_the_clients_only_in_the_passphrase_and_version_headers() -> None:
    # Neither client signs for version 1 keys (the SDK always sends 3, ccxt 2): pin v1 to ccxt's v2 signature.
    signed = ccxt_signed(ccxt.kucoin, "deposit-addresses", "private", "POST", {"currency": "BTC"})
    v1 = ours(1, "POST", "/api/v1/deposit-addresses", signed["body"])
    assert v1["KC-API-SIGN"] == signed["headers"]["KC-API-SIGN"]
    assert v1["KC-API-PASSPHRASE"] == CREDS["api_passphrase"]
    assert v1["KC-API-KEY-VERSION"] == "1"
