"""The key policy: KuCoin's permission names, safe by default; whitelist, sub-account, age, clock, version."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import MS_PER_DAY, ClockReading
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_key_info import KeyInfo
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_policy import Policy, evaluate_policy

NOW_MS = 1_780_000_000_000

# --- policy ---------------------------------------------------------------------------------------------


def info(**overrides: Any) -> KeyInfo:
    values: dict[str, Any] = {
        "permissions": ["General", "Spot"],
        "ip_whitelist": ["203.0.113.7"],
        "is_master": True,
        "sub_account": None,
        "created_at_ms": NOW_MS - 10 * MS_PER_DAY,
        "api_version": 2,
    }
    values.update(overrides)
    return KeyInfo(**values)


CLOCK_OK = ClockReading(NOW_MS, 120, 30)


def test_a_good_key_passes_cleanly() -> None:
    assert evaluate_policy(info(), CLOCK_OK, Policy(), NOW_MS, 2) == ([], [])


def test_required_permissions_compare_case_insensitively() -> None:
    failures = evaluate_policy(info(), CLOCK_OK, Policy(required_permissions=("general", "SPOT")), NOW_MS, 3)[0]
    assert failures == []
    failures = evaluate_policy(info(), CLOCK_OK, Policy(required_permissions=("General", "Earn")), NOW_MS, 3)[0]
    assert len(failures) == 1
    assert "lacks the Earn permission" in failures[0]


@pytest.mark.parametrize(
    ("api", "margin", "held", "missing"),
    [
        ("spot", False, ["General"], "Spot"),
        ("spot", False, [], "Spot"),
        ("futures", False, ["General", "Spot"], "Futures"),
        ("spot", True, ["General", "Spot"], "Margin"),
    ],
)
def test_the_trade_permission_of_the_api_is_required(api: str, margin: bool, held: list[str], missing: str) -> None:
    failures = evaluate_policy(info(permissions=held), CLOCK_OK, Policy(api=api, margin=margin), NOW_MS, 3)[0]
    assert len(failures) == 1
    assert f"lacks the {missing} permission" in failures[0]
    assert "API management page" in failures[0]
    assert f"tick {missing}" in failures[0]


def test_general_alone_never_suffices_even_when_only_general_is_required() -> None:
    failures = evaluate_policy(
        info(permissions=["General"]), CLOCK_OK, Policy(required_permissions=("General",)), NOW_MS, 3
    )[0]
    assert "lacks the Spot permission" in failures[0]


@pytest.mark.parametrize("name", ["Transfer", "InnerTransfer", "Withdrawal", "transfer"])
def test_money_moving_permissions_are_refused_by_default(name: str) -> None:
    key = info(permissions=["General", "Spot", name])
    failures = evaluate_policy(key, CLOCK_OK, Policy(), NOW_MS, 3)[0]
    assert len(failures) == 1
    assert f"has the {name} permission" in failures[0]
    assert f"untick {name}" in failures[0]
    assert "allowed_permissions" in failures[0]
    assert evaluate_policy(key, CLOCK_OK, Policy(allowed_permissions=(name.upper(),)), NOW_MS, 3)[0] == []
    assert evaluate_policy(key, CLOCK_OK, Policy(forbidden_permissions=()), NOW_MS, 3)[0] == []


def test_transfer_is_named_as_the_withdrawal_right() -> None:
    failures = evaluate_policy(info(permissions=["General", "Spot", "Transfer"]), CLOCK_OK, Policy(), NOW_MS, 3)[0]
    assert "withdraw" in failures[0]


def test_unknown_permission_names_warn() -> None:
    key = info(permissions=["General", "Spot", "Earn", "Unified", "LeadtradeFutures", "Options"])
    failures, warnings = evaluate_policy(key, CLOCK_OK, Policy(), NOW_MS, 3)
    assert failures == []
    assert len(warnings) == 1
    assert "does not know: Options" in warnings[0]


def test_ip_whitelist_requirement() -> None:
    policy = Policy(require_ip_whitelist=True)
    assert evaluate_policy(info(), CLOCK_OK, policy, NOW_MS, 2)[0] == []
    failures = evaluate_policy(info(ip_whitelist=[]), CLOCK_OK, policy, NOW_MS, 2)[0]
    assert "no IP whitelist" in failures[0]


def test_expected_sub_account() -> None:
    sub = info(is_master=False, sub_account="grid")
    assert evaluate_policy(sub, CLOCK_OK, Policy(expected_sub_account="grid"), NOW_MS, 2)[0] == []
    failures = evaluate_policy(sub, CLOCK_OK, Policy(expected_sub_account="dca"), NOW_MS, 2)[0]
    assert "sub-account grid, not to sub-account dca" in failures[0]
    failures = evaluate_policy(info(), CLOCK_OK, Policy(expected_sub_account="dca"), NOW_MS, 2)[0]
    assert "the master account" in failures[0]


def test_old_key_warns_or_fails() -> None:
    old = info(created_at_ms=NOW_MS - 120 * MS_PER_DAY)
    failures, warnings = evaluate_policy(old, CLOCK_OK, Policy(), NOW_MS, 2)
    assert failures == []
    assert warnings == ["the key is 120 days old, older than max_key_age_days (90); rotate it"]
    failures, warnings = evaluate_policy(old, CLOCK_OK, Policy(fail_on_old_key=True), NOW_MS, 2)
    assert warnings == []
    assert "120 days old" in failures[0]
    assert evaluate_policy(old, CLOCK_OK, Policy(max_key_age_days=365), NOW_MS, 2) == ([], [])


@pytest.mark.parametrize(
    ("skew_ms", "failed", "warned"),
    [
        (0, False, False),
        (999, False, False),
        (1001, False, True),
        (-1500, False, True),
        (2001, True, False),
        (-3000, True, False),
    ],
)
def test_clock_skew_fails_over_the_limit_and_warns_from_half(skew_ms: int, failed: bool, warned: bool) -> None:
    failures, warnings = evaluate_policy(
        info(), ClockReading(NOW_MS, skew_ms, 10), Policy(max_clock_skew=2.0), NOW_MS, 2
    )
    assert bool(failures) is failed
    assert bool(warnings) is warned


def test_offset_wording_says_which_way() -> None:
    failures = evaluate_policy(info(), ClockReading(NOW_MS, -3250, 10), Policy(), NOW_MS, 2)[0]
    assert "3.250 s ahead of KuCoin's" in failures[0]
    failures = evaluate_policy(info(), ClockReading(NOW_MS, 3250, 10), Policy(), NOW_MS, 2)[0]
    assert "3.250 s behind KuCoin's" in failures[0]


@pytest.mark.parametrize(("reported", "sent"), [(2, 3), (3, 2), (3, 3), (2, 2), (1, 1)])
def test_versions_2_and_3_are_interchangeable(reported: int, sent: int) -> None:
    assert evaluate_policy(info(api_version=reported), CLOCK_OK, Policy(), NOW_MS, sent)[1] == []


def test_a_version_1_mismatch_is_a_warning() -> None:
    warnings = evaluate_policy(info(api_version=1), CLOCK_OK, Policy(), NOW_MS, 3)[1]
    assert warnings == ["KuCoin reports key version 1, but key_version is 3"]


def test_whitelist_addresses_against_masked_entries() -> None:
    key = info(ip_whitelist=["203.**.154", "103.**.34"])
    policy = Policy(whitelist_addresses=("203.0.113.154", "103.9.9.34"))
    assert evaluate_policy(key, CLOCK_OK, policy, NOW_MS, 3)[0] == []
    failures = evaluate_policy(key, CLOCK_OK, Policy(whitelist_addresses=("203.0.113.155",)), NOW_MS, 3)[0]
    assert "does not cover 203.0.113.155" in failures[0]
    assert "203.**.154" in failures[0]
