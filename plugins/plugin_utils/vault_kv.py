# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading one KV v1 or v2 secret, with failures turned into one line that names path and mount."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.record import Record
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    VaultHTTP,
    VaultHTTPError,
    VaultTransportError,
)

FORBIDDEN, NOT_FOUND, UNAVAILABLE = 403, 404, 503
REASON_LIMIT = 300
# Matched with re.fullmatch only on error paths: compiling it at import would cost every worker ~0.3 ms.
ERRORS_HEADER = r"\d+ errors? occurred:"


class VaultReadError(Exception):
    """A read failed; the message names the path, mount and cause, never a secret value."""


class VaultPermissionDenied(VaultReadError):
    pass


class SecretVersion(Record):
    __slots__ = ("data", "version")
    data: dict[str, Any]
    version: int | None  # None for KV v1

    def __repr__(self) -> str:  # never the values
        return f"SecretVersion(fields={sorted(self.data)}, version={self.version})"


def mount_kv_version(http: VaultHTTP, mount: str) -> int | None:
    """The KV version of `mount` as Vault reports it to any token that can use it; None if unknown."""
    try:
        reply = http.get(f"sys/internal/ui/mounts/{mount}")
    except (VaultHTTPError, VaultTransportError):
        return None
    data = reply.get("data") or {}
    if data.get("type") not in ("kv", "generic"):
        return None
    return int((data.get("options") or {}).get("version") or 1)


def read_secret(http: VaultHTTP, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
    where = f"secret '{path}' on mount '{mount}'"
    if kv_version == 1 and version is not None:
        raise VaultReadError(f"{where}: version pinning needs KV v2, but kv_version is 1")
    try:
        if kv_version == 1:
            reply = http.get(f"{mount}/{path}")
            return SecretVersion(data=dict(reply.get("data") or {}), version=None)
        reply = http.get(f"{mount}/data/{path}", params=None if version is None else {"version": version})
    except VaultHTTPError as exc:
        raise _read_error(http, exc, where, mount, kv_version, version) from None
    except VaultTransportError as exc:
        raise VaultReadError(str(exc)) from None

    body = reply.get("data") or {}
    metadata = body.get("metadata") or {}
    gone = _deleted_or_destroyed(metadata, where)
    if gone:
        raise VaultReadError(gone)
    if body.get("data") is None:
        raise VaultReadError(f"{where}: no data in Vault's reply")
    return SecretVersion(data=dict(body["data"]), version=int(metadata.get("version") or 0) or None)


def _read_error(
    http: VaultHTTP, exc: VaultHTTPError, where: str, mount: str, kv_version: int, version: int | None
) -> VaultReadError:
    """The error for Vault's answer, by status code."""
    reason = vault_reason(exc)
    if "namespace not found" in reason:
        return VaultReadError(f"unknown Vault namespace {http.settings.namespace!r} while reading {where}")
    if exc.status == FORBIDDEN:
        # A least-privilege policy grants only the engine's own path layout (secret/data/... for KV v2), so a
        # wrong kv_version shows up as 403, not 404: say so rather than blame the policy.
        mismatch = _kv_mismatch(http, mount, kv_version)
        if mismatch:
            return VaultReadError(mismatch)
        return VaultPermissionDenied(f"permission denied reading {where} (check the token's policy)")
    if exc.status == NOT_FOUND:
        # A deleted or destroyed version is a 404 whose body still carries the version's metadata.
        body = exc.body if isinstance(exc.body, dict) else {}
        gone = _deleted_or_destroyed((body.get("data") or {}).get("metadata"), where)
        return VaultReadError(gone or _kv_mismatch(http, mount, kv_version) or _missing(where, version))
    if exc.status == UNAVAILABLE:
        return VaultReadError(f"{describe_vault_down(exc, http.url)} while reading {where}")
    return VaultReadError(f"reading {where} failed: {reason}")


def _missing(where: str, version: int | None) -> str:
    if version is not None:
        return f"{where}: version {version} does not exist"
    return f"{where} does not exist"


def _deleted_or_destroyed(metadata: Any, where: str) -> str | None:
    if not isinstance(metadata, dict):
        return None
    if metadata.get("destroyed"):
        return f"{where}: version {metadata.get('version')} was destroyed"
    if metadata.get("deletion_time"):
        return f"{where}: version {metadata.get('version')} was deleted (undelete it or pin another)"
    return None


def _kv_mismatch(http: VaultHTTP, mount: str, kv_version: int) -> str | None:
    actual = mount_kv_version(http, mount)
    if actual is not None and actual != kv_version:
        return f"KV version mismatch: mount '{mount}' is KV v{actual} but the lookup was told kv_version={kv_version}"
    return None


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
    return "; ".join(line for line in lines if line and not re.fullmatch(ERRORS_HEADER, line))


def describe_vault_down(exc: BaseException, url: str) -> str:
    """HTTP 503: Vault says whether it is sealed; anything else is maintenance or standby trouble."""
    reason = vault_reason(exc)
    if "sealed" in reason.lower():
        return f"Vault at {url} is sealed"
    return f"Vault at {url} is unavailable ({reason})"
