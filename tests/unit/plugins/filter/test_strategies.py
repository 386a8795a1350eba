"""bot_strategies and shared_api_keys: the one strategy model, as the preflight and the role call it."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.filter.strategies import (
    FilterModule,
    bot_environment,
    bot_strategies,
    shared_api_keys,
)

ENV_NAMES = {
    "api_key": "KUCOIN_API_KEY",
    "api_secret": "KUCOIN_SECRET_KEY",
    "api_passphrase": "KUCOIN_PASSPHRASE",
    "key_version": "KUCOIN_API_KEY_VERSION",
    "base_url": "KUCOIN_API_BASE_URL",
    "api": "KUCOIN_API",
}
ROLE = {"default_exec_start": "/usr/bin/bot", "secret_delivery": "environment", "env_names": ENV_NAMES}


def refused(strategies, **kwargs) -> str:
    with pytest.raises(AnsibleFilterError) as info:
        bot_strategies(strategies, **kwargs)
    return str(info.value)


def test_registered_names():
    assert set(FilterModule().filters()) == {"bot_strategies", "shared_api_keys", "bot_environment"}


def test_defaults_filled_in_with_the_role_options():
    out = bot_strategies(
        [{"name": "grid", "vault_path": "kucoin/grid"}, {"name": "old", "state": "absent"}], host="a", **ROLE
    )
    assert out == [
        {
            "name": "grid",
            "state": "present",
            "vault_path": "kucoin/grid",
            "exec_start": "/usr/bin/bot",
            "environment": {},
            "secret_delivery": "environment",
            "key_check": {},
            "margin": False,
        },
        {"name": "old", "state": "absent", "environment": {}, "key_check": {}, "margin": False},
    ]


def test_own_values_win_over_the_role_options():
    out = bot_strategies(
        [{"name": "f", "exec_start": "/opt/f", "secret_delivery": "credentials", "api": "futures"}], **ROLE
    )
    assert out[0]["exec_start"] == "/opt/f"
    assert out[0]["secret_delivery"] == "credentials"
    assert out[0]["api"] == "futures"


def test_sub_account_is_kept_as_given():
    out = bot_strategies([{"name": "grid", "sub_account": "gridbots01"}, {"name": "plain"}])
    assert out[0]["sub_account"] == "gridbots01"
    assert "sub_account" not in out[1]


def test_defaults_are_not_shared_between_entries():
    out = bot_strategies([{"name": "a"}, {"name": "b"}])
    out[0]["environment"]["X"] = "1"
    assert out[1]["environment"] == {}


def test_undefined_list_is_empty():
    assert bot_strategies(None) == []


@pytest.mark.parametrize(
    ("strategies", "needle"),
    [
        ("grid", "must be a list of strategies"),
        ({"name": "grid"}, "must be a list of strategies"),
        (["grid"], "bot_host_strategies[0]: each strategy must be a mapping"),
        ([{"vault_path": "x"}], "needs a name"),
        ([{"name": "-lead"}], "needs a name"),
        ([{"name": "a" * 65}], "needs a name"),
        ([{"name": "has space"}], "needs a name"),
        ([{"name": 7}], "name must be a string"),
        ([{"name": "a"}, {"name": "a"}], "bot_host_strategies[1] (a): the name a is used twice"),
        ([{"name": "a", "state": "gone"}], "state must be one of present, stopped, absent"),
        ([{"name": "a", "vault": {"versoin": 2}}], "unknown vault options versoin (known: engine_mount_point,"),
        ([{"name": "a", "vault": 3}], "vault must be a mapping"),
        ([{"name": "a", "api": "margin"}], "api must be one of spot, futures"),
        ([{"name": "a", "secret_delivery": "file"}], "secret_delivery must be one of environment, credentials"),
        ([{"name": "a", "environment": ["X=1"]}], "environment must be a mapping"),
        ([{"name": "a", "vault_pth": "x"}], "unknown keys vault_pth"),
        ([{"name": "a", "margin": "yes"}], "margin must be true or false"),
        ([{"name": "a", "sub_account": 7}], "sub_account must be a string"),
        ([{"name": "a", "sub_account": "short1"}], "sub_account must be a KuCoin sub-account name"),
        ([{"name": "a", "sub_account": "no-digits-here"}], "at least one letter and one digit"),
        ([{"name": "a", "sub_account": "1234567890"}], "at least one letter and one digit"),
        ([{"name": "a", "sub_account": "has space 1"}], "no spaces"),
        ([{"name": "a", "sub_account": "a1" * 17}], "7 to 32 characters"),
    ],
)
def test_refused_lists_name_host_entry_and_fix(strategies, needle):
    message = refused(strategies, host="bot-a")
    assert needle in message
    assert "bot-a" in message


def test_present_needs_vault_path_when_required():
    assert "(grid): a present strategy needs a vault_path" in refused(
        [{"name": "grid"}], host="h", require_vault_path=True
    )
    # Absent strategies are only removed; they need no credentials.
    assert bot_strategies([{"name": "grid", "state": "absent"}], require_vault_path=True)[0]["state"] == "absent"
    assert bot_strategies([{"name": "grid", "state": "stopped"}], require_vault_path=True)[0]["state"] == "stopped"
    pinned = bot_strategies([{"name": "grid", "vault_path": "kucoin/grid", "vault": {"version": 3}}])[0]
    assert pinned["vault"] == {"version": 3}
    assert "vault" not in bot_strategies([{"name": "grid", "vault_path": "kucoin/grid"}])[0]


def test_exec_start_required_only_with_the_role_options():
    assert bot_strategies([{"name": "grid"}]) == [
        {"name": "grid", "state": "present", "environment": {}, "key_check": {}, "margin": False}
    ]
    role = {**ROLE, "default_exec_start": ""}
    assert "needs an exec_start (or set bot_host_default_exec_start)" in refused([{"name": "grid"}], **role)
    assert "exec_start must be one line" in refused([{"name": "grid", "exec_start": "/bin/a\nExecStartPre=/x"}])


def test_environment_must_not_redefine_what_the_role_writes():
    secret_value = "distinctive-value-4711"
    message = refused([{"name": "g", "environment": {"KUCOIN_SECRET_KEY": secret_value, "OK": "1"}}], **ROLE)
    assert "environment must not redefine KUCOIN_SECRET_KEY" in message
    assert secret_value not in message
    assert "bot_host_env_extra must not redefine KUCOIN_API" in refused(
        [{"name": "g"}], env_extra={"KUCOIN_API": "spot"}, **ROLE
    )


def test_role_secret_delivery_outside_its_choices():
    assert "bot_host_secret_delivery must be" in refused([{"name": "g"}], **{**ROLE, "secret_delivery": "file"})


def test_legacy_name_used_when_the_role_variable_is_unset(capsys):
    legacy = [{"name": "grid", "vault_path": "kucoin/grid"}]
    for unset in (None, []):
        assert bot_strategies(unset, legacy=legacy, require_vault_path=True)[0]["vault_path"] == "kucoin/grid"
    assert "kucoin_strategies is the old name of bot_host_strategies" in capsys.readouterr().err


def test_legacy_name_and_role_variable_together():
    same = [{"name": "grid"}]
    assert bot_strategies(same, legacy=list(same))[0]["name"] == "grid"
    message = refused([{"name": "grid"}], legacy=[{"name": "other"}], host="bot-b")
    assert (
        "host bot-b: both bot_host_strategies and kucoin_strategies are set; keep only bot_host_strategies" in message
    )


def test_legacy_list_is_checked_like_the_other():
    assert "unknown keys nme" in refused(None, legacy=[{"nme": "x"}])


def target(host, name):
    return {"host": host, "name": name}


def test_shared_api_keys_names_places_never_keys():
    key = "key-distinctive-0042"
    pairs = [
        [target("a", "grid"), {"api_key": key}],
        [target("b", "grid"), {"api_key": "other"}],
        [target("c", "dca"), {"api_key": key}],
        [target("a", "dca"), {"api_key": key}],
    ]
    assert shared_api_keys(pairs) == ["a/grid and c/dca and a/dca"]


def test_shared_api_keys_none_shared():
    assert shared_api_keys([[target("a", "x"), {"api_key": "1"}], [target("b", "x"), {"api_key": "2"}]]) == []
    assert shared_api_keys([]) == []


def test_shared_api_keys_bad_input_says_so_without_values():
    with pytest.raises(AnsibleFilterError) as info:
        shared_api_keys([[{"name": "x"}, {"api_key": "secret-distinctive-77"}]])
    assert "secret-distinctive-77" not in str(info.value)
    assert "(target, credentials) pairs" in str(info.value)


NAMES = ENV_NAMES
CREDS = {"api_key": "k-1", "api_secret": "s-distinctive-1", "api_passphrase": "p-distinctive-1", "key_version": 3}


def settled(**over):
    base = {"name": "grid", "api": "spot", "base_url": "https://api.kucoin.com", "secret_delivery": "environment"}
    return {**base, "environment": {}, **over}


def test_bot_environment_in_environment_mode():
    env = bot_environment(settled(), CREDS, NAMES)
    assert list(env.items()) == [
        ("KUCOIN_API_KEY", "k-1"),
        ("KUCOIN_SECRET_KEY", "s-distinctive-1"),
        ("KUCOIN_PASSPHRASE", "p-distinctive-1"),
        ("KUCOIN_API_KEY_VERSION", "3"),
        ("KUCOIN_API_BASE_URL", "https://api.kucoin.com"),
        ("KUCOIN_API", "spot"),
    ]


def test_bot_environment_in_credentials_mode_keeps_secrets_out():
    env = bot_environment(settled(secret_delivery="credentials"), CREDS, NAMES)
    assert "s-distinctive-1" not in env.values()
    assert "p-distinctive-1" not in env.values()
    assert env["KUCOIN_API_KEY"] == "k-1"


def test_bot_environment_key_version_default_and_extras_order():
    creds = {k: v for k, v in CREDS.items() if k != "key_version"}
    env = bot_environment(
        settled(environment={"SYMBOL": "ETH-USDT", "ONLY_HERE": "1"}),
        creds,
        dict(NAMES, api="BOT_API"),
        extra={"SYMBOL": "BTC-USDT", "LOG": "info"},
    )
    assert env["KUCOIN_API_KEY_VERSION"] == "3"
    assert env["BOT_API"] == "spot"
    assert env["SYMBOL"] == "ETH-USDT"
    assert list(env)[-3:] == ["SYMBOL", "LOG", "ONLY_HERE"]


@pytest.mark.parametrize(
    ("strategy", "creds", "needle"),
    [
        (settled(base_url=""), CREDS, "strategy grid: no base_url settled"),
        (settled(), {**CREDS, "api_secret": ""}, "strategy grid: the credentials have no api_secret"),
        (settled(), None, "unexpected input"),
    ],
)
def test_bot_environment_refusals_never_show_secrets(strategy, creds, needle):
    with pytest.raises(AnsibleFilterError) as info:
        bot_environment(strategy, creds, NAMES)
    assert needle in str(info.value)
    assert "distinctive" not in str(info.value)
