"""KuCoin's rate limits as the sandbox counts them: per account (UID) and pool for private calls, per IP for
public ones, each call weighing what KuCoin's spec says, with the gw-ratelimit-* headers on every answer."""

from __future__ import annotations

import pytest
import requests

from harness.kucoin_sandbox import MANAGEMENT_POOL, PUBLIC_POOL, KucoinSandbox, make_key

from .clients import ccxt_spot, sdk_account_api

pytestmark = pytest.mark.sandbox


def test_calls_draw_their_weight_from_their_pool(sandbox: KucoinSandbox) -> None:
    key = sandbox.add_key(make_key())
    api = sdk_account_api(sandbox, key)
    api.get_apikey_info()  # Management, weight 20
    api.get_apikey_info()
    assert sandbox.quota_used(MANAGEMENT_POOL, api_key=key.api_key) == 40
    reply = requests.get(f"{sandbox.spot_url}/api/v1/timestamp", timeout=10)  # Public, weight 3
    assert reply.headers["gw-ratelimit-limit"] == "2000"
    assert reply.headers["gw-ratelimit-remaining"] == str(2000 - 3)
    assert 0 < int(reply.headers["gw-ratelimit-reset"]) <= 30_000
    requests.get(f"{sandbox.futures_url}/api/v1/status", timeout=10)  # Public, weight 4, same IP
    assert sandbox.quota_used(PUBLIC_POOL) == 7


def test_keys_of_one_account_share_its_quota_and_a_sub_account_has_its_own(sandbox: KucoinSandbox) -> None:
    sandbox.pool_limits[MANAGEMENT_POOL] = 60  # three key-info calls of weight 20
    first = sandbox.add_key(make_key())
    second = sandbox.add_key(make_key())  # another key of the same (master) account
    sub = sandbox.add_key(make_key(sub_name="grid-bots"))
    for key in (first, second, first):
        assert ccxt_spot(sandbox, key).private_get_user_api_key()["code"] == "200000"
    blocked = requests.get(
        ccxt_spot(sandbox, second).sign("user/api-key", ["private"], "GET", {})["url"],
        headers=ccxt_spot(sandbox, second).sign("user/api-key", ["private"], "GET", {})["headers"],
        timeout=10,
    )
    assert (blocked.status_code, blocked.json()["code"]) == (429, "429000")
    assert blocked.headers["gw-ratelimit-remaining"] == "0"
    assert int(blocked.headers["gw-ratelimit-reset"]) > 0
    assert sandbox.requests[-1].fault == "quota"
    # The sub-account's UID has its own quota; public calls draw on another pool.
    assert ccxt_spot(sandbox, sub).private_get_user_api_key()["code"] == "200000"
    assert requests.get(f"{sandbox.spot_url}/api/v1/timestamp", timeout=10).json()["code"] == "200000"
