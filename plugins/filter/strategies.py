# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the strategy model (bot_strategies, shared_api_keys, bot_environment); documented in their .yml files.

The logic lives in plugin_utils/_strategies.py and plugin_utils/_bot_environment.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._bot_environment import (
    BotEnvironmentError,
    build_environment,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._strategies import (
    LEGACY_VARIABLE,
    VARIABLE,
    RoleSettings,
    StrategyError,
    normalise,
    shared_keys,
    uses_legacy,
)

_display = Display()


def bot_strategies(
    strategies,
    host="this host",
    legacy=None,
    default_exec_start=None,
    secret_delivery=None,
    env_names=None,
    env_extra=None,
    require_vault_path=False,
):
    """Check a host's strategy list and return it normalised (see bot_strategies.yml)."""
    settings = RoleSettings(
        default_exec_start=None if default_exec_start is None else str(default_exec_start),
        secret_delivery=None if secret_delivery is None else str(secret_delivery),
        reserved_env=None if env_names is None else tuple(str(v) for v in dict(env_names).values()),
        env_extra=dict(env_extra or {}),
    )
    try:
        if uses_legacy(strategies, legacy, str(host)):
            _display.warning(f"{LEGACY_VARIABLE} is the old name of {VARIABLE}; rename it in the inventory")
        return normalise(
            strategies, host=str(host), legacy=legacy, settings=settings, require_vault_path=bool(require_vault_path)
        )
    except StrategyError as exc:
        raise AnsibleFilterError(str(exc)) from None


def shared_api_keys(pairs):
    """The places that share an API key, one "host/strategy and host/strategy" string per key."""
    try:
        return shared_keys(pairs)
    except (KeyError, TypeError, ValueError) as exc:
        # Never chain: the pairs hold credentials.
        raise AnsibleFilterError(f"shared_api_keys expects (target, credentials) pairs: {type(exc).__name__}") from None


def bot_environment(strategy, credentials, names, extra=None):
    """One strategy's environment file variables (see bot_environment.yml)."""
    try:
        return build_environment(strategy, credentials, names, extra)
    except BotEnvironmentError as exc:
        raise AnsibleFilterError(str(exc)) from None
    except (KeyError, TypeError, AttributeError) as exc:
        # Never chain: the credentials are secret.
        raise AnsibleFilterError(f"bot_environment: unexpected input ({type(exc).__name__})") from None


class FilterModule:
    def filters(self):
        return {
            "bot_strategies": bot_strategies,
            "shared_api_keys": shared_api_keys,
            "bot_environment": bot_environment,
        }
