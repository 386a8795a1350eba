# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading one KV v1 or v2 secret, with failures turned into one line that names path and mount."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_auth import describe_vault_down, vault_reason


class VaultReadError(Exception):
    """A read failed; the message names the path, mount and cause, never a secret value."""


class VaultPermissionDenied(VaultReadError):
    pass


@dataclass(frozen=True)
class SecretVersion:
    data: dict[str, Any] = field(repr=False)
    version: int | None  # None for KV v1


def mount_kv_version(client: Any, mount: str) -> int | None:
    """The KV version of `mount` as Vault reports it to any token that can use it; None if unknown."""
    try:
        reply = client.adapter.get(f"/v1/sys/internal/ui/mounts/{mount}")
    except Exception:
        return None
    data = (reply or {}).get("data") or {}
    if data.get("type") not in ("kv", "generic"):
        return None
    return int((data.get("options") or {}).get("version") or 1)


def read_secret(client: Any, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
    import hvac.exceptions

    where = f"secret '{path}' on mount '{mount}'"
    try:
        if kv_version == 1:
            if version is not None:
                raise VaultReadError(f"{where}: version pinning needs KV v2, but kv_version is 1")
            reply = client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
            return SecretVersion(data=dict(reply.get("data") or {}), version=None)
        reply = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, version=version, raise_on_deleted_version=False
        )
    except hvac.exceptions.Forbidden:
        # A least-privilege policy grants only the engine's own path layout (secret/data/... for KV v2), so a
        # wrong kv_version shows up as 403, not 404: say so rather than blame the policy.
        mismatch = _kv_mismatch(client, mount, kv_version)
        if mismatch:
            raise VaultReadError(mismatch) from None
        raise VaultPermissionDenied(f"permission denied reading {where} (check the token's policy)") from None
    except hvac.exceptions.InvalidPath as exc:
        # A destroyed (never deleted) version is a 404 that hvac re-raises; its body still has the metadata.
        gone = _deleted_or_destroyed(((getattr(exc, "json", None) or {}).get("data") or {}).get("metadata"), where)
        if gone:
            raise VaultReadError(gone) from None
        raise VaultReadError(_explain_missing(client, exc, where, mount, kv_version, version)) from None
    except hvac.exceptions.VaultDown as exc:
        raise VaultReadError(f"{describe_vault_down(exc, client.url)} while reading {where}") from None
    except hvac.exceptions.VaultError as exc:
        raise VaultReadError(f"reading {where} failed: {vault_reason(exc)}") from None
    except OSError as exc:  # requests' errors, and its bare OSError for a missing certificate file
        raise VaultReadError(describe_transport_error(exc, client.url)) from None

    body = reply.get("data") or {}
    metadata = body.get("metadata") or {}
    gone = _deleted_or_destroyed(metadata, where)
    if gone:
        raise VaultReadError(gone)
    if body.get("data") is None:
        raise VaultReadError(f"{where}: no data in Vault's reply")
    return SecretVersion(data=dict(body["data"]), version=int(metadata.get("version") or 0) or None)


def _deleted_or_destroyed(metadata: Any, where: str) -> str | None:
    if not isinstance(metadata, dict):
        return None
    if metadata.get("destroyed"):
        return f"{where}: version {metadata.get('version')} was destroyed"
    if metadata.get("deletion_time"):
        return f"{where}: version {metadata.get('version')} was deleted (undelete it or pin another)"
    return None


def _explain_missing(
    client: Any, exc: BaseException, where: str, mount: str, kv_version: int, version: int | None
) -> str:
    reason = vault_reason(exc)
    if "namespace not found" in reason:
        return f"unknown Vault namespace {client.adapter.namespace!r} while reading {where}"
    mismatch = _kv_mismatch(client, mount, kv_version)
    if mismatch:
        return mismatch
    if version is not None:
        return f"{where}: version {version} does not exist"
    return f"{where} does not exist"


def _kv_mismatch(client: Any, mount: str, kv_version: int) -> str | None:
    actual = mount_kv_version(client, mount)
    if actual is not None and actual != kv_version:
        return f"KV version mismatch: mount '{mount}' is KV v{actual} but the lookup was told kv_version={kv_version}"
    return None


def describe_transport_error(exc: BaseException, url: str) -> str:
    import requests.exceptions

    if not isinstance(exc, requests.exceptions.RequestException):
        # requests raises a bare OSError, before connecting, for a CA bundle or client certificate it cannot find.
        return f"cannot connect to Vault at {url}: {exc} (check ca_cert, client_cert and client_key)"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failure talking to Vault at {url}: {_innermost(exc)} (check ca_cert / VAULT_CACERT)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"Vault at {url} did not answer in time"
    if isinstance(exc, requests.exceptions.InvalidHeader):
        # Its text quotes the header value, which may be the Vault token.
        return f"a request header for Vault at {url} is invalid (a line break or space in the token or namespace?)"
    return f"Vault at {url} is unreachable: {_innermost(exc)}"


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
