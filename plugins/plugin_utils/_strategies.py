# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one strategy model: what a host's strategy list may hold, normalised the same way for every caller.

Used by the deploy_bot playbook's preflight (for every host of the group, from the inventory alone) and by the
bot_host role (with the role's options), so no path reaches a host without these checks. Fields are declared
once in FIELDS; a new field is one entry there (plus its documentation in the role's argument spec).

Messages name the host, the variable and the strategy, never a value that could be secret: strategy lists
hold no credentials, but environment values are not echoed either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VARIABLE = "bot_host_strategies"
# The inventory name used before the role's variable became the only one; still read, never together.
LEGACY_VARIABLE = "kucoin_strategies"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
# KuCoin's rule for a sub-account name: 7 to 32 characters, at least one letter and one digit, no spaces.
SUB_ACCOUNT_PATTERN = re.compile(r"(?=[^\s]*[A-Za-z])(?=[^\s]*[0-9])[^\s]{7,32}\Z")


class StrategyError(ValueError):
    """A strategy list that cannot be deployed; the message says what to change."""


@dataclass(frozen=True)
class Field:
    """One key of a strategy entry."""

    kinds: tuple[type, ...]
    kind_name: str
    choices: tuple[str, ...] = ()
    # Filled in when the entry lacks the key (None: left out of the normalised entry).
    default: Any = None


FIELDS: dict[str, Field] = {
    "name": Field((str,), "a string"),
    "state": Field((str,), "a string", ("present", "stopped", "absent"), "present"),
    "vault_path": Field((str,), "a string"),
    "api": Field((str,), "a string", ("spot", "futures")),
    "exec_start": Field((str,), "a string"),
    "environment": Field((Mapping,), "a mapping", default={}),
    "secret_delivery": Field((str,), "a string", ("environment", "credentials")),
    "key_check": Field((Mapping,), "a mapping", default={}),
    # The bot trades on margin: its key must also have KuCoin's Margin permission.
    "margin": Field((bool,), "true or false", default=False),
    # This strategy's own options for the vault_credentials lookup (left out when unset).
    "vault": Field((Mapping,), "a mapping"),
    # The KuCoin sub-account the strategy's key belongs to; the rotate_keys playbook rotates such keys.
    "sub_account": Field((str,), "a string"),
}
# The lookup options a strategy's `vault` may set: where and which version of its secret, and its field names.
VAULT_OPTIONS = (
    "engine_mount_point",
    "kv_version",
    "version",
    "api_key_field",
    "api_secret_field",
    "api_passphrase_field",
    "key_version_field",
    "api_field",
)


@dataclass(frozen=True)
class RoleSettings:
    """The role options a strategy inherits or must not contradict; None: not known here (preflight)."""

    default_exec_start: str | None = None
    secret_delivery: str | None = None
    reserved_env: tuple[str, ...] | None = None
    env_extra: Mapping[str, Any] = field(default_factory=dict)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, (list, tuple)) and len(value) == 0)


def choose_list(strategies: Any, legacy: Any, host: str) -> tuple[Any, bool]:
    """The list to use, and whether it came from the legacy variable. Both set (and different) is an error."""
    if _is_unset(legacy):
        return ([] if strategies is None else strategies), False
    if _is_unset(strategies):
        return legacy, True
    if list(strategies) == list(legacy):
        return strategies, False
    raise StrategyError(
        f"host {host}: both {VARIABLE} and {LEGACY_VARIABLE} are set; keep only {VARIABLE} "
        f"({LEGACY_VARIABLE} is its old name)"
    )


def _where(host: str, index: int, entry: Mapping[str, Any]) -> str:
    name = entry.get("name")
    shown = f" ({name})" if isinstance(name, str) and NAME_PATTERN.match(name) else ""
    return f"host {host}: {VARIABLE}[{index}]{shown}"


