"""What a new sub-account key may be, the passphrase it gets, and the calls' wire form."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_diagnosis import (
    SUB_ACCOUNT_DIAGNOSES,
    diagnose,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_subaccount import (
    KeyRequestError,
    NewKeyRequest,
    SubAccountApi,
    checked_whitelist,
    generate_passphrase,
    grantable_permissions,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import (
    HttpSettings,
    KucoinCallError,
    make_client,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials


def test_passphrases_follow_kucoins_rules_and_differ() -> None:
    made = {generate_passphrase() for _round in range(50)}
    assert len(made) == 50
    for value in made:
        assert 7 <= len(value) <= 32
        assert value.isalnum()
        assert any(c.isdigit() for c in value)
        assert any(c.isupper() for c in value)
        assert any(c.islower() for c in value)


@pytest.mark.parametrize("refused", ["Transfer", "innertransfer", "Withdrawal"])
def test_money_moving_permissions_are_refused(refused: str) -> None:
    with pytest.raises(KeyRequestError, match="never gets it"):
        grantable_permissions(["Spot", refused])


def test_permissions_are_spelled_as_kucoin_does_with_general_first() -> None:
    assert grantable_permissions(["spot", "FUTURES", "Spot"]) == ("General", "Spot", "Futures")
    with pytest.raises(KeyRequestError, match="not one KuCoin grants"):
        grantable_permissions(["Earn"])


def test_a_whitelist_is_required_unless_any_ip_is_allowed() -> None:
    with pytest.raises(KeyRequestError, match="allow_any_ip"):
        checked_whitelist([], allow_any_ip=False)
    assert checked_whitelist([], allow_any_ip=True) == ()
    assert checked_whitelist([" 203.0.113.7", "203.0.113.7", "2001:db8::1"], False) == ("203.0.113.7", "2001:db8::1")
    with pytest.raises(KeyRequestError, match="not an IP address"):
        checked_whitelist(["203.0.113.0/24"], False)
    with pytest.raises(KeyRequestError, match="at most 20"):
        checked_whitelist([f"10.0.0.{n}" for n in range(21)], False)


def test_expire_and_remark_are_checked() -> None:
    with pytest.raises(KeyRequestError, match="expire_days"):
        NewKeyRequest("s", ("General",), (), expire_days=45)
    with pytest.raises(KeyRequestError, match="remark"):
        NewKeyRequest("s", ("General",), (), remark="x" * 25)


def api_answering(status: int, body: dict[str, object], seen: list[httpx.Request]) -> SubAccountApi:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(handler)
    return SubAccountApi(
        Credentials("master-key-0001", "s", "p"),
        "https://kucoin.test",
        HttpSettings(timeout=2),
        client_factory=lambda settings: make_client(settings, transport=transport),
        sleep=lambda seconds: None,
    )


def test_the_add_call_sends_the_sdk_fields_and_is_not_retried_after_a_server_error() -> None:
    seen: list[httpx.Request] = []
    api = api_answering(500, {"code": "500000", "msg": "boom"}, seen)
    request = NewKeyRequest("grid01", ("General", "Spot"), ("203.0.113.7",), 90, "bot")
    with pytest.raises(KucoinCallError):
        api.add_key(request, "Passphrase123")
    assert len(seen) == 1
    assert json.loads(seen[0].content) == {
        "subName": "grid01",
        "passphrase": "Passphrase123",
        "remark": "bot",
        "permission": "General,Spot",
        "expire": "90",
        "ipWhitelist": "203.0.113.7",
    }


def test_a_failed_delete_never_shows_the_passphrase_in_its_query() -> None:
    seen: list[httpx.Request] = []
    api = api_answering(400, {"code": "400100", "msg": "passphrase is incorrect"}, seen)
    with pytest.raises(KucoinCallError) as failed:
        api.delete_key("grid01", "key0001", "Zq-DELETE-PASS-77")
    assert "Zq-DELETE-PASS-77" in str(seen[0].url)
    line = diagnose(failed.value, timeout=2, key_version=3, advice=SUB_ACCOUNT_DIAGNOSES)
    assert "Zq-DELETE-PASS-77" not in line
    assert "Zq-DELETE-PASS-77" not in str(failed.value)
    assert "sub_name" in line


def test_httpxs_request_log_line_never_shows_the_query(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []
    api = api_answering(200, {"code": "200000", "data": {"subName": "grid01", "apiKey": "key0001"}}, seen)
    with caplog.at_level(logging.INFO, logger="httpx"):
        api.delete_key("grid01", "key0001", "Zq-LOGGED-PASS-31")
    assert "HTTP Request: DELETE https://kucoin.test/api/v1/sub/api-key?(query not logged)" in caplog.text
    assert "Zq-LOGGED-PASS-31" not in caplog.text
