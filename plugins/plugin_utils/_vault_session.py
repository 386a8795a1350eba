# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One token per run across Ansible's forked workers, and one read per secret per worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import (
    SecretMetadata,
    SecretVersion,
    VaultClient,
    VaultError,
    VaultPermissionDenied,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import (
    IssuedToken,
    TokenCache,
    identity,
)

T = TypeVar("T")

# Per worker process: a template that reads one strategy three times costs one Vault read.
_READS: dict[tuple[str, str, str, int, int | None], SecretVersion] = {}


def forget_reads() -> None:
    """Empty this process's read memo (the benchmark uses it to time real reads)."""
    _READS.clear()


class VaultSession:
    """Holds the token for one set of settings, logging in at most once per run across workers."""

    def __init__(self, settings: VaultSettings, cache: TokenCache | None, client: VaultClient | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.identity = identity(settings)
        given = settings.token if settings.auth_method == "token" else None
        self.client = client or VaultClient(settings, token=given)
        self._authenticated = settings.auth_method in ("token", "none")

    def _ensure_token(self, reject: str | None = None) -> None:
        if self._authenticated and reject is None:
            return
        if self.cache is None:
            self._use(self.client.login())
            return
        with self.cache.locked(self.identity):
            cached = self.cache.load(self.identity)
            if cached and cached.token != reject and cached.usable():
                self._use(self._renew_if_due(cached))
                return
            issued = self.client.login()
            self.cache.store(self.identity, issued)
            self._use(issued)

    def _renew_if_due(self, cached: IssuedToken) -> IssuedToken:
        if not cached.renewable or not cached.due_for_renewal():
            return cached
        self.client.token = cached.token
        try:
            renewed = self.client.renew_self()
        except (VaultError, KeyError, TypeError):
            return cached  # still usable; the read that follows reports an unreachable Vault in one line
        if self.cache is not None:
            self.cache.store(self.identity, renewed)
        return renewed

    def _use(self, issued: IssuedToken) -> None:
        self.client.token = issued.token
        self._authenticated = True

    def _authorized(self, action: Callable[[], T]) -> T:
        """`action` with a token; after a 403 from a revoked or expired cached token, once more after a login."""
        self._ensure_token()
        try:
            return action()
        except VaultPermissionDenied:
            # Without the token check every genuinely forbidden call would cost a fresh login, in every worker.
            if self.settings.auth_method in ("token", "none") or self.client.token_alive():
                raise
            # The cached token was revoked or expired early: log in again, once, then trust the answer.
            self._ensure_token(reject=self.client.token)
            return action()

    def read(self, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
        memo_key = (self.identity, mount, path, kv_version, version)
        if memo_key in _READS:
            return _READS[memo_key]
        secret = self._authorized(lambda: self.client.read_secret(mount, path, kv_version, version))
        _READS[memo_key] = secret
        return secret

    # KV v2 writes, and the reads that must see Vault as it is now (never the memo's latest version).

    def metadata(self, mount: str, path: str) -> SecretMetadata:
        return self._authorized(lambda: self.client.read_metadata(mount, path))

    def read_version(self, mount: str, path: str, version: int) -> SecretVersion:
        """One KV v2 version; numbered versions never change, so the memo may answer."""
        return self.read(mount, path, 2, version)

    def write(self, mount: str, path: str, data: dict[str, Any], cas: int) -> int:
        _forget_latest(mount, path)
        return self._authorized(lambda: self.client.write_secret(mount, path, data, cas))

    def set_custom_metadata(self, mount: str, path: str, metadata: SecretMetadata, custom: dict[str, str]) -> None:
        self._authorized(lambda: self.client.update_custom_metadata(mount, path, metadata, custom))


def _forget_latest(mount: str, path: str) -> None:
    for key in [key for key in _READS if key[1:3] == (mount, path) and key[4] is None]:
        del _READS[key]