def _check_entry(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise StrategyError(f"{where}: each strategy must be a mapping with at least a name")
    unknown = sorted(str(key) for key in entry if key not in FIELDS)
    if unknown:
        raise StrategyError(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    out: dict[str, Any] = {}
    for key, spec in FIELDS.items():
        value = entry.get(key)
        if value is None:
            if spec.default is not None:
                out[key] = type(spec.default)(spec.default)
            continue
        if not isinstance(value, spec.kinds):
            raise StrategyError(f"{where}: {key} must be {spec.kind_name}")
        if spec.choices and value not in spec.choices:
            raise StrategyError(f"{where}: {key} must be one of {', '.join(spec.choices)}")
        out[key] = dict(value) if isinstance(value, Mapping) else value
    unknown_vault = sorted(str(key) for key in out.get("vault", {}) if key not in VAULT_OPTIONS)
    if unknown_vault:
        raise StrategyError(
            f"{where}: unknown vault options {', '.join(unknown_vault)} (known: {', '.join(VAULT_OPTIONS)})"
        )
    sub_account = out.get("sub_account")
    if sub_account is not None and not SUB_ACCOUNT_PATTERN.match(sub_account):
        raise StrategyError(
            f"{where}: sub_account must be a KuCoin sub-account name: 7 to 32 characters with at least one "
            "letter and one digit, no spaces"
        )
    name = out.get("name")
    if name is None or not NAME_PATTERN.match(name):
        raise StrategyError(
            f"{where}: every strategy needs a name of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 64 characters"
        )
    return out


def _settle_present(strategy: dict[str, Any], where: str, settings: RoleSettings, require_vault_path: bool) -> None:
    if require_vault_path and not strategy.get("vault_path"):
        raise StrategyError(f"{where}: a present strategy needs a vault_path")
    if "secret_delivery" not in strategy and settings.secret_delivery is not None:
        if settings.secret_delivery not in FIELDS["secret_delivery"].choices:
            raise StrategyError("bot_host_secret_delivery must be environment or credentials")
        strategy["secret_delivery"] = settings.secret_delivery
    if "exec_start" not in strategy and settings.default_exec_start:
        strategy["exec_start"] = settings.default_exec_start
    exec_start = strategy.get("exec_start")
    if exec_start is not None and ("\n" in exec_start or "\r" in exec_start):
        raise StrategyError(f"{where}: exec_start must be one line")
    if not exec_start and settings.default_exec_start is not None:
        raise StrategyError(f"{where}: needs an exec_start (or set bot_host_default_exec_start)")
    if settings.reserved_env is not None:
        clash = sorted(set(strategy["environment"]) & set(settings.reserved_env))
        if clash:
            raise StrategyError(
                f"{where}: environment must not redefine {', '.join(clash)} (the role writes them; "
                "see bot_host_env_names)"
            )


def normalise(
    strategies: Any,
    *,
    host: str,
    legacy: Any = None,
    settings: RoleSettings | None = None,
    require_vault_path: bool = False,
) -> list[dict[str, Any]]:
    """Check a host's strategy list and return it with every entry's defaults filled in.

    Raises StrategyError naming the host, the variable, the entry and what to change.
    """
    settings = settings or RoleSettings()
    chosen = choose_list(strategies, legacy, host)[0]
    if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence):
        raise StrategyError(f"host {host}: {VARIABLE} must be a list of strategies")
    if settings.reserved_env is not None:
        clash = sorted(set(settings.env_extra) & set(settings.reserved_env))
        if clash:
            raise StrategyError(f"bot_host_env_extra must not redefine {', '.join(clash)} (the role writes them)")
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(chosen):
        where = _where(host, index, entry if isinstance(entry, Mapping) else {})
        strategy = _check_entry(entry, where)
        if strategy["name"] in seen:
            raise StrategyError(f"{where}: the name {strategy['name']} is used twice on this host")
        seen.add(strategy["name"])
        if strategy["state"] == "present":
            _settle_present(strategy, where, settings, require_vault_path)
        result.append(strategy)
    return result


def uses_legacy(strategies: Any, legacy: Any, host: str) -> bool:
    return choose_list(strategies, legacy, host)[1]


def shared_keys(pairs: Iterable[Sequence[Any]]) -> list[str]:
    """Groups of places ("host/strategy and host/strategy") whose credentials carry the same API key.

    `pairs` holds (target, credentials) with target a mapping of host and name. Only places are returned,
    never the key.
    """
    places: dict[str, list[str]] = {}
    for target, creds in pairs:
        key = creds.get("api_key") if isinstance(creds, Mapping) else None
        if not key:
            continue
        places.setdefault(str(key), []).append(f"{target['host']}/{target['name']}")
    return [" and ".join(group) for group in places.values() if len(group) > 1]
