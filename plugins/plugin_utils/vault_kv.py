# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading one KV v1 or v2 secret, with failures turned into one line that names path and mount."""

from __future__ import annotations

from typing import Any, NamedTuple

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_auth import describe_vault_down, vault_reason
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    HEADER,
    SETUP,
    TIMEOUT,
    TLS,
    UNREACHABLE,
    VaultHTTP,
    VaultHTTPError,
    VaultTransportError,
    transport_message,
)

FORBIDDEN, NOT_FOUND, UNAVAILABLE = 403, 404, 503


class VaultReadError(Exception):
    """A read failed; the message names the path, mount and cause, never a secret value."""


class VaultPermissionDenied(VaultReadError):
    pass


class SecretVersion(NamedTuple):
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


def describe_transport_error(exc: BaseException, url: str) -> str:
    """A requests error raised by hvac during a login, in the words the stdlib transport uses for reads."""
    import requests.exceptions

    if not isinstance(exc, requests.exceptions.RequestException):
        # requests raises a bare OSError, before connecting, for a CA bundle or client certificate it cannot find.
        return transport_message(SETUP, url, str(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        return transport_message(TLS, url, _innermost(exc))
    if isinstance(exc, requests.exceptions.Timeout):
        return transport_message(TIMEOUT, url)
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return transport_message(HEADER, url)  # its own text quotes the header value, which may be the token
    return transport_message(UNREACHABLE, url, _innermost(exc))


def _innermost(exc: BaseException) -> str:
    """The root cause's text: requests nests urllib3 errors several layers deep."""
    seen = exc
    for _depth in range(16):  # bounded: a cycle in a hand-made chain must not hang the lookup
        candidates = (seen.__cause__, getattr(seen, "reason", None), seen.args[0] if seen.args else None)
        deeper = next((c for c in candidates if isinstance(c, BaseException)), None)
        if deeper is None:
            break
        seen = deeper
    text = str(seen)
    # urllib3 wraps reasons as "<object at 0x..>: reason"; keep the reason.
    return text.rsplit(": ", 1)[-1] if "object at 0x" in text else text
