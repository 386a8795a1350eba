"""KuCoin's sub-account API-key endpoints (add, modify, list, delete), driven over real HTTP by the official
SDK's SubAccountAPI client with its own response models, and by ccxt where a request must step outside what
the SDK's request models let through."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ccxt
import pytest
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_api_req import (
    AddSubAccountApiReq,
    AddSubAccountApiReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_delete_sub_account_api_req import (
    DeleteSubAccountApiReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_get_sub_account_api_list_req import (
    GetSubAccountApiListReqBuilder,
)
from kucoin_universal_sdk.generate.account.subaccount.model_modify_sub_account_api_req import (
    ModifySubAccountApiReq,
    ModifySubAccountApiReqBuilder,
)
from kucoin_universal_sdk.model.common import RestError

from harness.kucoin_sandbox import MANAGEMENT_POOL, KucoinSandbox, SandboxKey, make_key

from .clients import ccxt_spot, last, outcome, sdk_account_api, sdk_sub_account_api, unknown_fields

pytestmark = pytest.mark.sandbox

SUB = "bot-alpha"


@pytest.fixture
def master(sandbox: KucoinSandbox) -> SandboxKey:
    """A master-account key with General that owns the sub-account SUB."""
    key = sandbox.add_key(make_key(permissions=("General",)))
    sandbox.add_sub_account(SUB, key)
    return key


def add_request(**fields: Any) -> AddSubAccountApiReq:
    values: dict[str, Any] = {
        "sub_name": SUB,
        "passphrase": "Rotation-pass-7f3a",
        "remark": "bot alpha",
        "permission": "General,Spot",
        "ip_whitelist": "127.0.0.1",
        "expire": AddSubAccountApiReq.ExpireEnum.T_90,
    }
    values.update(fields)
    builder = AddSubAccountApiReqBuilder()
    for name, value in values.items():
        getattr(builder, f"set_{name}")(value)
    return builder.build()


def modify_request(api_key: str, passphrase: str, **fields: Any) -> ModifySubAccountApiReq:
    builder = ModifySubAccountApiReqBuilder().set_sub_name(SUB).set_api_key(api_key).set_passphrase(passphrase)
    for name, value in fields.items():
        getattr(builder, f"set_{name}")(value)
    return builder.build()


def signing_key(reply: Any) -> SandboxKey:
    """The credentials exactly as the add endpoint's reply carries them (not the sandbox's own object)."""
    return SandboxKey(reply.api_key, reply.api_secret, reply.passphrase, key_version=reply.api_version)


def state(sandbox: KucoinSandbox) -> dict[str, tuple[Any, ...]]:
    """Everything the endpoints may change, by api_key."""
    return {
        api_key: (key.sub_name, key.permissions, key.ip_whitelist, key.expire_days, key.passphrase)
        for api_key, key in sandbox.keys.items()
    }


def test_the_sdk_adds_lists_modifies_and_deletes_a_sub_account_key(sandbox: KucoinSandbox, master: SandboxKey) -> None:
    api = sdk_sub_account_api(sandbox, master)
    before_ms = int(time.time() * 1000)

    added = api.add_sub_account_api(add_request())
    assert unknown_fields(added) == []
    assert (added.sub_name, added.remark, added.api_version) == (SUB, "bot alpha", 3)
    assert (added.passphrase, added.permission, added.ip_whitelist) == (
        "Rotation-pass-7f3a",
        "General,Spot",
        "127.0.0.1",
    )
    assert len(added.api_key) == 24
    assert added.api_secret not in ("", added.api_key)
    assert before_ms <= added.created_at <= int(time.time() * 1000)
    assert sandbox.quota_used(MANAGEMENT_POOL, api_key=master.api_key) == 20
    made = sandbox.keys[added.api_key]
    assert (made.secret, made.passphrase, made.key_version) == (added.api_secret, "Rotation-pass-7f3a", 3)
    assert (made.sub_name, made.permissions, made.ip_whitelist, made.expire_days) == (
        SUB,
        ("General", "Spot"),
        ("127.0.0.1",),
        90,
    )

    # The new key signs at once with what the reply carried; KuCoin shows its whitelist masked.
    info = sdk_account_api(sandbox, signing_key(added)).get_apikey_info()
    assert (info.api_key, info.sub_name, info.is_master) == (added.api_key, SUB, False)
    assert (info.permission, info.ip_whitelist, info.api_version) == ("General,Spot", "127.**.1", 3)

    listed = api.get_sub_account_api_list(GetSubAccountApiListReqBuilder().set_sub_name(SUB).build())
    assert unknown_fields(listed) == []
    [item] = listed.data
    assert (item.api_key, item.sub_name, item.remark, item.permission) == (
        added.api_key,
        SUB,
        "bot alpha",
        "General,Spot",
    )
    assert (item.ip_whitelist, item.created_at, item.uid, item.is_master) == (
        "127.**.1",
        added.created_at,
        info.uid,
        False,
    )
    assert item.uid != sdk_account_api(sandbox, master).get_apikey_info().uid, "a sub-account has its own UID"
    by_key = GetSubAccountApiListReqBuilder().set_sub_name(SUB).set_api_key(added.api_key).build()
    assert [entry.api_key for entry in api.get_sub_account_api_list(by_key).data] == [added.api_key]
    unknown = GetSubAccountApiListReqBuilder().set_sub_name(SUB).set_api_key("0" * 24).build()
    assert api.get_sub_account_api_list(unknown).data == []

    modified = api.modify_sub_account_api(
        modify_request(
            added.api_key,
            added.passphrase,
            permission="General,Spot,Futures",
            ip_whitelist="127.0.0.1,10.0.0.7",
            expire=ModifySubAccountApiReq.ExpireEnum.T_30,
        )
    )
    assert unknown_fields(modified) == []
    assert (modified.sub_name, modified.api_key) == (SUB, added.api_key)
    assert (modified.permission, modified.ip_whitelist) == ("General,Spot,Futures", "127.0.0.1,10.0.0.7")
    assert sandbox.keys[added.api_key] is made, "modify changes the key in place"
    assert (made.permissions, made.ip_whitelist, made.expire_days) == (
        ("General", "Spot", "Futures"),
        ("127.0.0.1", "10.0.0.7"),
        30,
    )
    info = sdk_account_api(sandbox, signing_key(added)).get_apikey_info()
    assert (info.permission, info.ip_whitelist) == ("General,Spot,Futures", "127.**.1,10.**.7")

    deleted = api.delete_sub_account_api(
        DeleteSubAccountApiReqBuilder()
        .set_sub_name(SUB)
        .set_api_key(added.api_key)
        .set_passphrase(added.passphrase)
        .build()
    )
    assert unknown_fields(deleted) == []
    assert (deleted.sub_name, deleted.api_key) == (SUB, added.api_key)
    assert added.api_key not in sandbox.keys
    assert api.get_sub_account_api_list(GetSubAccountApiListReqBuilder().set_sub_name(SUB).build()).data == []
    with pytest.raises(RestError, match="400003"):
        sdk_account_api(sandbox, signing_key(added)).get_apikey_info()

    # Weights from the spec, drawn from the master account's Management quota: add 20, list 20 (three
    # times), modify 30, delete 30, list 20, and the master's own key-info call 20.
    assert sandbox.quota_used(MANAGEMENT_POOL, api_key=master.api_key) == 20 + 3 * 20 + 30 + 30 + 20 + 20
    # The delete endpoint takes the passphrase in its query: the request records keep it out.
    [record] = [r for r in sandbox.requests if r.method == "DELETE"]
    assert "passphrase=***" in record.query
    assert not any(added.passphrase in r.query for r in sandbox.requests)


def test_keys_made_before_the_run_are_listed_and_deleted_with_their_passphrase(
    sandbox: KucoinSandbox, master: SandboxKey
) -> None:
    old = sandbox.add_key(make_key(sub_name=SUB, remark="old"))
    old.created_at_ms -= 85 * 86_400_000  # a key made 85 days ago
    other = sandbox.add_key(make_key(sub_name="bot-beta"))
    sandbox.add_sub_account("bot-beta", master)
    api = sdk_sub_account_api(sandbox, master)
    [item] = api.get_sub_account_api_list(GetSubAccountApiListReqBuilder().set_sub_name(SUB).build()).data
    assert (item.api_key, item.created_at) == (old.api_key, old.created_at_ms)
    api.delete_sub_account_api(
        DeleteSubAccountApiReqBuilder()
        .set_sub_name(SUB)
        .set_api_key(old.api_key)
        .set_passphrase(old.passphrase)
        .build()
    )
    assert set(sandbox.keys) == {master.api_key, other.api_key}


def test_only_a_master_key_with_general_may_call_them(sandbox: KucoinSandbox, master: SandboxKey) -> None:
    sub_key = sandbox.add_key(make_key(sub_name=SUB, permissions=("General", "Spot")))
    no_general = sandbox.add_key(make_key(permissions=("Spot",)))
    sandbox.add_sub_account(SUB, no_general)
    before = state(sandbox)
    for caller in (sub_key, no_general):
        api = sdk_sub_account_api(sandbox, caller)
        calls: list[Callable[[], Any]] = [
            lambda api=api: api.add_sub_account_api(add_request()),
            lambda api=api: api.modify_sub_account_api(modify_request(sub_key.api_key, sub_key.passphrase)),
            lambda api=api: api.get_sub_account_api_list(GetSubAccountApiListReqBuilder().set_sub_name(SUB).build()),
            lambda api=api: api.delete_sub_account_api(
                DeleteSubAccountApiReqBuilder()
                .set_sub_name(SUB)
                .set_api_key(sub_key.api_key)
                .set_passphrase(sub_key.passphrase)
                .build()
            ),
        ]
        for call in calls:
            with pytest.raises(RestError, match=r"Invalid status code: 403.*400007"):
                call()
            assert outcome(sandbox) == (403, "400007")
    assert state(sandbox) == before


def test_another_master_account_or_an_unknown_sub_account_is_refused(
    sandbox: KucoinSandbox, master: SandboxKey
) -> None:
    stranger = sandbox.add_key(make_key(master_account="another-firm"))
    sub_key = sandbox.add_key(make_key(sub_name=SUB))
    before = state(sandbox)
    for caller, sub_name in ((stranger, SUB), (master, "no-such-sub")):
        api = sdk_sub_account_api(sandbox, caller)
        with pytest.raises(RestError, match="400100"):
            api.add_sub_account_api(add_request(sub_name=sub_name))
        with pytest.raises(RestError, match="400100"):
            api.get_sub_account_api_list(GetSubAccountApiListReqBuilder().set_sub_name(sub_name).build())
        with pytest.raises(RestError, match="400100"):
            api.delete_sub_account_api(
                DeleteSubAccountApiReqBuilder()
                .set_sub_name(sub_name)
                .set_api_key(sub_key.api_key)
                .set_passphrase(sub_key.passphrase)
                .build()
            )
        assert outcome(sandbox) == (400, "400100")
    assert state(sandbox) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"passphrase": "six666"}, "passphrase must be 7-32 characters"),
        ({"passphrase": "p" * 33}, "passphrase must be 7-32 characters"),
        ({"passphrase": "has a space"}, "cannot contain spaces"),
        ({"remark": ""}, "remark"),
        ({"remark": "r" * 25}, "remark must be 1-24 characters"),
        ({"permission": "General,Transfer"}, "permission Transfer cannot be set"),
        ({"permission": "General,Withdrawal"}, "permission Withdrawal cannot be set"),
        ({"ip_whitelist": ",".join(f"10.0.0.{n}" for n in range(21))}, "up to 20 IPs"),
        ({"ip_whitelist": "127.0.0.1,bot-host"}, "'bot-host' is not an IP address"),
        ({"sub_name": ""}, "subName is required"),
    ],
)
def test_add_refuses_what_kucoin_refuses(
    sandbox: KucoinSandbox, master: SandboxKey, fields: dict[str, Any], message: str
) -> None:
    before = state(sandbox)
    with pytest.raises(RestError, match=rf"Invalid status code: 400.*400100.*{message}"):
        sdk_sub_account_api(sandbox, master).add_sub_account_api(add_request(**fields))
    assert state(sandbox) == before


def test_add_accepts_kucoin_s_expire_values_only(sandbox: KucoinSandbox, master: SandboxKey) -> None:
    # The SDK's request model only lets the five values through; ccxt sends whatever it is given.
    exchange = ccxt_spot(sandbox, master)
    params = {"subName": SUB, "passphrase": "Rotation-pass-7f3a", "remark": "ccxt"}
    with pytest.raises(ccxt.BadRequest, match="expire must be one of -1, 30, 90, 180, 360"):
        exchange.private_post_sub_api_key({**params, "expire": "45"})
    assert len(sandbox.keys) == 1
    made = {}
    for expire, days in (("-1", None), ("360", 360), (None, None)):
        reply = exchange.private_post_sub_api_key(params if expire is None else {**params, "expire": expire})
        made[reply["data"]["apiKey"]] = days
        assert reply["data"]["permission"] == "General", "the default permission is General"
        assert "ipWhitelist" not in reply["data"], "no whitelist: the reply leaves the field out"
    assert {api_key: sandbox.keys[api_key].expire_days for api_key in made} == made


def test_modify_and_delete_need_the_key_s_passphrase_and_a_key_of_that_sub_account(
    sandbox: KucoinSandbox, master: SandboxKey
) -> None:
    key = sandbox.add_key(make_key(sub_name=SUB, ip_whitelist=("127.0.0.1",)))
    elsewhere = sandbox.add_key(make_key(sub_name="bot-beta"))
    sandbox.add_sub_account("bot-beta", master)
    api = sdk_sub_account_api(sandbox, master)
    before = state(sandbox)
    cases = [
        (key.api_key, "Wrong-passphrase", "passphrase is incorrect"),
        ("0" * 24, key.passphrase, "does not exist"),
        (elsewhere.api_key, elsewhere.passphrase, "does not exist"),
    ]
    for api_key, passphrase, message in cases:
        with pytest.raises(RestError, match=rf"400100.*{message}"):
            api.modify_sub_account_api(modify_request(api_key, passphrase, permission="General,Spot,Futures"))
        with pytest.raises(RestError, match=rf"400100.*{message}"):
            api.delete_sub_account_api(
                DeleteSubAccountApiReqBuilder()
                .set_sub_name(SUB)
                .set_api_key(api_key)
                .set_passphrase(passphrase)
                .build()
            )
    with pytest.raises(RestError, match=r"400100.*permission Transfer cannot be set"):
        api.modify_sub_account_api(modify_request(key.api_key, key.passphrase, permission="General,Transfer"))
    assert state(sandbox) == before


def test_modify_changes_only_the_fields_sent(sandbox: KucoinSandbox, master: SandboxKey) -> None:
    key = sandbox.add_key(
        make_key(sub_name=SUB, permissions=("General", "Spot"), ip_whitelist=("127.0.0.1",), expire_days=90)
    )
    # ccxt sends only what it is given: the whitelist alone.
    reply = ccxt_spot(sandbox, master).private_post_sub_api_key_update(
        {"subName": SUB, "apiKey": key.api_key, "passphrase": key.passphrase, "ipWhitelist": "10.0.0.8"}
    )
    assert reply["data"] == {
        "subName": SUB,
        "apiKey": key.api_key,
        "permission": "General,Spot",
        "ipWhitelist": "10.0.0.8",
    }
    assert (key.permissions, key.ip_whitelist, key.expire_days) == (("General", "Spot"), ("10.0.0.8",), 90)
    # The SDK's request model always sends its defaults, permission General and expire -1, so a modify through
    # it resets both unless they are set.
    sdk_sub_account_api(sandbox, master).modify_sub_account_api(modify_request(key.api_key, key.passphrase))
    assert (key.permissions, key.ip_whitelist, key.expire_days) == (("General",), ("10.0.0.8",), None)


ENDPOINTS = [
    "sub_key_add_error_count",
    "sub_key_update_error_count",
    "sub_key_list_error_count",
    "sub_key_delete_error_count",
]


@pytest.mark.parametrize("fault", ENDPOINTS)
@pytest.mark.parametrize("scope", ["master key", "server-wide"])
def test_each_fault_fails_its_endpoint_only_and_changes_nothing(
    sandbox: KucoinSandbox, master: SandboxKey, fault: str, scope: str
) -> None:
    key = sandbox.add_key(make_key(sub_name=SUB))
    api = sdk_sub_account_api(sandbox, master)
    calls: dict[str, Callable[[], Any]] = {
        "sub_key_add_error_count": lambda: api.add_sub_account_api(add_request()),
        "sub_key_update_error_count": lambda: api.modify_sub_account_api(
            modify_request(key.api_key, key.passphrase, permission="General,Spot,Futures")
        ),
        "sub_key_list_error_count": lambda: api.get_sub_account_api_list(
            GetSubAccountApiListReqBuilder().set_sub_name(SUB).build()
        ),
        "sub_key_delete_error_count": lambda: api.delete_sub_account_api(
            DeleteSubAccountApiReqBuilder()
            .set_sub_name(SUB)
            .set_api_key(key.api_key)
            .set_passphrase(key.passphrase)
            .build()
        ),
    }
    sandbox.set_faults(master.api_key if scope == "master key" else None, **{fault: 2})
    before = state(sandbox)
    for _attempt in range(2):
        with pytest.raises(RestError, match=r"Invalid status code: 500.*500000"):
            calls[fault]()
        assert state(sandbox) == before
        assert (last(sandbox).http_status, last(sandbox).code, last(sandbox).fault) == (
            500,
            "500000",
            fault.removesuffix("_count"),
        )
    # The other endpoints are untouched by it, and the third call of this one goes through.
    if fault != "sub_key_list_error_count":
        calls["sub_key_list_error_count"]()
    assert calls[fault]().common_response.code == "200000"
    assert getattr(sandbox.faults(master.api_key if scope == "master key" else None), fault) == 0


def test_a_fault_set_on_one_master_key_leaves_other_masters_alone(sandbox: KucoinSandbox, master: SandboxKey) -> None:
    other = sandbox.add_key(make_key(permissions=("General",)))
    sandbox.set_faults(master.api_key, sub_key_add_error_count=1)
    assert sdk_sub_account_api(sandbox, other).add_sub_account_api(add_request()).api_key in sandbox.keys
    with pytest.raises(RestError, match="500000"):
        sdk_sub_account_api(sandbox, master).add_sub_account_api(add_request())
