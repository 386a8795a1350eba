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
from pydantic import BaseModel

from harness.kucoin_sandbox import FUTURES, ROUTES, SPOT, KucoinSandbox, make_key

from .clients import sdk_rest

pytestmark = pytest.mark.sandbox


def known_fields(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()} - {"common_response"}


def unknown_fields(reply: BaseModel) -> list[str]:
    """Fields of the raw reply that KuCoin's model for it does not know (nested lists and models too)."""
    raw = reply.common_response.data
    model = type(reply)
    if not isinstance(raw, (dict, list)):
        return []
    if set(known_fields(model)) == {"data"}:  # a list or scalar under `data`
        items = raw if isinstance(raw, list) else [raw]
        item_model = model.model_fields["data"].annotation
        inner = getattr(item_model, "__args__", (item_model,))[0]
        inner = getattr(inner, "__args__", (inner,))[0]
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return []
        return sorted({name for item in items for name in item if name not in known_fields(inner)})
    return sorted(name for name in raw if name not in known_fields(model))


def test_the_sdk_parses_every_reply_of_every_endpoint(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(
        make_key(permissions=("General", "Spot", "Futures"), ip_whitelist=("127.0.0.1",), sub_name="models")
    )
    rest = sdk_rest(sandbox, key)
    spot_market = rest.get_spot_service().get_market_api()
    futures_market = rest.get_futures_service().get_market_api()
    account = rest.get_account_service().get_account_api()
    calls: dict[tuple[str, str, str], Any] = {
        (SPOT, "GET", "/api/v1/timestamp"): spot_market.get_server_time,
        (SPOT, "GET", "/api/v1/status"): spot_market.get_service_status,
        (SPOT, "GET", "/api/v1/user/api-key"): account.get_apikey_info,
        (SPOT, "GET", "/api/v1/accounts"): lambda: account.get_spot_account_list(
            GetSpotAccountListReqBuilder().build()
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
