# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logging in to Vault with hvac, once per auth method.

Only the worker that logs in imports this module (and hvac under it); workers that reuse the cached token
never load it.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import (
    RETRY_STATUSES,
    HvacMissingError,
    VaultSettings,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    HEADER,
    SETUP,
    TIMEOUT,
    TLS,
    UNREACHABLE,
    transport_message,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_kv import describe_vault_down, vault_reason
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_token_cache import IssuedToken, token_from_auth


class VaultLoginError(Exception):
    """Login refused or impossible; the message names the method and mount, never a credential."""


def log_in(settings: VaultSettings) -> IssuedToken:
    """Build a client and log in; a failure, transport ones included, is a one-line VaultLoginError.

    The exception is a missing hvac (HvacMissingError), which the lookup reports as Ansible's missing library.
    """
    client = build_client(settings)
    try:
        return login(client, settings)
    except OSError as exc:  # requests' errors, and its bare OSError for a missing certificate file
        raise VaultLoginError(describe_transport_error(exc, settings.url)) from None


def build_client(settings: VaultSettings, token: str | None = None) -> Any:
    """An hvac client, for a login, whose session retries connection errors and 412/500/502/503 with backoff."""
    try:
        import hvac
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry
    except ImportError:
        raise HvacMissingError("hvac") from None

    session = requests.Session()
    if settings.retries > 0:
        retry = Retry(
            total=settings.retries,
            connect=settings.retries,
            read=settings.retries,
            status=settings.retries,
            backoff_factor=0.3,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # Vault logins are POSTs; retrying them is safe (no side effect but a token)
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    cert = None
    if settings.client_cert:
        cert = (settings.client_cert, settings.client_key) if settings.client_key else settings.client_cert
    # hvac prefers a given session's own verify/cert over its arguments, so set them here.
    session.verify = settings.verify
    session.cert = cert
    return hvac.Client(
        url=settings.url,
        # "" rather than None: hvac would otherwise pick up VAULT_TOKEN or ~/.vault-token behind our back.
        token=token or "",
        namespace=settings.namespace,
        verify=settings.verify,
        cert=cert,
        timeout=settings.timeout,
        session=session,
    )


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
