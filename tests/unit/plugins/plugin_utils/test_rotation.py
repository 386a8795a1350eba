"""Key rotation's plan, its check of what a bot runs with, and its summary (the rotation_* filters)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.filter.rotation import (
    FilterModule,
    rotation_plan,
    rotation_running,
    rotation_summary,
    rotation_targets,
)

OLD_KEY = "65a1b2c3d4e5f60718293a4b"
NEW_KEY = "65ffeeddccbbaa9988776655"
OLD_MASKED = "65a1…4b"
NEW_MASKED = "65ff…55"
HOSTVARS = {
    "bot1": {
        "bot_host_strategies": [
            {"name": "grid", "vault_path": "kucoin/grid", "sub_account": "gridbots01", "api": "spot"},
            {"name": "plain", "vault_path": "kucoin/plain"},
            {"name": "gone", "state": "absent"},
        ],
        "rotate_ip_whitelist": ["203.0.113.7"],
    },
    "bot2": {
        "bot_host_strategies": [
            {"name": "basis", "vault_path": "kucoin/basis", "sub_account": "basisbot02", "margin": True},
            {"name": "pinned", "vault_path": "kucoin/pinned", "sub_account": "pinnedbot3", "vault": {"version": 4}},
        ],
        "bot_host_key_check_whitelist_addresses": ["198.51.100.2"],
    },
    "bot3": {"bot_host_strategies": [{"name": "open", "vault_path": "kucoin/open", "sub_account": "openbot004"}]},
}


def planned(**kwargs: Any) -> list[dict[str, Any]]:
    strategies = rotation_targets(HOSTVARS, ["bot1", "bot2", "bot3"])
    return rotation_plan(strategies, HOSTVARS, **kwargs)


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in entries}


def test_registered_names():
    assert set(FilterModule().filters()) == {
        "rotation_targets",
        "rotation_plan",
        "rotation_running",
        "rotation_summary",
    }


def test_targets_are_the_present_strategies_of_the_hosts_in_the_run():
    found = rotation_targets(HOSTVARS, ["bot1", "bot2", "bot3"], ["bot1"])
    assert [(s["host"], s["name"]) for s in found] == [("bot1", "grid"), ("bot1", "plain")]


def test_targets_check_every_host_of_the_group():
    broken = {**HOSTVARS, "bot3": {"bot_host_strategies": [{"name": "x"}]}}
    with pytest.raises(
        AnsibleFilterError, match=r"host bot3: bot_host_strategies\[0\] \(x\): a present strategy needs"
    ):
        rotation_targets(broken, ["bot1", "bot3"], ["bot1"])


def test_plan_covers_strategies_with_a_sub_account_only():
    plan = by_name(planned(current={"bot2/basis": {"api": "futures", "api_key": OLD_KEY}}))
    assert set(plan) == {"grid", "basis", "pinned", "open"}
    grid = plan["grid"]
    assert grid["sub_account"] == "gridbots01"
    assert grid["vault"] == {"path": "kucoin/grid"}
    assert grid["permissions"] == ["General", "Spot"]
    assert grid["ip_whitelist"] == ["203.0.113.7"]
    assert grid["max_age_days"] == 80
    assert grid["rotate"] is False
    assert grid["skip"] == grid["error"] == ""
    assert len(grid["remark"]) <= 24
    # The api comes from Vault when the inventory does not say; margin adds the Margin permission.
    assert plan["basis"]["permissions"] == ["General", "Futures", "Margin"]
    assert plan["basis"]["ip_whitelist"] == ["198.51.100.2"]
    assert plan["basis"]["current_key"] == OLD_MASKED
    assert OLD_KEY not in json.dumps(list(plan.values()))  # the plan is a fact: Ansible prints it at -v


def test_a_pinned_version_is_skipped_saying_why():
    pinned = by_name(planned())["pinned"]
    assert "pinned to Vault version 4" in pinned["skip"]
    assert "version" not in pinned["vault"]


def test_a_strategy_without_a_whitelist_fails_unless_any_ip_is_allowed():
    assert "set rotate_ip_whitelist" in by_name(planned())["open"]["error"]
    allowed = by_name(planned(allow_any_ip=True))["open"]
    assert allowed["error"] == ""
    assert allowed["allow_any_ip"] is True


def test_the_strategy_whitelist_wins():
    hostvars = {
        "bot1": {
            "bot_host_strategies": [
                {
                    "name": "grid",
                    "vault_path": "kucoin/grid",
                    "sub_account": "gridbots01",
                    "key_check": {"whitelist_addresses": ["192.0.2.1"]},
                }
            ],
            "rotate_ip_whitelist": ["203.0.113.7"],
        }
    }
    plan = rotation_plan(rotation_targets(hostvars, ["bot1"]), hostvars)
    assert plan[0]["ip_whitelist"] == ["192.0.2.1"]


@pytest.mark.parametrize("named", ["grid, bot2/basis", ["grid", "bot2/basis"]])
def test_named_strategies_are_rotated_whatever_their_age(named):
    plan = by_name(planned(named=named, after_days=30))
    assert plan["grid"]["rotate"]
    assert plan["basis"]["rotate"]
    assert not plan["open"]["rotate"]
    assert plan["grid"]["max_age_days"] == 30


@pytest.mark.parametrize(
    ("named", "needle"),
    [
        ("nope", "rotate_strategies names nope, which is no present strategy with a sub_account; rotatable: bot1/grid"),
        ("plain", "(bot1/plain has no sub_account)"),
    ],
)
def test_unknown_names_fail_naming_what_can_be_rotated(named, needle):
    with pytest.raises(AnsibleFilterError) as info:
        planned(named=named)
    assert needle in str(info.value)


@pytest.mark.parametrize("days", ["soon", 0])
def test_after_days_must_be_a_positive_number(days):
    with pytest.raises(AnsibleFilterError, match="rotate_after_days"):
        planned(after_days=days)


# --- what a bot runs with -----------------------------------------------------------------------------

NOW = 1_764_665_400


def units(*blocks: tuple[str, str, str, int | None]) -> str:
    text = [str(NOW)]
    for name, active, sub, since in blocks:
        stamp = f"@{since}" if since is not None else ""
        text.append(
            f"Id=kucoin-bot@{name}.service\nActiveState={active}\nSubState={sub}\nActiveEnterTimestamp={stamp}\n"
        )
    return "\n".join(text)


def env(name: str, key: str) -> str:
    return f'/etc/kucoin-bot/{name}.env:KUCOIN_API_KEY="{key}"'


def test_a_bot_runs_on_its_key_when_file_unit_and_recorded_start_agree():
    status = rotation_running(
        {"grid": NEW_KEY},
        units(("grid", "active", "running", NOW - 30)),
        json.dumps({"reload": False, "stale": {}}),
        [env("grid", NEW_KEY)],
        settle_seconds=5,
    )
    assert status == {"grid": {"running": True, "settling": False, "on_file": True, "reason": ""}}


@pytest.mark.parametrize(
    ("unit", "state", "lines", "reason", "on_file"),
    [
        (("grid", "active", "running", NOW - 30), {"stale": {}}, [env("grid", OLD_KEY)], f"names key {OLD_MASKED}", 0),
        (("grid", "active", "running", NOW - 30), {"stale": {}}, [], "no environment file", 0),
        (("grid", "failed", "failed", None), {"stale": {}}, [env("grid", NEW_KEY)], "the unit is failed", 1),
        (("grid", "activating", "auto-restart", None), {}, [env("grid", NEW_KEY)], "activating (auto-restart)", 1),
        (
            ("grid", "active", "running", NOW - 30),
            {"stale": {"grid": "started with other files than those on disk"}},
            [env("grid", NEW_KEY)],
            "the bot started with other files",
            1,
        ),
    ],
)
def test_reasons_a_bot_does_not_run_on_its_key(unit, state, lines, reason, on_file):
    status = rotation_running({"grid": NEW_KEY}, units(unit), json.dumps(state), lines)["grid"]
    assert status["running"] is False
    assert reason in status["reason"]
    assert status["on_file"] is bool(on_file)
    assert NEW_KEY not in json.dumps(status)
    assert OLD_KEY not in json.dumps(status)


def test_a_bot_that_just_started_is_settling():
    status = rotation_running(
        {"grid": NEW_KEY}, units(("grid", "active", "running", NOW - 1)), "{}", [env("grid", NEW_KEY)], settle_seconds=5
    )["grid"]
    assert status["settling"] is True
    assert status["running"] is False


def test_the_wait_sees_a_just_started_bot_settling_without_reading_its_files():
    # The role's wait polls with the units alone (no environment lines, no state answer).
    status = rotation_running(
        {"grid": NEW_KEY}, units(("grid", "active", "running", NOW - 1)), "{}", [], settle_seconds=5
    )["grid"]
    assert status["settling"] is True
    settled = rotation_running(
        {"grid": NEW_KEY}, units(("grid", "active", "running", NOW - 6)), "{}", [], settle_seconds=5
    )["grid"]
    assert settled["settling"] is False


def test_an_unreadable_state_answer_is_no_confirmation():
    status = rotation_running(
        {"grid": NEW_KEY}, units(("grid", "active", "running", NOW - 30)), "", [env("grid", NEW_KEY)]
    )["grid"]
    assert status["running"] is False
    assert "could not be read" in status["reason"]


# --- the summary ----------------------------------------------------------------------------------------

ENTRY = {
    "host": "bot1",
    "name": "grid",
    "sub_account": "gridbots01",
    "max_age_days": 80,
    "rotate": False,
    "skip": "",
    "error": "",
    "current_key": OLD_MASKED,
}


def item(**extra: Any) -> dict[str, Any]:
    return {"item": ENTRY, "failed": False, "changed": False, **extra}


def created(**extra: Any) -> dict[str, Any]:
    return item(
        changed=True,
        created=True,
        api_key=NEW_KEY,
        previous_api_key=OLD_KEY,
        key_age_days=0,
        previous_key_age_days=93,
        vault_version=5,
        **extra,
    )


RUNNING = {"grid": {"running": True, "settling": False, "on_file": True, "reason": ""}}
NOT_STARTED = {"grid": {"running": False, "settling": False, "on_file": True, "reason": "the unit is failed"}}
HELD = {"grid": {"running": False, "settling": False, "on_file": False, "reason": f"names key {OLD_MASKED}"}}


def summarise(check_mode: bool = False, entry: dict[str, Any] | None = None, **facts: Any) -> dict[str, Any]:
    hostvars = {"bot1": {f"_rotate_{k}" if k != "bot_host_report" else k: v for k, v in facts.items()}}
    return rotation_summary(hostvars, ["bot1"], [entry or ENTRY], check_mode)


def strategy(result: dict[str, Any]) -> dict[str, Any]:
    return result["report"]["hosts"]["bot1"]["strategies"]["grid"]


def assert_masked(result: dict[str, Any]) -> None:
    text = json.dumps(result)
    assert OLD_KEY not in text
    assert NEW_KEY not in text


def test_rotated_end_to_end():
    result = summarise(
        create={"results": [created()]}, confirm=RUNNING, delete_old={"results": [item(changed=True, deleted=True)]}
    )
    line = result["lines"][1]
    assert line == (
        f"  grid (sub-account gridbots01): rotated; key {OLD_MASKED} (93 d) -> {NEW_MASKED} (0 d), Vault v5; "
        "new key live, bot restarted on it, old key deleted"
    )
    assert result["failed_hosts"] == {}
    assert result["report"]["ok"] is True
    assert strategy(result)["delete_at_kucoin"] is None
    assert result["lines"][-1] == "rotation: 1 rotated"
    assert_masked(result)


def test_not_due_shows_the_age():
    result = summarise(create={"results": [item(api_key=OLD_KEY, key_age_days=12, due=False, vault_version=3)]})
    assert result["lines"][1] == (
        f"  grid (sub-account gridbots01): not due; key {OLD_MASKED} (12 d); not due (key age 12 d, rotated after 80 d)"
    )
    assert result["failed_hosts"] == {}


def test_check_mode_says_what_would_rotate():
    result = summarise(
        check_mode=True,
        create={"results": [item(changed=True, created=False, api_key=OLD_KEY, key_age_days=95, due=True)]},
    )
    assert "would rotate; key 65a1…4b (95 d); would rotate (key age 95 d over 80 d)" in result["lines"][1]
    assert result["report"]["check_mode"] is True


def test_a_failed_create_changed_nothing():
    result = summarise(create={"results": [item(failed=True, msg="KuCoin answered 500000 Internal Server Error")]})
    assert strategy(result)["outcome"] == "failed"
    assert (
        "creating the new key failed, nothing changed, bot on the old key: KuCoin answered 500000"
        in (result["lines"][1])
    )
    assert "grid: failed: creating the new key failed" in result["failed_hosts"]["bot1"]


def test_a_failed_vault_write_whose_key_was_deleted_changed_nothing():
    result = summarise(
        create={"results": [item(failed=True, created=True, deleted=True, api_key=NEW_KEY, msg="Vault: permission")]}
    )
    assert strategy(result)["outcome"] == "failed"
    assert strategy(result)["delete_at_kucoin"] is None


def test_a_new_key_the_module_could_not_delete_is_named_for_deletion():
    result = summarise(
        create={"results": [item(failed=True, created=True, deleted=False, api_key=NEW_KEY, msg="Vault down")]}
    )
    assert strategy(result)["outcome"] == "needs attention"
    assert strategy(result)["delete_at_kucoin"] == NEW_MASKED
    assert f"delete {NEW_MASKED}" in result["lines"][1]
    assert_masked(result)


def test_a_key_check_failure_rolls_back_without_touching_the_host():
    report = {"strategies": {"grid": {"outcome": "failed", "reason": "key check: IP not on the whitelist"}}}
    result = summarise(
        create={"results": [created()]},
        bot_host_report=report,
        deploy_failure={"task": "Fail this host", "msg": "grid: key check: ..."},
        confirm=HELD,
        rollback={"results": [item(changed=True, deleted=True, rolled_back=True, vault_version=6)]},
        redeployed=[],
    )
    s = strategy(result)
    assert s["outcome"] == "rolled back"
    assert s["vault_version"] == 6
    assert (
        "key check: IP not on the whitelist; rolled back: new key deleted, Vault rolled back to the old key (v6)"
        in (s["what"])
    )
    assert "bot left running on the old key" in s["what"]
    assert "ROLLED BACK" in result["lines"][1]
    assert "bot1" in result["failed_hosts"]


def test_a_failed_restart_rolls_back_and_puts_the_old_key_back():
    result = summarise(
        create={"results": [created()]},
        deploy_failure={"task": "Restart the bots whose configuration changed", "msg": "Unable to restart service"},
        confirm=NOT_STARTED,
        rollback={"results": [item(changed=True, deleted=True, rolled_back=True, vault_version=6)]},
        redeployed=["grid"],
        restored=RUNNING,
    )
    s = strategy(result)
    assert s["outcome"] == "rolled back"
    assert "Unable to restart service (at task 'Restart the bots whose configuration changed')" in s["what"]
    assert "bot restarted on the old key" in s["what"]


def test_a_failed_redeploy_of_the_old_key_needs_attention():
    result = summarise(
        create={"results": [created()]},
        confirm=NOT_STARTED,
        rollback={"results": [item(changed=True, deleted=True, rolled_back=True, vault_version=6)]},
        redeployed=["grid"],
        redeploy_failure={"task": "Restart", "msg": "Unable to restart service"},
        restored=NOT_STARTED,
    )
    s = strategy(result)
    assert s["outcome"] == "needs attention"
    assert "putting the old key back on the host failed: the unit is failed; run deploy_bot for bot1" in s["what"]


def test_a_failed_rollback_names_the_new_key_for_deletion():
    result = summarise(
        create={"results": [created()]},
        confirm=HELD,
        rollback={"results": [item(failed=True, rolled_back=True, vault_version=6, msg="KuCoin answered 500000")]},
    )
    s = strategy(result)
    assert s["outcome"] == "needs attention"
    assert s["delete_at_kucoin"] == NEW_MASKED
    assert f"the new key {NEW_MASKED} could NOT be deleted at KuCoin (KuCoin answered 500000)" in s["what"]
    assert_masked(result)


def test_an_old_key_that_could_not_be_deleted_is_named():
    result = summarise(
        create={"results": [created()]},
        confirm=RUNNING,
        # The module's own message names the key in full; the summary masks it as everywhere.
        delete_old={"results": [item(failed=True, msg=f"deleting key {OLD_KEY} failed: KuCoin answered 500000")]},
    )
    s = strategy(result)
    assert s["outcome"] == "needs attention"
    assert s["delete_at_kucoin"] == OLD_MASKED
    assert s["vault_version"] == 5
    assert "new key live, bot restarted on it, but the old key 65a1…4b was NOT deleted at KuCoin" in s["what"]
    assert f"deleting key {OLD_MASKED} failed" in s["what"]
    assert_masked(result)


def test_a_failure_registered_with_failed_when_false_is_still_a_failure():
    # failed_when: false clears `failed`; the module's `error` field tells the summary.
    msg = f"deleting key {OLD_KEY} failed: KuCoin answered 500000"
    result = summarise(
        create={"results": [created()]},
        confirm=RUNNING,
        delete_old={"results": [item(failed=False, failed_when_result=False, error=msg, msg=msg)]},
    )
    s = strategy(result)
    assert s["outcome"] == "needs attention"
    assert s["delete_at_kucoin"] == OLD_MASKED
    assert_masked(result)


def test_a_run_that_stopped_after_the_create_names_the_new_key():
    result = summarise(create={"results": [created()]}, stopped="the run stopped at task 'x' on this host")
    s = strategy(result)
    assert s["outcome"] == "needs attention"
    assert s["delete_at_kucoin"] == NEW_MASKED
    assert "the run stopped at task 'x'" in s["what"]


def test_a_host_that_never_got_to_the_create_is_not_attempted():
    result = summarise()
    assert strategy(result)["outcome"] == "not attempted"
    assert "bot1" in result["failed_hosts"]


def test_skipped_and_misconfigured_strategies():
    skipped = summarise(entry={**ENTRY, "skip": "pinned to Vault version 4 (vault.version); unpin it to rotate"})
    assert strategy(skipped)["outcome"] == "skipped"
    assert skipped["failed_hosts"] == {}
    broken = summarise(entry={**ENTRY, "error": "no IP whitelist for the new key: set rotate_ip_whitelist"})
    assert strategy(broken)["outcome"] == "failed"
    assert "not rotated: no IP whitelist" in broken["lines"][1]


def test_nothing_to_rotate():
    result = rotation_summary({}, [], [], False)
    assert result["lines"] == ["no strategy with a sub_account: nothing to rotate"]
    assert result["report"]["ok"] is True
