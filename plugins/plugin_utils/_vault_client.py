# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault client: hvac over the session of _vault_transport, with the one retry loop and all error wording.

Every failure leaves here as a VaultError whose message is one line, names what was being done, and has the
token, secret_id, password and JWT removed (module_utils._scrub).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

try:
    import hvac
    import hvac.exceptions
    import requests.exceptions
except ImportError as exc:  # the lookup reports it as Ansible's missing-library message
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None

from ansible_collections.tradebot.kucoin.plugins.module_utils._scrub import scrub, secret_forms
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import _vault_transport as transport
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import (
    AUTH_METHODS,
    VaultConfigError,
    VaultSettings,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import IssuedToken, token_from_auth

T = TypeVar("T")

BACKOFF_FIRST = 0.5  # seconds before the first retry, doubled for each next one
BACKOFF_LIMIT = 4.0
REASON_LIMIT = 300
# 412: a performance standby not yet caught up; 500, 502, 503: a server or a proxy in trouble, or sealed.
RETRY_STATUSES = (412, 500, 502, 503)
ERRORS_HEADER = re.compile(r"\d+ errors? occurred:")
OBJECT_PREFIX = re.compile(r"<[^<>]* object at 0x[0-9a-f]+>: ")


def backoff(attempt: int) -> float:
    """The pause after failed attempt number `attempt` (0-based)."""
    return min(BACKOFF_FIRST * 2**attempt, BACKOFF_LIMIT)


def worst_case_seconds(timeout: float, retries: int) -> float:
    """How long one Vault call can take at most: every attempt hits its deadline, with the pauses between."""
    return (retries + 1) * timeout + sum(backoff(attempt) for attempt in range(retries))


class VaultError(Exception):
    """A Vault call failed; the message is final: one line, no secret."""


class VaultPermissionDenied(VaultError):
    pass


@dataclass(frozen=True)
class SecretVersion:
    data: dict[str, Any] = field(repr=False)  # the secret values: never in repr
    version: int | None  # None for KV v1


class VaultWriteConflict(VaultError):
    """A check-and-set write found another current version than the one it was based on."""


@dataclass(frozen=True)
class SecretMetadata:
    """A KV v2 secret's metadata; current_version 0 when the secret does not exist."""

    current_version: int = 0
    readable: tuple[int, ...] = ()  # versions neither deleted nor destroyed, newest first
    custom_metadata: dict[str, str] = field(default_factory=dict)
    delete_version_after: str | None = None

    @classmethod
    def from_reply(cls, data: Any) -> SecretMetadata:
        data = data if isinstance(data, dict) else {}
        versions = data.get("versions") if isinstance(data.get("versions"), dict) else {}
        readable = sorted(
            (
                int(number)
                for number, state in versions.items()
                if str(number).isdigit()
                and isinstance(state, dict)
                and not state.get("destroyed")
                and not state.get("deletion_time")
            ),
            reverse=True,
        )
        custom = data.get("custom_metadata") if isinstance(data.get("custom_metadata"), dict) else {}
        return cls(
            current_version=int(data.get("current_version") or 0),
            readable=tuple(readable),
            custom_metadata={str(k): str(v) for k, v in custom.items()},
            delete_version_after=data.get("delete_version_after"),
        )

    @property
    def current_readable(self) -> bool:
        return self.current_version in self.readable


def one_line(exc: BaseException) -> str:
    """The root cause of an exception chain as one short line (requests nests urllib3's errors deeply)."""
    seen = exc
    for _depth in range(16):  # bounded: a cycle in a hand-made chain must not hang the lookup
        candidates = (seen.__cause__, getattr(seen, "reason", None), seen.args[0] if seen.args else None)
        deeper = next((c for c in candidates if isinstance(c, BaseException)), None)
        if deeper is None:
            break
        seen = deeper
    text = OBJECT_PREFIX.sub("", str(seen))
    lines = (line.strip().lstrip("*").strip() for line in text.splitlines())
    text = "; ".join(line for line in lines if line and not ERRORS_HEADER.fullmatch(line))
    return text[:REASON_LIMIT] or type(seen).__name__


def vault_reason(exc: BaseException) -> str:
    """Vault's own error text without hvac's ", on get <url>" suffix, as one line."""
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(error) for error in errors) if errors else str(exc).split(", on ", 1)[0]
    text = one_line(Exception(text))
    # hvac renders an error without a message as "None, on get <url>".
    return text if text and text != "None" else type(exc).__name__


