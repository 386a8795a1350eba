"""Third-party KuCoin clients (kucoin-universal-sdk, ccxt) pointed at the sandbox's loopback listeners."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import ccxt
import pytest
import requests
from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.generate.account.account.api_account import AccountAPI
from kucoin_universal_sdk.generate.account.subaccount.api_sub_account import SubAccountAPI
from kucoin_universal_sdk.internal.infra import default_signer
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder
from pydantic import BaseModel

from harness.kucoin_sandbox import KucoinSandbox, RequestRecord, SandboxKey


def sdk_rest(
    sandbox: KucoinSandbox,
    key: SandboxKey,
    *,
    secret: str | None = None,
    passphrase: str | None = None,
    read_timeout: float = 10,
    max_retries: int = 3,
) -> Any:
    """The official SDK's REST service on the sandbox. It takes any endpoint URL, http:// included, and always
    signs as a version 3 key (KC-API-KEY-VERSION: 3, HMAC passphrase)."""
    transport = TransportOptionBuilder().set_read_timeout(read_timeout).set_max_retries(max_retries).build()
    option = (
        ClientOptionBuilder()
        .set_key(key.api_key)
        .set_secret(key.secret if secret is None else secret)
        .set_passphrase(key.passphrase if passphrase is None else passphrase)
        .set_spot_endpoint(sandbox.spot_url)
        .set_futures_endpoint(sandbox.futures_url)
        .set_broker_endpoint(sandbox.spot_url)
        .set_transport_option(transport)
        .build()
    )
    return DefaultClient(option).rest_service()


def sdk_account_api(sandbox: KucoinSandbox, key: SandboxKey, **options: Any) -> AccountAPI:
    """The official SDK's account API (options as for sdk_rest)."""
    return sdk_rest(sandbox, key, **options).get_account_service().get_account_api()


def sdk_sub_account_api(sandbox: KucoinSandbox, key: SandboxKey, **options: Any) -> SubAccountAPI:
    """The official SDK's sub-account API (options as for sdk_rest)."""
    return sdk_rest(sandbox, key, **options).get_account_service().get_sub_account_api()


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


def shift_sdk_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move only the SDK signer's clock (the sandbox shares this process and must keep the real one)."""
    real_time = time.time
    monkeypatch.setattr(default_signer, "time", SimpleNamespace(time=lambda: real_time() + seconds))


def ccxt_spot(sandbox: KucoinSandbox, key: SandboxKey, **overrides: Any) -> ccxt.kucoin:
    """ccxt.kucoin with every API base URL on the spot listener. ccxt always sends KC-API-KEY-VERSION 2 with an
    HMAC passphrase unless `headers` overrides the version."""
    config: dict[str, Any] = {"apiKey": key.api_key, "secret": key.secret, "password": key.passphrase}
    config.update(overrides)
    exchange = ccxt.kucoin(config)
    exchange.urls["api"] = dict.fromkeys(exchange.urls["api"], sandbox.spot_url)
    return exchange


def ccxt_futures(sandbox: KucoinSandbox, key: SandboxKey, **overrides: Any) -> ccxt.kucoinfutures:
    config: dict[str, Any] = {"apiKey": key.api_key, "secret": key.secret, "password": key.passphrase}
    config.update(overrides)
    exchange = ccxt.kucoinfutures(config)
    urls = dict(exchange.urls["api"])
    urls.update(dict.fromkeys(("futuresPrivate", "futuresPublic"), sandbox.futures_url))
    urls.update(dict.fromkeys(("public", "private"), sandbox.spot_url))
    exchange.urls["api"] = urls
    return exchange


def ccxt_signed(exchange: ccxt.Exchange, path: str, api: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """ccxt's own request (url, method, headers) for an implicit endpoint, without sending it."""
    return exchange.sign(path, [api], "GET", dict(params or {}))


def send(request: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10) -> requests.Response:
    """Send a ccxt-built request as is, or with `headers` replacing ccxt's (value None removes a header)."""
    final = dict(request["headers"])
    for name, value in (headers or {}).items():
        if value is None:
            final.pop(name, None)
        else:
            final[name] = value
    return requests.get(request["url"], headers=final, timeout=timeout)


def last(sandbox: KucoinSandbox, path: str | None = None) -> RequestRecord:
    records = [r for r in sandbox.requests if path is None or r.path == path]
    assert records, f"the sandbox recorded no request for {path or 'any path'}"
    return records[-1]


def outcome(sandbox: KucoinSandbox, path: str | None = None) -> tuple[int | None, str | None]:
    record = last(sandbox, path)
    return record.http_status, record.code
