# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the rotate_keys playbook (rotation_targets, rotation_plan, rotation_running, rotation_summary),
documented in their .yml files; the logic lives in plugin_utils/_rotation.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._rotation import (
    DEFAULT_AFTER_DAYS,
    PlanSettings,
    RotationError,
    parse_named,
    plan,
    running,
    summary,
    targets,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._strategies import StrategyError


def _host_vars(hostvars, hosts):
    return {host: hostvars.get(host) or {} for host in hosts}


def rotation_targets(hostvars, group, hosts=None):
    """The present strategies of the hosts in this run, checked with the strategy model, each with its host."""
    try:
        return targets(hostvars, list(group), None if hosts is None else list(hosts))
    except StrategyError as exc:
        raise AnsibleFilterError(str(exc)) from None


def rotation_plan(strategies, hostvars, current=None, after_days=DEFAULT_AFTER_DAYS, named=None, allow_any_ip=False):
    """One entry per strategy with a sub_account: the subaccount_api_key options, or why it is not rotated."""
    try:
        days = int(after_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError("rotate_after_days must be a whole number of days") from None
    if days < 1:
        raise AnsibleFilterError("rotate_after_days must be at least 1")
    settings = PlanSettings(after_days=days, named=parse_named(named), allow_any_ip=bool(allow_any_ip))
    items = list(strategies or [])
    try:
        return plan(items, _host_vars(hostvars, sorted({s["host"] for s in items})), dict(current or {}), settings)
    except RotationError as exc:
        raise AnsibleFilterError(str(exc)) from None


def rotation_running(expected, units, state="", env_lines=None, api_key_variable="KUCOIN_API_KEY", settle_seconds=0):
    """Per strategy, whether its bot runs on the API key given for it (see rotation_running.yml)."""
    return running(
        dict(expected or {}),
        str(units or ""),
        str(state or ""),
        list(env_lines or []),
        str(api_key_variable),
        int(settle_seconds or 0),
    )


def rotation_summary(hostvars, hosts, entries, check_mode=False):
    """The rotation's summary over many hosts: lines, a JSON-ready report and the failed hosts."""
    return summary(hostvars, list(hosts), list(entries or []), bool(check_mode))


class FilterModule:
    def filters(self):
        return {
            "rotation_targets": rotation_targets,
            "rotation_plan": rotation_plan,
            "rotation_running": rotation_running,
            "rotation_summary": rotation_summary,
        }
