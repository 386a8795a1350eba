# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A strategy's KuCoin credentials as the lookup returns them, built from one Vault secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import DEFAULT_KEY_VERSION, KEY_VERSIONS
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import settings_from_options
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_session import VaultSession
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import TokenCache

APIS = ("spot", "futures")
DEFAULT_API = "spot"


@dataclass(frozen=True)
class FieldNames:
    """Names of the Vault fields that hold each credential."""

    api_key: str = "api_key"
    api_secret: str = "api_secret"
    api_passphrase: str = "api_passphrase"
    key_version: str = "key_version"
    api: str = "api"


@dataclass(frozen=True)
class VaultLocation:
    """Where strategies' credentials live and how to reach them: the vault_credentials lookup's options, resolved."""

    session: VaultSession
    mount: str
    kv_version: int
    version: int | None
    fields: FieldNames


def location_from_options(get: Callable[[str], Any]) -> VaultLocation:
    """From the vault_credentials lookup's options (`get` is a plugin's get_option, the lookup's definitions)."""
    settings = settings_from_options(get)
    cache = TokenCache(get("token_cache_dir")) if get("token_cache") else None
    return VaultLocation(
        session=VaultSession(settings, cache),
        mount=str(get("engine_mount_point")).strip("/"),
        kv_version=int(get("kv_version")),
        version=get("version"),
        fields=FieldNames(
            api_key=get("api_key_field"),
            api_secret=get("api_secret_field"),
            api_passphrase=get("api_passphrase_field"),
            key_version=get("key_version_field"),
            api=get("api_field"),
        ),
    )


class CredentialError(Exception):
    """The secret is not a usable set of credentials; the message names fields, never values."""


def credentials(
    session: VaultSession,
    path: str,
    *,
    mount: str,
    kv_version: int,
    version: int | None,
    fields: FieldNames,
) -> dict[str, Any]:
    secret = session.read(mount, path, kv_version, version)
    where = f"secret '{path}' on mount '{mount}'"
    data = secret.data
    required = (fields.api_key, fields.api_secret, fields.api_passphrase)
    missing = [name for name in required if name not in data]
    if missing:
        present = ", ".join(sorted(data)) or "none"
        raise CredentialError(f"{where} has no field(s) {', '.join(missing)} (fields present: {present})")
    key_version = (
        _key_version(data[fields.key_version], where, fields.key_version)
        if fields.key_version in data
        else DEFAULT_KEY_VERSION
    )
    api = str(data.get(fields.api) or DEFAULT_API).strip().lower()
    if api not in APIS:
        raise CredentialError(f"{where}: field {fields.api} must be spot or futures")
    return {
        "api_key": str(data[fields.api_key]),
        "api_secret": str(data[fields.api_secret]),
        "api_passphrase": str(data[fields.api_passphrase]),
        "key_version": key_version,
        "api": api,
        "vault": {"mount": mount, "path": path, "version": secret.version},
    }


def _key_version(raw: Any, where: str, field_name: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value not in KEY_VERSIONS:
        raise CredentialError(f"{where}: field {field_name} must be 1, 2 or 3")
    return value
