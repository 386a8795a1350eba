# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a bot's key may and must be: permissions as KuCoin names them, whitelist, sub-account, age, clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import (
    MS_PER_DAY,
    ClockReading,
    describe_offset,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_key_info import KeyInfo, uncovered_addresses

API_MANAGEMENT_PAGE = "KuCoin's API management page (https://www.kucoin.com/account/api)"

# The names KuCoin reports in the key information's `permission` list (its OpenAPI spec lists the first seven;
# keys in use also report Unified and LeadtradeFutures). Withdrawal is never reported, kept in case it is.
KNOWN_PERMISSIONS = (
    "General",
    "Spot",
    "Margin",
    "Futures",
    "InnerTransfer",
    "Transfer",
    "Earn",
    "Unified",
    "LeadtradeFutures",
    "Withdrawal",
)
# What each money-moving permission lets a holder of the key do.
MONEY_MOVING = {
    "Transfer": "withdraw funds off KuCoin",
    "InnerTransfer": "move funds between accounts (FlexTransfer)",
    "Withdrawal": "withdraw funds",
}
DEFAULT_FORBIDDEN = tuple(MONEY_MOVING)
TRADE_PERMISSION = {"spot": "Spot", "futures": "Futures"}
MARGIN_PERMISSION = "Margin"


@dataclass(frozen=True)
class Policy:
    api: str = "spot"
    margin: bool = False  # the strategy trades on margin, so the key needs Margin too
    required_permissions: tuple[str, ...] = ()  # in addition to the trade permission(s) of `api`
    forbidden_permissions: tuple[str, ...] = DEFAULT_FORBIDDEN
    allowed_permissions: tuple[str, ...] = ()  # taken out of the forbidden ones: the user's explicit choice
    max_key_age_days: float = 90
    fail_on_old_key: bool = False
    require_ip_whitelist: bool = False
    whitelist_addresses: tuple[str, ...] = ()
    expected_sub_account: str | None = None
    max_clock_skew: float = 2.0  # seconds

    @property
    def skew_warning_ms(self) -> float:
        return self.max_clock_skew * 1000 / 2

    @property
    def skew_limit_ms(self) -> float:
        return self.max_clock_skew * 1000

    def needed_permissions(self) -> list[str]:
        """The trade permission of the key's api (never General alone), Margin for margin, then the extras."""
        needed = [TRADE_PERMISSION[self.api]]
        if self.margin:
            needed.append(MARGIN_PERMISSION)
        for name in self.required_permissions:
            if name.strip() and name.strip().lower() not in _lower_set(needed):
                needed.append(name.strip())
        return needed

    def refused_permissions(self) -> set[str]:
        return _lower_set(self.forbidden_permissions) - _lower_set(self.allowed_permissions)


def _lower_set(names: Iterable[str]) -> set[str]:
    return {n.strip().lower() for n in names if n and n.strip()}


def _permission_findings(info: KeyInfo, policy: Policy) -> tuple[list[str], list[str]]:
    failures: list[str] = []
    held = _lower_set(info.permissions)
    has = ", ".join(info.permissions) or "none"
    for name in policy.needed_permissions():
        if name.lower() not in held:
            why = {
                TRADE_PERMISSION[policy.api]: f"which a {policy.api} bot needs to trade",
                MARGIN_PERMISSION: "which a strategy that trades on margin needs",
            }.get(name, "listed in required_permissions")
            failures.append(
                f"the key lacks the {name} permission, {why} (it has {has}); on {API_MANAGEMENT_PAGE} edit the key "
                f"and tick {name}, or create a key that has it"
            )
    refused = policy.refused_permissions()
    for name in info.permissions:
        if name.lower() in refused:
            does = MONEY_MOVING.get(name) or next(
                (text for known, text in MONEY_MOVING.items() if known.lower() == name.lower()), "do what it is for"
            )
            failures.append(
                f"the key has the {name} permission, which lets anyone holding it {does}; a trading bot's key must "
                f"not have it: on {API_MANAGEMENT_PAGE} edit the key and untick {name} (or create a key without "
                f"it), or, if this bot really needs it, list {name} in allowed_permissions"
            )
    known = _lower_set(KNOWN_PERMISSIONS)
    unknown = [name for name in info.permissions if name.lower() not in known]
    warnings = []
    if unknown:
        warnings.append(
            f"KuCoin reports permission(s) this collection does not know: {', '.join(unknown)}; find out what they "
            "allow, and forbid them with forbidden_permissions if a trading bot must not have them"
        )
    return failures, warnings


def _whitelist_findings(info: KeyInfo, policy: Policy) -> list[str]:
    failures = []
    if policy.require_ip_whitelist and not info.ip_whitelist:
        failures.append(
            "the key has no IP whitelist, so anyone who gets it can use it from anywhere; on "
            f"{API_MANAGEMENT_PAGE} restrict it to the bot hosts' IP addresses"
        )
    uncovered = uncovered_addresses(info.ip_whitelist, list(policy.whitelist_addresses))
    if uncovered:
        failures.append(
            f"the key's IP whitelist ({', '.join(info.ip_whitelist)}) does not cover {', '.join(uncovered)}; on "
            f"{API_MANAGEMENT_PAGE} add {'them' if len(uncovered) > 1 else 'it'} to the key's whitelist"
        )
    return failures


def _version_warning(info: KeyInfo, key_version: int) -> list[str]:
    # KuCoin accepts header 2 or 3 for keys of either version: only version 1 (plain passphrase) must match.
    if info.api_version is None or info.api_version == key_version or {info.api_version, key_version} <= {2, 3}:
        return []
    return [f"KuCoin reports key version {info.api_version}, but key_version is {key_version}"]


def _clock_findings(clock: ClockReading | None, policy: Policy) -> tuple[list[str], list[str]]:
    if clock is None:
        return [], []
    skew = abs(clock.skew_ms)
    if skew > policy.skew_limit_ms:
        return [
            f"this host's clock is {describe_offset(clock.skew_ms)} (limit {policy.max_clock_skew:g} s, "
            "KuCoin rejects requests beyond 5 s); turn on time sync (chrony or systemd-timesyncd)"
        ], []
    if skew > policy.skew_warning_ms:
        return [], [
            f"this host's clock is {describe_offset(clock.skew_ms)}, more than half of "
            f"max_clock_skew ({policy.max_clock_skew:g} s); check time sync"
        ]
    return [], []


def evaluate_policy(
    info: KeyInfo, clock: ClockReading | None, policy: Policy, now_ms: int, key_version: int
) -> tuple[list[str], list[str]]:
    """(failures, warnings) for this key under this policy; permission names compare case-insensitively."""
    failures, warnings = _permission_findings(info, policy)
    failures += _whitelist_findings(info, policy)
    if policy.expected_sub_account is not None and info.sub_account != policy.expected_sub_account:
        actual = f"sub-account {info.sub_account}" if info.sub_account else "the master account"
        failures.append(
            f"the key belongs to {actual}, not to sub-account {policy.expected_sub_account}; use that sub-account's key"
        )
    if info.created_at_ms is not None:
        age_days = (now_ms - info.created_at_ms) / MS_PER_DAY
        if age_days > policy.max_key_age_days:
            text = (
                f"the key is {int(age_days)} days old, older than max_key_age_days ({policy.max_key_age_days:g}); "
                "rotate it"
            )
            (failures if policy.fail_on_old_key else warnings).append(text)
    warnings += _version_warning(info, key_version)
    clock_failures, clock_warnings = _clock_findings(clock, policy)
    return failures + clock_failures, warnings + clock_warnings
