# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A strategy's KuCoin credentials from Vault: one token per run, one read per secret per worker."""

from __future__ import annotations

from typing import Any, ClassVar

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.record import Record
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    VaultHTTP,
    VaultHTTPError,
    VaultTransportError,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_kv import (
    SecretVersion,
    VaultPermissionDenied,
    VaultReadError,
    read_secret,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_token_cache import (
    IssuedToken,
    TokenCache,
    identity,
    token_from_auth,
)

APIS = ("spot", "futures")
DEFAULT_KEY_VERSION = 2
DEFAULT_API = "spot"

# Per worker process: a template that reads one strategy three times costs one Vault read.
_READS: dict[tuple[str, str, str, int, int | None], SecretVersion] = {}


class FieldNames(Record):
    """Names of the Vault fields that hold each credential."""

    __slots__ = ("api_key", "api_secret", "api_passphrase", "key_version", "api")  # noqa: RUF023  # positional order
    api_key: str
    api_secret: str
    api_passphrase: str
    key_version: str
    api: str
    _defaults: ClassVar[dict[str, Any]] = {name: name for name in __slots__}


class CredentialError(Exception):
    """Anything the lookup reports; the message is one line and holds no secret value."""


class VaultSession:
    """Holds the token for one set of settings, logging in at most once per run across workers.

    Reads, token checks and renewals go through the standard library (VaultHTTP); hvac is imported only by
    the worker that actually logs in.
    """

    def __init__(self, settings: VaultSettings, cache: TokenCache | None) -> None:
        self.settings = settings
        self.cache = cache
        self.identity = identity(settings)
        self.http = VaultHTTP(settings, token=settings.token if settings.auth_method == "token" else None)
        self._authenticated = settings.auth_method in ("token", "none")

    def _ensure_token(self, reject: str | None = None) -> None:
        if self._authenticated and reject is None:
            return
        if self.cache is None:
            self._use(self._login())
            return
        with self.cache.locked(self.identity):
            cached = self.cache.load(self.identity)
            if cached and cached.token != reject and cached.usable():
                cached = self._renew_if_due(cached)
                self._use(cached)
                return
            issued = self._login()
            self.cache.store(self.identity, issued)
            self._use(issued)

    def _renew_if_due(self, cached: IssuedToken) -> IssuedToken:
        if not cached.renewable or not cached.due_for_renewal():
            return cached
        self.http.token = cached.token
        try:
            reply = self.http.post("auth/token/renew-self")
            renewed = token_from_auth(reply["auth"])
        except (VaultHTTPError, VaultTransportError, KeyError, TypeError):
            return cached  # still usable; the read that follows reports an unreachable Vault in one line
        if self.cache is not None:
            self.cache.store(self.identity, renewed)
        return renewed

    def _login(self) -> IssuedToken:
        # Imported here: the login code, and hvac under it, loads only in the worker that logs in.
        from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_auth

        try:
            return vault_auth.log_in(self.settings)
        except vault_auth.VaultLoginError as exc:
            raise CredentialError(str(exc)) from None

    def _use(self, issued: IssuedToken) -> None:
        self.http.token = issued.token
        self._authenticated = True

    def _token_alive(self) -> bool:
        """Whether a 403 came from the policy (token fine) rather than from a dead token.

        Without this check every genuinely forbidden read would cost a fresh login, in every worker.
        """
        try:
            self.http.get("auth/token/lookup-self")
        except VaultHTTPError as exc:
            return exc.status != 403
        except VaultTransportError:
            return True  # cannot tell; report the original denial rather than log in blindly
        return True

    def read(self, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
        memo_key = (self.identity, mount, path, kv_version, version)
        if memo_key in _READS:
            return _READS[memo_key]
        self._ensure_token()
        try:
            secret = read_secret(self.http, mount, path, kv_version, version)
        except VaultPermissionDenied:
            if self.settings.auth_method in ("token", "none") or self._token_alive():
                raise
            # The cached token was revoked or expired early: log in again, once, then trust the answer.
            self._ensure_token(reject=self.http.token)
            secret = read_secret(self.http, mount, path, kv_version, version)
        _READS[memo_key] = secret
        return secret


def credentials(
    session: VaultSession,
    path: str,
    *,
    mount: str,
    kv_version: int,
    version: int | None,
    fields: FieldNames,
) -> dict[str, Any]:
    try:
        secret = session.read(mount, path, kv_version, version)
    except VaultReadError as exc:
        raise CredentialError(str(exc)) from None
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
    # Imported only for a stored key version: the signing module costs every forked worker ~2 ms to load.
    from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import KEY_VERSIONS

    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value not in KEY_VERSIONS:
        raise CredentialError(f"{where}: field {field_name} must be 1, 2 or 3")
    return value
