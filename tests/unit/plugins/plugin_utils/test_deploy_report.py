"""The deploy report: per strategy outcome, reasons, key changes and the fleet summary with its JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.filter.deploy_report import FilterModule
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._deploy_report import (
    failure_message,
    fleet_summary,
    halted,
    host_report,
    key_check_skip_reason,
    old_api_keys,
    role_wording,
)

OLD_KEY = "65a1b2c3d4e5f60718293a4b"
NEW_KEY = "65ffeeddccbbaa9988776655"
SECRET = "Zq-very-secret-value"


def settled(name: str, api: str = "spot") -> dict[str, Any]:
    return {"name": name, "api": api, "secret_delivery": "environment", "base_url": "https://x"}


def check(valid: bool = True, msg: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "checked": True,
        "valid": valid,
        "api_key": "65ff…55",
        "permissions": ["General", "Spot"],
        "ip_whitelist": ["203.**.154"],
        "age_days": 3,
        "warnings": [],
        "msg": msg,
        **extra,
    }


def creds(api_key: str = NEW_KEY, version: int | None = 4) -> dict[str, Any]:
    return {
        "api_key": api_key,
        "api_secret": SECRET,
        "api_passphrase": SECRET + "-pass",
        "key_version": 2,
        "vault": {"mount": "secret", "path": "kucoin/grid", "version": version},
    }


def facts(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "check_mode": False,
        "clock_offset": 0.000125,
        "time_source": "127.0.0.1",
        "settled": [settled("grid"), settled("basis", "futures")],
        "key_checks": {"grid": check(), "basis": check()},
        "held": [],
        "key_check": {"enabled": True, "dry_fresh": False, "run_tags": ["all"], "skip_tags": []},
        "changed": {"env_file": ["grid"], "credentials": [], "drop_in": [], "unit": False, "program": False},
        "restarted": ["grid"],
        "removed": [],
        "stopped": [],
        "credentials": {"grid": creds(), "basis": creds("65basisbasisbasisbasis01", None)},
        "old_api_keys": [f'/etc/kucoin-bot/grid.env:KUCOIN_API_KEY="{OLD_KEY}"'],
        "api_key_variable": "KUCOIN_API_KEY",
    }
    base.update(overrides)
    return base


def test_a_failing_key_holds_back_only_its_strategy_and_the_message_says_what_changed() -> None:
    report = host_report(
        facts(
            held=["basis"],
            key_checks={"grid": check(), "basis": check(False, "The key has the Withdrawal permission; remove it")},
        )
    )
    assert report["failed"] is True
    basis, grid = report["strategies"]["basis"], report["strategies"]["grid"]
    assert basis["outcome"] == "failed"
    assert basis["changed"] == []
    assert basis["reason"] == "key check: The key has the Withdrawal permission; remove it"
    assert grid["outcome"] == "changed"
    assert report["failure"] == (
        "basis: key check: The key has the Withdrawal permission; remove it; "
        "basis left as it was (no file written, bot not restarted); "
        "updated grid (changed: environment file, restarted)"
    )
    assert "nothing on this host was changed" not in report["failure"]


def test_failure_message_lists_unchanged_strategies_and_check_mode_wording() -> None:
    strategies = {
        "a": {"outcome": "failed", "reason": "key check: bad", "changed": []},
        "b": {"outcome": "failed", "reason": "key check: worse", "changed": []},
        "c": {"outcome": "unchanged", "changed": []},
        "d": {"outcome": "would change", "changed": ["environment file", "would restart"]},
    }
    line = failure_message(strategies, check_mode=True)
    assert "a, b left as they were" in line
    assert "would update d (would change: environment file, would restart)" in line
    assert line.endswith("unchanged c")


def test_key_change_shows_old_and_new_key_masked_and_the_vault_version() -> None:
    report = host_report(facts())
    grid = report["strategies"]["grid"]
    assert grid["key_change"] == {"old": "65a1…4b", "new": "65ff…55"}
    assert grid["vault"] == {"mount": "secret", "path": "kucoin/grid", "version": 4}
    text = json.dumps(report)
    for secret in (OLD_KEY, NEW_KEY, SECRET):
        assert secret not in text
    # The same key as before is no key change.
    same = host_report(facts(old_api_keys=[f'/etc/kucoin-bot/grid.env:KUCOIN_API_KEY="{NEW_KEY}"']))
    assert "key_change" not in same["strategies"]["grid"]


def test_old_api_keys_are_read_from_grep_output_and_unquoted() -> None:
    lines = [
        '/etc/kucoin-bot/grid.env:KUCOIN_API_KEY="ab\\"c\\\\d"',
        "/etc/kucoin-bot/x.env:OTHER=1",
        "/etc/kucoin-bot/plain.env:KUCOIN_API_KEY=raw",
    ]
    assert old_api_keys(lines, "KUCOIN_API_KEY") == {"grid": 'ab"c\\d', "plain": "raw"}


@pytest.mark.parametrize(
    ("enabled", "dry_fresh", "run_tags", "skip_tags", "words"),
    [
        (False, False, ["all"], [], "bot_host_key_check is false"),
        (True, False, ["time"], [], "credentials tag was not selected"),
        (True, False, ["all"], ["credentials"], "credentials tag was not selected"),
        (True, True, ["all"], [], "check mode on a host that lacks the packages"),
        (True, False, ["credentials"], [], ""),
    ],
)
def test_why_a_key_check_was_skipped(
    enabled: bool, dry_fresh: bool, run_tags: list[str], skip_tags: list[str], words: str
) -> None:
    reason = key_check_skip_reason(enabled, dry_fresh, run_tags, skip_tags)
    assert (words in reason) if words else reason == ""


def test_skipped_check_is_explained_in_the_summary() -> None:
    report = host_report(facts(key_checks={}, key_check={"enabled": True, "dry_fresh": True}, check_mode=True))
    lines = fleet_summary({"h": {"bot_host_report": report}}, ["h"], check_mode=True)["lines"]
    assert "grid (spot, secrets in environment): key not checked (check mode on a host that lacks" in lines[1]
    assert "would change: environment file, would restart" in lines[1]
    assert "key would change 65a1…4b -> 65ff…55" in lines[1]


@pytest.mark.parametrize(
    ("reason", "api", "expected"),
    [
        (
            "the host name api.kucoin.com could not be resolved; check key_info_url (for api=futures it defaults to "
            "https://api.kucoin.com, not to base_url) for typos",
            "futures",
            "check bot_host_kucoin_base_url (for api=futures it defaults to https://api.kucoin.com, not to "
            "bot_host_kucoin_futures_base_url) for typos",
        ),
        ("x; check base_url for typos", "futures", "x; check bot_host_kucoin_futures_base_url for typos"),
        (
            "x; check base_url, key_info_url and proxy",
            "spot",
            "x; check bot_host_kucoin_base_url and bot_host_key_check_proxy",
        ),
        ("set ca_path to the CA", "spot", "set bot_host_key_check_ca_path to the CA"),
    ],
)
def test_errors_name_the_role_variable_that_is_wrong(reason: str, api: str, expected: str) -> None:
    assert expected in role_wording(reason, api)


def test_a_stopped_strategy_is_reported_as_stopped_with_files_kept() -> None:
    report = host_report(facts(stopped=["old"]))
    assert report["strategies"]["old"]["outcome"] == "stopped"
    lines = fleet_summary({"h": {"bot_host_report": report}}, ["h"])["lines"]
    assert "  old: stopped and disabled, files kept" in lines


def test_service_status_is_shown_when_the_key_check_reports_it() -> None:
    report = host_report(facts(key_checks={"grid": check(service_status="open"), "basis": check()}))
    line = fleet_summary({"h": {"bot_host_report": report}}, ["h"])["lines"][1]
    assert "KuCoin service open" in line


def test_summary_of_a_fleet_where_every_host_failed() -> None:
    hostvars = {
        "bot1": {"_deploy_failure": {"task": "Wait for chrony", "msg": "chrony selected no time source"}},
        "bot2": {
            "bot_host_report": host_report(
                facts(held=["basis"], key_checks={"grid": check(), "basis": check(False, "Bad passphrase")})
            ),
            "_deploy_failure": {"task": "Fail this host", "msg": "ignored: the report's reason is more precise"},
        },
        "bot3": {},
    }
    summary = fleet_summary(hostvars, ["bot1", "bot2", "bot3"])
    assert summary["failed_hosts"] == {
        "bot1": "chrony selected no time source (at task 'Wait for chrony'; the role's later steps did not run on "
        "this host)",
        "bot2": summary["report"]["hosts"]["bot2"]["reason"],
        "bot3": "unreachable or stopped before the role ran",
    }
    assert summary["report"]["hosts"]["bot2"]["reason"].startswith("basis: key check: Bad passphrase")
    assert summary["lines"][0].startswith("bot1: FAILED - chrony selected no time source (at task 'Wait for chrony'")
    assert any(line.startswith("  basis (futures") and "FAILED, left as it was" in line for line in summary["lines"])
    report = json.loads(json.dumps(summary["report"]))
    assert report["ok"] is False
    assert report["hosts"]["bot2"]["strategies"]["grid"]["outcome"] == "changed"
    assert "failure" not in report["hosts"]["bot2"]


def test_hosts_left_out_after_a_failed_batch() -> None:
    hostvars = {
        "a": {"_deploy_batch": ["a"], "_deploy_failure": {"msg": "boom"}},
        "b": {"_deploy_batch": ["b", "c"], "_deploy_failure": {"msg": "boom"}},
        "c": {"_deploy_batch": ["b", "c"], "bot_host_report": host_report(facts())},
        "d": {},
    }
    assert halted(hostvars, ["b", "c", "d"]) == []
    assert halted(hostvars, ["a", "b", "c", "d"]) == ["a"]
    left_out = {"_deploy_not_attempted": "every host of an earlier batch failed (a), so the rollout stopped"}
    summary = FilterModule().filters()["deploy_summary"]({**hostvars, "d": left_out}, ["a", "d"])
    assert summary["halted"] == ["a"]
    assert summary["lines"][-1] == "d: not deployed - every host of an earlier batch failed (a), so the rollout stopped"
    assert "d" not in summary["failed_hosts"]
