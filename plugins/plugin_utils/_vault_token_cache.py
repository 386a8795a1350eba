# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A token shared by every forked Ansible worker: one 0600 file per identity in a 0700 per-user directory.

Also the token record itself (IssuedToken) and the identity that keys it (never a secret in clear).

Ansible runs lookups in short-lived forks, so a token kept in memory dies with its fork; without this file
a playbook over 200 hosts logs in 200 times. An exclusive flock per identity makes concurrent forks wait
for the one that logs in, then reuse its token.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import (
    AUTH_METHODS,
    CREDENTIAL_FIELDS,
    VaultSettings,
)

DEFAULT_CACHE_DIR = "~/.cache/tradebot.kucoin/vault"


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    expires_at: float  # epoch seconds; 0 means the token does not expire
    renewable: bool
    ttl: int = 0  # the lease duration it was issued or last renewed with

    def usable(self, now: float | None = None, margin: float = 30.0) -> bool:
        return self.expires_at == 0 or self.expires_at - (now or time.time()) > margin

    def due_for_renewal(self, now: float | None = None) -> bool:
        """Past the first half of its life: renew before workers start failing on an expired token."""
        if self.expires_at == 0 or self.ttl == 0:
            return False
        return self.expires_at - (now or time.time()) < self.ttl / 2


def token_from_auth(auth: dict[str, Any], now: float | None = None) -> IssuedToken:
    ttl = int(auth.get("lease_duration") or 0)
    return IssuedToken(
        token=auth["client_token"],
        expires_at=(now or time.time()) + ttl if ttl else 0,
        renewable=bool(auth.get("renewable")),
        ttl=ttl,
    )


def identity(settings: VaultSettings) -> str:
    """Who logs in: part of the cache key, so two roles or users never share a token.

    Secret-bearing parts (secret_id, password, jwt) are hashed in, so a rotated credential gets a new entry.
    """
    method = AUTH_METHODS[settings.auth_method]
    parts = [settings.url, settings.namespace or "", method.name, settings.auth_mount]
    for name in method.identity:
        value = getattr(settings, name) or ""
        parts.append(_digest(value) if name in CREDENTIAL_FIELDS else value)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _digest(value: str | None) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()


class TokenCacheError(Exception):
    pass


class TokenCache:
    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(os.path.expanduser(str(directory or DEFAULT_CACHE_DIR)))

    def _ensure_private_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.directory.stat()
        if info.st_uid != os.getuid():
            raise TokenCacheError(f"token cache directory {self.directory} belongs to another user")
        if stat.S_IMODE(info.st_mode) & 0o077:
            self.directory.chmod(0o700)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    @contextlib.contextmanager
    def _reporting(self, action: str) -> Iterator[None]:
        """An OSError as one line naming the directory (an unhandled one would reach Ansible as a traceback)."""
        try:
            yield
        except OSError as exc:
            raise TokenCacheError(
                f"cannot {action} in the token cache directory {self.directory}: {exc.strerror}"
            ) from None

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        with self._reporting("take the lock"):
            self._ensure_private_directory()
            fd = os.open(self.directory / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                os.close(fd)
                raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def load(self, key: str) -> IssuedToken | None:
        try:
            with self._path(key).open(encoding="utf-8") as handle:
                data = json.load(handle)
            return IssuedToken(
                token=str(data["token"]),
                expires_at=float(data["expires_at"]),
                renewable=bool(data["renewable"]),
                ttl=int(data.get("ttl") or 0),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, issued: IssuedToken) -> None:
        with self._reporting("store the token"):
            self._ensure_private_directory()
            target = self._path(key)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(
                        {
                            "token": issued.token,
                            "expires_at": issued.expires_at,
                            "renewable": issued.renewable,
                            "ttl": issued.ttl,
                            "stored_at": time.time(),
                        },
                        handle,
                    )
                os.replace(temporary, target)
            except OSError:
                # A half-written copy of the token must not stay behind.
                with contextlib.suppress(OSError):
                    temporary.unlink()
                raise