def _retryable(exc: BaseException, timed_out: bool, status: int | None) -> bool:
    if timed_out:
        return True
    if isinstance(exc, (transport.RedirectRefused, transport.ReplyTooLarge, requests.exceptions.TooManyRedirects)):
        return False
    if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.InvalidHeader)):
        return False
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    return isinstance(exc, hvac.exceptions.VaultError) and status in RETRY_STATUSES


class VaultClient:
    """One configured hvac client; `token` may be replaced after a login."""

    def __init__(self, settings: VaultSettings, token: str | None = None) -> None:
        self.settings = settings
        self.url = settings.url
        self.session = transport.build_session(settings)
        self.hvac = hvac.Client(
            url=settings.url,
            # "" rather than None: hvac would otherwise pick up VAULT_TOKEN or ~/.vault-token behind our back.
            token=token or "",
            namespace=settings.namespace,
            verify=settings.verify,
            cert=settings.cert,
            timeout=settings.timeout,
            proxies=settings.proxies,
            session=self.session,
        )

    @property
    def token(self) -> str:
        return str(self.hvac.token or "")

    @token.setter
    def token(self, value: str | None) -> None:
        self.hvac.token = value or ""

    # --- the one retry loop and the one place errors are worded ------------------------------------------

    def _fail(self, message: str) -> str:
        return scrub(message, secret_forms([*self.settings.credentials(), self.token]))

    def call(self, what: str, action: Callable[[], T], on_vault_error: Callable[[Exception], VaultError]) -> T:
        """`action` with retries; any failure as a VaultError about `what` (e.g. "reading secret 'x'")."""
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            with transport.deadline(self.settings.timeout) as limit:
                try:
                    result = action()
                except Exception as exc:  # classified below; nothing escapes unworded
                    failure, timed_out = exc, limit.expired
                else:
                    if not limit.expired:
                        return result
                    # Shut down mid-reply, the HTTP parser may take the end of the stream for the end of the reply.
                    failure, timed_out = TimeoutError(), True
            if attempt + 1 < attempts and _retryable(failure, timed_out, self.session.last_status):
                time.sleep(backoff(attempt))
                continue
            if isinstance(failure, hvac.exceptions.VaultError):
                error = on_vault_error(failure)
                raise type(error)(self._fail(str(error))) from None
            raise VaultError(self._fail(self.describe_transport(failure, timed_out, what))) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def describe_transport(self, exc: BaseException, timed_out: bool, what: str) -> str:  # noqa: PLR0911  # one answer per kind
        url = self.url
        if timed_out or isinstance(exc, requests.exceptions.Timeout):
            return f"Vault at {url} did not answer within the {self.settings.timeout:g} s timeout ({what})"
        if isinstance(exc, transport.RedirectRefused):
            return f"Vault at {url}: {exc} ({what})"
        if isinstance(exc, requests.exceptions.TooManyRedirects):
            return (
                f"Vault at {url} redirected more than once ({what}); only one redirect, from a standby to the "
                "active node, is followed: point url at the active node or its load balancer"
            )
        if isinstance(exc, transport.ReplyTooLarge):
            return f"Vault at {url} sent a reply that is too large: {exc} ({what})"
        if isinstance(exc, requests.exceptions.InvalidHeader):
            # Never the header's value: it may be the Vault token.
            return f"a request header for Vault at {url} is invalid (a line break or space in the token or namespace?)"
        if isinstance(exc, requests.exceptions.SSLError):
            return f"TLS failure talking to Vault at {url}: {one_line(exc)} (check ca_cert / VAULT_CACERT)"
        if isinstance(exc, requests.exceptions.ProxyError):
            return f"the proxy for Vault at {url} failed: {one_line(exc)} (check proxies / HTTPS_PROXY)"
        if isinstance(exc, VaultConfigError):
            return str(exc)
        if not isinstance(exc, requests.exceptions.RequestException) and isinstance(exc, OSError):
            # requests raises a bare OSError, before connecting, for a CA bundle or certificate it cannot find.
            return f"cannot connect to Vault at {url}: {one_line(exc)} (check ca_cert, client_cert and client_key)"
        if isinstance(exc, (requests.exceptions.RequestException, OSError)):
            return f"Vault at {url} is unreachable: {one_line(exc)}"
        return f"{what} failed: {type(exc).__name__}: {one_line(exc)}"

    def _vault_down(self, exc: BaseException) -> str:
        """HTTP 503: Vault says whether it is sealed; anything else is maintenance or standby trouble."""
        reason = vault_reason(exc)
        if "sealed" in reason.lower():
            return f"Vault at {self.url} is sealed"
        return f"Vault at {self.url} is unavailable ({reason})"

    def _json(self, reply: Any, what: str) -> dict[str, Any]:
        if isinstance(reply, dict):
            return reply
        if reply is None or getattr(reply, "status_code", None) == 204:
            return {}
        raise VaultError(self._fail(f"Vault at {self.url} answered {what} with something that is not JSON"))

    # --- calls ---------------------------------------------------------------------------------------------

    def login(self) -> IssuedToken:
        method = self.settings.auth_method
        mount = self.settings.auth_mount
        login = AUTH_METHODS[method].login
        if login is None:
            raise VaultError(f"auth method {method} does not log in")
        self.token = ""  # a login carries its own credential, never a previous (perhaps revoked) token

        def refused(exc: Exception) -> VaultError:
            if isinstance(exc, hvac.exceptions.VaultDown):
                return VaultError(f"{self._vault_down(exc)} (login with auth method {method})")
            reason = vault_reason(exc)
            if "namespace not found" in reason:
                return VaultError(
                    f"unknown Vault namespace {self.settings.namespace!r} (login with auth method {method})"
                )
            return VaultError(f"login with auth method {method} at auth/{mount} failed: {reason}")

        what = f"login with auth method {method}"
        reply = self._json(self.call(what, lambda: login(self.hvac, self.settings), refused), what)
        if not reply.get("auth"):
            raise VaultError(f"login with auth method {method} at auth/{mount} returned no token")
        return token_from_auth(reply["auth"])

    def renew_self(self) -> IssuedToken:
        what = "renewing the token"
        reply = self.call(what, self.hvac.auth.token.renew_self, lambda exc: VaultError(f"{what}: {vault_reason(exc)}"))
        return token_from_auth(self._json(reply, what)["auth"])

    def token_alive(self) -> bool:
        """Whether a 403 came from the policy (token fine) rather than from a dead token."""
        try:
            self.call("looking up the token", self.hvac.auth.token.lookup_self, _denied_or_failed)
        except VaultPermissionDenied:
            return False
        except VaultError:
            return True  # cannot tell; report the original denial rather than log in blindly
        return True

    def mount_kv_version(self, mount: str) -> int | None:
        """The KV version of `mount` as Vault reports it to any token that can use it; None if unknown."""
        try:
            reply = self.call(
                "reading the mount's type",
                lambda: self.hvac.read(f"sys/internal/ui/mounts/{mount}"),
                lambda exc: VaultError(vault_reason(exc)),
            )
        except VaultError:
            return None
        data = (reply.get("data") or {}) if isinstance(reply, dict) else {}
        if data.get("type") not in ("kv", "generic"):
            return None
        return int((data.get("options") or {}).get("version") or 1)

    def read_secret(self, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
        where = f"secret '{path}' on mount '{mount}'"
        if kv_version == 1 and version is not None:
            raise VaultError(f"{where}: version pinning needs KV v2, but kv_version is 1")
        what = f"reading {where}"

        def refused(exc: Exception) -> VaultError:
            return self._read_error(exc, where, mount, kv_version, version)

        if kv_version == 1:
            reply = self.call(what, lambda: self.hvac.secrets.kv.v1.read_secret(path=path, mount_point=mount), refused)
            return SecretVersion(data=dict(self._json(reply, what).get("data") or {}), version=None)
        reply = self.call(
            what,
            lambda: self.hvac.secrets.kv.v2.read_secret_version(
                path=path, version=version, mount_point=mount, raise_on_deleted_version=True
            ),
            refused,
        )
        body = self._json(reply, what).get("data") or {}
        metadata = body.get("metadata") or {}
        gone = _deleted_or_destroyed(metadata, where)
        if gone:
            raise VaultError(gone)
        if body.get("data") is None:
            raise VaultError(f"{where}: no data in Vault's reply")
        return SecretVersion(data=dict(body["data"]), version=int(metadata.get("version") or 0) or None)

    def read_metadata(self, mount: str, path: str) -> SecretMetadata:
        """KV v2 metadata of a secret; an empty SecretMetadata when it does not exist."""
        where = f"secret '{path}' on mount '{mount}'"
        what = f"reading the metadata of {where}"

        def refused(exc: Exception) -> VaultError:
            if isinstance(exc, hvac.exceptions.InvalidPath):
                return _Absent(what)
            return self._write_error(exc, what, mount, f"{mount}/metadata/{path}", "read")

        try:
            reply = self.call(
                what, lambda: self.hvac.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount), refused
            )
        except _Absent:
            return SecretMetadata()
        return SecretMetadata.from_reply(self._json(reply, what).get("data"))

    def write_secret(self, mount: str, path: str, data: dict[str, Any], cas: int) -> int:
        """A new KV v2 version with `data`, only if `cas` is still the current version (0: none yet).

        Returns the new version's number."""
        where = f"secret '{path}' on mount '{mount}'"
        what = f"writing a new version of {where}"

        def refused(exc: Exception) -> VaultError:
            if isinstance(exc, hvac.exceptions.InvalidRequest) and "check-and-set" in vault_reason(exc).lower():
                return VaultWriteConflict(
                    f"{where} changed after version {cas} was read (check-and-set); run again to start from the "
                    "current version"
                )
            return self._write_error(exc, what, mount, f"{mount}/data/{path}", "create and update")

        reply = self.call(
            what,
            lambda: self.hvac.secrets.kv.v2.create_or_update_secret(path=path, secret=data, cas=cas, mount_point=mount),
            refused,
        )
        version = (self._json(reply, what).get("data") or {}).get("version")
        if not str(version).isdigit():
            raise VaultError(f"Vault at {self.url} answered {what} without the new version's number")
        return int(version)

    def update_custom_metadata(self, mount: str, path: str, metadata: SecretMetadata, custom: dict[str, str]) -> None:
        """Replace the secret's custom metadata, leaving its other metadata settings as they are."""
        where = f"secret '{path}' on mount '{mount}'"
        what = f"writing the custom metadata of {where}"
        # hvac sends delete_version_after=0s unless told otherwise, which would clear the secret's own setting.
        keep = metadata.delete_version_after or "0s"
        self.call(
            what,
            lambda: self.hvac.secrets.kv.v2.update_metadata(
                path=path, mount_point=mount, custom_metadata=custom, delete_version_after=keep
            ),
            lambda exc: self._write_error(exc, what, mount, f"{mount}/metadata/{path}", "create and update"),
        )

    def _write_error(self, exc: Exception, what: str, mount: str, policy_path: str, capabilities: str) -> VaultError:
        reason = vault_reason(exc)
        if "namespace not found" in reason:
            return VaultError(f"unknown Vault namespace {self.settings.namespace!r} while {what}")
        if isinstance(exc, hvac.exceptions.Forbidden):
            mismatch = self._kv_mismatch(mount, 2)
            if mismatch:
                return VaultError(f"{mismatch}; writing needs KV v2")
            return VaultPermissionDenied(
                f"permission denied {what} (the token's policy needs {capabilities} on {policy_path})"
            )
        if isinstance(exc, hvac.exceptions.InvalidPath):
            return VaultError(self._kv_mismatch(mount, 2) or f"{what} failed: no KV v2 engine at '{mount}'")
        if isinstance(exc, hvac.exceptions.VaultDown):
            return VaultError(f"{self._vault_down(exc)} while {what}")
        return VaultError(f"{what} failed: {reason}")

    def _read_error(self, exc: Exception, where: str, mount: str, kv_version: int, version: int | None) -> VaultError:
        reason = vault_reason(exc)
        if "namespace not found" in reason:
            return VaultError(f"unknown Vault namespace {self.settings.namespace!r} while reading {where}")
        if isinstance(exc, hvac.exceptions.Forbidden):
            # A least-privilege policy grants only the engine's own path layout (secret/data/... for KV v2), so a
            # wrong kv_version shows up as 403, not 404: say so rather than blame the policy.
            mismatch = self._kv_mismatch(mount, kv_version)
            if mismatch:
                return VaultError(mismatch)
            return VaultPermissionDenied(f"permission denied reading {where} (check the token's policy)")
        if isinstance(exc, hvac.exceptions.InvalidPath):
            # A deleted or destroyed version is a 404 whose body still carries the version's metadata.
            body = getattr(exc, "json", None)
            body = body if isinstance(body, dict) else {}
            gone = _deleted_or_destroyed((body.get("data") or {}).get("metadata"), where)
            return VaultError(gone or self._kv_mismatch(mount, kv_version) or _missing(where, version))
        if isinstance(exc, hvac.exceptions.VaultDown):
            return VaultError(f"{self._vault_down(exc)} while reading {where}")
        return VaultError(f"reading {where} failed: {reason}")

    def _kv_mismatch(self, mount: str, kv_version: int) -> str | None:
        actual = self.mount_kv_version(mount)
        if actual is not None and actual != kv_version:
            return (
                f"KV version mismatch: mount '{mount}' is KV v{actual} but the lookup was told kv_version={kv_version}"
            )
        return None


class _Absent(VaultError):
    """A 404 where a missing secret is an answer, not an error."""


def _denied_or_failed(exc: Exception) -> VaultError:
    if isinstance(exc, hvac.exceptions.Forbidden):
        return VaultPermissionDenied("the token is not valid")
    return VaultError(vault_reason(exc))


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
