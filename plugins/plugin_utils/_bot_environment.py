# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a bot finds in its environment file: the variables the role writes, then the user's extras."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import DEFAULT_KEY_VERSION


class BotEnvironmentError(ValueError):
    """Inputs the environment cannot be built from; the message names what is missing, never a value."""


def build_environment(
    strategy: Mapping[str, Any],
    credentials: Mapping[str, Any],
    names: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables of one strategy's environment file, in the order they are written.

    `strategy` is a settled strategy (name, api, base_url, secret_delivery, environment); `credentials` what
    the vault_credentials lookup returned for it; `names` the role's bot_host_env_names. The secret and
    passphrase are included only when the strategy's secret_delivery is `environment`. Host-wide `extra`
    variables come next, then the strategy's own `environment`, which wins over them.
    """
    name = strategy.get("name", "?")
    for field in ("api", "base_url"):
        if not strategy.get(field):
            raise BotEnvironmentError(f"strategy {name}: no {field} settled")
    for field in ("api_key", "api_secret", "api_passphrase"):
        if not credentials.get(field):
            raise BotEnvironmentError(f"strategy {name}: the credentials have no {field}")
    env: dict[str, Any] = {names["api_key"]: credentials["api_key"]}
    if strategy.get("secret_delivery", "environment") == "environment":
        env[names["api_secret"]] = credentials["api_secret"]
        env[names["api_passphrase"]] = credentials["api_passphrase"]
    key_version = credentials.get("key_version")
    env[names["key_version"]] = str(DEFAULT_KEY_VERSION if key_version is None else key_version)
    env[names["base_url"]] = strategy["base_url"]
    env[names["api"]] = strategy["api"]
    env.update(extra or {})
    env.update(strategy.get("environment") or {})
    return env
