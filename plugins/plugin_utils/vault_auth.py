# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One login per auth method, and the identity that keys a cached token (never a secret in clear)."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any, NamedTuple

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings

_ERRORS_HEADER = re.compile(r"\d+ errors? occurred:")
REASON_LIMIT = 300


class VaultLoginError(Exception):
    """Login refused or impossible; the message names the method and mount, never a credential."""


# NamedTuples rather than dataclasses here and for the other small records: a dataclass costs every forked
# Ansible worker ~0.5 ms to build, a NamedTuple a fraction of that.
class IssuedToken(NamedTuple):
    token: str
    expires_at: float  # epoch seconds; 0 means the token does not expire
    renewable: bool
    ttl: int = 0  # the lease duration it was issued or last renewed with

    def __repr__(self) -> str:  # never the token
        return f"IssuedToken(expires_at={self.expires_at}, renewable={self.renewable}, ttl={self.ttl})"

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
    method = settings.auth_method
    parts = [settings.url, settings.namespace or "", method, settings.auth_mount]
    if method == "token":
        # Never cached on disk, but it keys the per-worker read memo: two tokens must not share reads.
        parts += [_digest(settings.token)]
    elif method == "approle":
        parts += [settings.role_id or "", _digest(settings.secret_id)]
    elif method == "userpass":
        parts += [settings.username or "", _digest(settings.password)]
    elif method == "jwt":
        parts += [settings.role or "", _digest(settings.jwt)]
    elif method == "kubernetes":
        parts += [settings.role or "", settings.kubernetes_token_path]
    elif method == "cert":
        parts += [settings.role or "", settings.client_cert or ""]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _digest(value: str | None) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()


def _read_service_account_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise VaultLoginError(
            f"kubernetes auth: cannot read the service-account token file {path}: {exc.strerror}"
        ) from None


def login(client: Any, settings: VaultSettings) -> IssuedToken:
    """Log in with the configured method; returns the token and when it expires."""
    import hvac.exceptions

    method, mount = settings.auth_method, settings.auth_mount
    auth = client.auth
    try:
        if method == "approle":
            reply = auth.approle.login(role_id=settings.role_id, secret_id=settings.secret_id, mount_point=mount)
        elif method == "userpass":
            reply = auth.userpass.login(username=settings.username, password=settings.password, mount_point=mount)
        elif method == "jwt":
            reply = auth.jwt.jwt_login(role=settings.role, jwt=settings.jwt, path=mount)
        elif method == "kubernetes":
            jwt = _read_service_account_token(settings.kubernetes_token_path)
            reply = auth.kubernetes.login(role=settings.role, jwt=jwt, mount_point=mount)
        elif method == "cert":
            reply = client.write_data(f"auth/{mount}/login", data={"name": settings.role} if settings.role else {})
        else:
            raise VaultLoginError(f"auth method {method} does not log in")
    except hvac.exceptions.VaultDown as exc:
        raise VaultLoginError(f"{describe_vault_down(exc, settings.url)} (login with auth method {method})") from None
    except hvac.exceptions.VaultError as exc:
        reason = vault_reason(exc)
        if "namespace not found" in reason:
            raise VaultLoginError(
                f"unknown Vault namespace {settings.namespace!r} (login with auth method {method})"
            ) from None
        raise VaultLoginError(f"login with auth method {method} at auth/{mount} failed: {reason}") from None
    if not reply or not reply.get("auth"):
        raise VaultLoginError(f"login with auth method {method} at auth/{mount} returned no token")
    return token_from_auth(reply["auth"])


def vault_reason(exc: BaseException) -> str:
    """Vault's own error text without hvac's ", on post <url>" suffix."""
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(error) for error in errors) if errors else str(exc).split(", on ", 1)[0]
    # A proxy's HTML error page arrives here whole: keep the line readable.
    text = _one_line(text)[:REASON_LIMIT]
    # hvac renders an error without a message as "None, on get <url>".
    return text if text and text != "None" else type(exc).__name__


def _one_line(text: str) -> str:
    """Vault's multi-error format ("1 error occurred:\n\t* permission denied\n") as one line."""
    lines = (line.strip().lstrip("*").strip() for line in text.splitlines())
    return "; ".join(line for line in lines if line and not _ERRORS_HEADER.fullmatch(line))


def describe_vault_down(exc: BaseException, url: str) -> str:
    """HTTP 503: Vault says whether it is sealed; anything else is maintenance or standby trouble."""
    reason = vault_reason(exc)
    if "sealed" in reason.lower():
        return f"Vault at {url} is sealed"
    return f"Vault at {url} is unavailable ({reason})"
