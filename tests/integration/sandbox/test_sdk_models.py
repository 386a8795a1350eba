"""Every endpoint the sandbox serves, called through the official SDK's own REST clients: KuCoin's pydantic
response models must parse every reply, and no reply may carry a field KuCoin's model does not have."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kucoin_universal_sdk.generate.account.account.model_get_futures_account_req import GetFuturesAccountReqBuilder
from kucoin_universal_sdk.generate.account.account.model_get_spot_account_list_req import (
    GetSpotAccountListReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_api_req import AddSubAccountApiReqBuilder
from kucoin_universal_sdk.generate.account.subaccount.model_delete_sub_account_api_req import (
    DeleteSubAccountApiReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_sub_account_api_list_req import (
    GetSubAccountApiListReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_modify_sub_account_api_req import (
    ModifySubAccountApiReqBuilder,
)

from harness.kucoin_sandbox import FUTURES, ROUTES, SPOT, KucoinSandbox, make_key

from .clients import sdk_rest, sdk_sub_account_api, unknown_fields

pytestmark = pytest.mark.sandbox


def test_the_sdk_parses_every_reply_of_every_endpoint(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(
        make_key(permissions=("General", "Spot", "Futures"), ip_whitelist=("127.0.0.1",), sub_name="models")
    )
    rest = sdk_rest(sandbox, key)
    spot_market = rest.get_spot_service().get_market_api()
    futures_market = rest.get_futures_service().get_market_api()
    account = rest.get_account_service().get_account_api()
    master = sandbox.add_key(make_key())
    sandbox.add_sub_account("models", master)
    sub_keys = sdk_sub_account_api(sandbox, master)
    made: dict[str, str] = {}  # the key the add endpoint made, for the calls after it

    def add_sub_key() -> Any:
        reply = sub_keys.add_sub_account_api(
            AddSubAccountApiReqBuilder()
            .set_sub_name("models")
            .set_passphrase("models-pass-1")
            .set_remark("models")
            .set_ip_whitelist("127.0.0.1")
            .build()
        )
        made.update(api_key=reply.api_key, passphrase=reply.passphrase)
        return reply

    calls: dict[tuple[str, str, str], Any] = {
        (SPOT, "GET", "/api/v1/timestamp"): spot_market.get_server_time,
        (SPOT, "GET", "/api/v1/status"): spot_market.get_service_status,
        (SPOT, "GET", "/api/v1/user/api-key"): account.get_apikey_info,
        (SPOT, "GET", "/api/v1/accounts"): lambda: account.get_spot_account_list(
            GetSpotAccountListReqBuilder().build()
        ),
        (SPOT, "POST", "/api/v1/sub/api-key"): add_sub_key,
        (SPOT, "POST", "/api/v1/sub/api-key/update"): lambda: sub_keys.modify_sub_account_api(
            ModifySubAccountApiReqBuilder()
            .set_sub_name("models")
            .set_api_key(made["api_key"])
            .set_passphrase(made["passphrase"])
            .set_permission("General,Spot")
            .build()
        ),
        (SPOT, "GET", "/api/v1/sub/api-key"): lambda: sub_keys.get_sub_account_api_list(
            GetSubAccountApiListReqBuilder().set_sub_name("models").build()
        ),
        (SPOT, "DELETE", "/api/v1/sub/api-key"): lambda: sub_keys.delete_sub_account_api(
            DeleteSubAccountApiReqBuilder()
            .set_sub_name("models")
            .set_api_key(made["api_key"])
            .set_passphrase(made["passphrase"])
            .build()
        ),
        (FUTURES, "GET", "/api/v1/timestamp"): futures_market.get_server_time,
        (FUTURES, "GET", "/api/v1/status"): futures_market.get_service_status,
        (FUTURES, "GET", "/api/v1/account-overview"): lambda: account.get_futures_account(
            GetFuturesAccountReqBuilder().set_currency("USDT").build()
        ),
    }
    assert set(calls) == set(ROUTES), "every endpoint the sandbox serves is called through the SDK"
    sandbox.set_service_status("cancelonly", "upgrade", listener=FUTURES)
    for endpoint, call in calls.items():
        reply = call()
        assert reply.common_response.code == "200000", endpoint
        assert reply.common_response.rate_limit.limit > 0, f"{endpoint}: gw-ratelimit-* headers read"
        assert unknown_fields(reply) == [], f"{endpoint} answers fields KuCoin's model does not have"
        # The model holds what was sent: dumping it by alias gives the raw reply back.
        raw = reply.common_response.data
        if isinstance(raw, dict):
            dumped = {k: v for k, v in json.loads(reply.to_json()).items() if k != "common_response"}
            assert dumped == {k: v for k, v in raw.items() if v is not None}, endpoint
    assert futures_market.get_service_status().status.value == "cancelonly"
    assert spot_market.get_service_status().status.value == "open"
    info = account.get_apikey_info()
    assert (info.ip_whitelist, info.sub_name, info.is_master) == ("127.**.1", "models", False)
    assert [(r.listener, r.path) for r in sandbox.requests][: len(calls)] == [(lis, path) for (lis, _m, path) in calls]
