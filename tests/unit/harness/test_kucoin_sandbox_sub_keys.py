"""The sandbox's pure helpers for KuCoin's sub-account API-key endpoints: what they accept and refuse, and that
their replies carry exactly the fields of the official SDK's response models."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_api_req import AddSubAccountApiReq
from kucoin_universal_sdk.generate.account.subaccount.model_add_sub_account_api_resp import AddSubAccountApiResp
from kucoin_universal_sdk.generate.account.subaccount.model_get_sub_account_api_list_data import (
    GetSubAccountApiListData,
)
from kucoin_universal_sdk.generate.account.subaccount.model_modify_sub_account_api_resp import (
    ModifySubAccountApiResp,
)
from pydantic import BaseModel

from harness.kucoin_sandbox import (
    KucoinError,
    KucoinSandbox,
    account_uid,
    created_sub_key,
    key_info,
    make_key,
    modified_sub_key,
    new_sub_key,
    parse_expire,
    parse_ip_whitelist,
    parse_passphrase,
    parse_permissions,
    parse_remark,
    redact_query,
    required_text,
)


def fields(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()} - {"common_response"}


def refused(parse: Any, value: Any) -> str:
    with pytest.raises(KucoinError) as caught:
        parse(value)
    assert (caught.value.code, caught.value.http_status) == ("400100", 400)
    return caught.value.msg


@pytest.mark.parametrize("passphrase", ["7chars!", "p" * 32, "Rot@tion-Pass_9"])
def test_passphrases_of_7_to_32_characters_without_spaces_are_taken(passphrase: str) -> None:
    assert parse_passphrase(passphrase) == passphrase


@pytest.mark.parametrize("passphrase", [None, "", "6chars", "p" * 33, "with space", "tab\there", 12345678])
def test_other_passphrases_are_refused(passphrase: Any) -> None:
    assert "passphrase must be 7-32 characters and cannot contain spaces" in refused(parse_passphrase, passphrase)


def test_remarks_of_1_to_24_characters() -> None:
    assert parse_remark("r") == "r"
    assert parse_remark("r" * 24) == "r" * 24
    for remark in (None, "", "r" * 25):
        assert "remark must be 1-24 characters" in refused(parse_remark, remark)


def test_permissions_default_to_general_and_take_the_five_settable_names() -> None:
    assert parse_permissions(None) == ("General",)
    assert parse_permissions("General, Spot ,Futures,Margin,InnerTransfer") == (
        "General",
        "Spot",
        "Futures",
        "Margin",
        "InnerTransfer",
    )
    assert parse_permissions("General,Spot,General") == ("General", "Spot")


@pytest.mark.parametrize("value", ["General,Transfer", "Withdrawal", "Earn", "general", "", " , ", ["General"]])
def test_other_permissions_are_refused(value: Any) -> None:
    assert "cannot be set; allowed: General, Spot, Futures, Margin, InnerTransfer" in refused(parse_permissions, value)


def test_whitelist_of_up_to_20_addresses() -> None:
    assert parse_ip_whitelist(None) == ()
    assert parse_ip_whitelist("") == ()
    assert parse_ip_whitelist("127.0.0.1, 2001:db8::7,127.0.0.1") == ("127.0.0.1", "2001:db8::7")
    twenty = ",".join(f"10.0.0.{n}" for n in range(20))
    assert len(parse_ip_whitelist(twenty)) == 20
    assert "up to 20 IPs, not 21" in refused(parse_ip_whitelist, twenty + ",10.0.1.1")
    assert "'10.0.0.0/24' is not an IP address" in refused(parse_ip_whitelist, "10.0.0.0/24")
    assert "comma-separated" in refused(parse_ip_whitelist, ["127.0.0.1"])


def test_expire_takes_kucoin_s_five_values() -> None:
    assert [parse_expire(value) for value in (None, "-1", "30", "90", "180", "360", 90, -1)] == [
        None,
        None,
        30,
        90,
        180,
        360,
        90,
        None,
    ]
    assert {member.value for member in AddSubAccountApiReq.ExpireEnum} == {"-1", "30", "90", "180", "360"}
    for value in ("45", "0", "", "never", True):
        assert "expire must be one of -1, 30, 90, 180, 360" in refused(parse_expire, value)


def test_required_text() -> None:
    assert required_text({"subName": "bot"}, "subName") == "bot"
    for params in ({}, {"subName": ""}, {"subName": "  "}, {"subName": 7}):
        assert refused(lambda p: required_text(p, "subName"), params) == "subName is required"


def test_a_new_key_looks_like_kucoin_s() -> None:
    key = new_sub_key(
        sub_name="bot",
        master_account="firm",
        passphrase="Rotation-pass",
        remark="r",
        permissions=("General", "Spot"),
        ip_whitelist=("127.0.0.1",),
        expire_days=90,
        now_ms=1_700_000_000_000,
    )
    assert re.fullmatch(r"[0-9a-f]{24}", key.api_key)
    assert str(uuid.UUID(key.secret)) == key.secret
    assert (key.key_version, key.created_at_ms, key.sub_name, key.master_account) == (
        3,
        1_700_000_000_000,
        "bot",
        "firm",
    )
    assert account_uid(key) != account_uid(make_key(master_account="firm")), "a sub-account has its own UID"


def test_replies_carry_exactly_the_sdk_models_fields() -> None:
    key = make_key(sub_name="bot", remark="r", ip_whitelist=("127.0.0.1", "10.0.0.7"), created_at_ms=1)
    created = created_sub_key(key)
    assert set(created) == fields(AddSubAccountApiResp)
    assert (created["apiSecret"], created["passphrase"], created["ipWhitelist"]) == (
        key.secret,
        key.passphrase,
        "127.0.0.1,10.0.0.7",
    )
    assert set(modified_sub_key(key)) == fields(ModifySubAccountApiResp)
    assert set(key_info(key)) == fields(GetSubAccountApiListData), "a list item is the key's information"
    assert key_info(key)["ipWhitelist"] == "127.**.1,10.**.7"
    # Without a whitelist the add and modify replies leave the field out, as the spec's examples do.
    open_key = make_key(sub_name="bot", remark="r", created_at_ms=1)
    assert set(created_sub_key(open_key)) == fields(AddSubAccountApiResp) - {"ipWhitelist"}
    assert set(modified_sub_key(open_key)) == fields(ModifySubAccountApiResp) - {"ipWhitelist"}
    assert key_info(open_key)["ipWhitelist"] == ""


def test_a_master_key_s_uid_is_its_master_account_s() -> None:
    assert account_uid(make_key()) == account_uid(make_key(master_account="master"))
    assert account_uid(make_key()) != account_uid(make_key(master_account="another-firm"))


def test_redact_query_hides_only_the_passphrase() -> None:
    query = "apiKey=abc&subName=bot&passphrase=Rot%40tion-pass"
    assert redact_query(query) == "apiKey=abc&subName=bot&passphrase=***"
    assert redact_query("currency=BTC") == "currency=BTC"
    assert redact_query("") == ""


def test_a_sub_account_belongs_to_one_master_account() -> None:
    sandbox = KucoinSandbox()  # not started: sub-accounts are bookkeeping
    master = make_key()
    sandbox.add_sub_account("bot", master)
    sandbox.add_sub_account("bot", make_key())  # another key of the same master account
    assert sandbox.sub_accounts == {"bot": "master"}
    with pytest.raises(ValueError, match="already belongs to master account 'master'"):
        sandbox.add_sub_account("bot", make_key(master_account="another-firm"))
    with pytest.raises(ValueError, match="not a master-account key"):
        sandbox.add_sub_account("other", make_key(sub_name="bot"))
    assert sandbox.sub_accounts == {"bot": "master"}
