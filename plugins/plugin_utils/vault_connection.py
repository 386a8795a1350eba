# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault connection settings, and the hvac client built from them for a login (controller side only)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

AUTH_METHODS = ("token", "approle", "userpass", "jwt", "cert", "kubernetes", "none")
RETRY_STATUSES = (412, 500, 502, 503)
FALSE_STRINGS = {"", "0", "false", "no", "off", "n", "f"}


class VaultConfigError(Exception):
    """A setting is missing or contradictory; the message names the option, never a value."""


class HvacMissingError(Exception):
    """hvac (or requests under it) cannot be imported; the lookup reports it as Ansible's missing library."""


def hvac_installed() -> bool:
    """Whether hvac is installed, without importing it (that costs every forked worker 60-100 ms of CPU)."""
    from importlib.util import find_spec

    try:
        return find_spec("hvac") is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without a spec
        return False


@dataclass(frozen=True)
class VaultSettings:
    url: str
    auth_method: str = "token"
    mount_point: str | None = None
    namespace: str | None = None
    ca_cert: str | None = None
    validate_certs: bool = True
    client_cert: str | None = None
    client_key: str | None = None
    timeout: float = 30.0
    retries: int = 3
    # Credentials: excluded from repr so a stray debug print cannot show them.
    token: str | None = field(default=None, repr=False)
    role_id: str | None = None
    secret_id: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    jwt: str | None = field(default=None, repr=False)
    role: str | None = None
    kubernetes_token_path: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"

    @property
    def auth_mount(self) -> str:
        return (self.mount_point or self.auth_method).strip("/")

    @property
    def verify(self) -> bool | str:
        if not self.validate_certs:
            return False
        return self.ca_cert or True


def _truthy(value: str) -> bool:
    return value.strip().lower() not in FALSE_STRINGS


def read_token_file(token_path: str | None, token_file: str | None) -> str | None:
    """The Vault CLI's token helper file (~/.vault-token by default), if it exists."""
    path = os.path.join(os.path.expanduser(token_path or "~"), token_file or ".vault-token")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VaultConfigError(f"cannot read the token file {path}: {exc.strerror}") from None


def settings_from_options(get: Callable[[str], Any], environ: dict[str, str] | None = None) -> VaultSettings:
    """Build settings from resolved plugin options; VAULT_SKIP_VERIFY and ~/.vault-token fill what is unset.

    Everything else that the Vault CLI reads from the environment (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE,
    VAULT_CACERT) is declared as an `env` source on the option itself, so Ansible's precedence applies.
    """
    env = os.environ if environ is None else environ
    url = get("url")
    if not url:
        raise VaultConfigError("no Vault address: set the url option or VAULT_ADDR")
    auth_method = get("auth_method") or "token"
    if auth_method not in AUTH_METHODS:
        raise VaultConfigError(f"auth_method must be one of {', '.join(AUTH_METHODS)}, not {auth_method!r}")

    validate_certs = get("validate_certs")
    if validate_certs is None:
        validate_certs = not _truthy(env.get("VAULT_SKIP_VERIFY", ""))

    # Tokens never hold whitespace; a stray newline (VAULT_TOKEN from a CRLF file) would make requests refuse the
    # X-Vault-Token header with an error that quotes the token.
    token = (get("token") or "").strip()
    if auth_method == "token" and not token:
        token = read_token_file(get("token_path"), get("token_file"))
        if not token:
            raise VaultConfigError(
                "auth_method token needs a token: set the token option, VAULT_TOKEN, or a ~/.vault-token file"
            )

    required = {
        "approle": ("role_id", "secret_id"),
        "userpass": ("username", "password"),
        "jwt": ("jwt", "role"),
        "kubernetes": ("role",),
    }.get(auth_method, ())
    missing = [name for name in required if not get(name)]
    if missing:
        raise VaultConfigError(f"auth_method {auth_method} needs the option(s) {', '.join(missing)}")
    if auth_method == "cert" and not get("client_cert"):
        raise VaultConfigError("auth_method cert needs client_cert (and client_key unless the cert file has it)")

    return VaultSettings(
        url=str(url).rstrip("/"),
        auth_method=auth_method,
        mount_point=get("mount_point"),
        namespace=get("namespace") or None,
        ca_cert=get("ca_cert") or None,
        validate_certs=bool(validate_certs),
        client_cert=get("client_cert") or None,
        client_key=get("client_key") or None,
        timeout=float(get("timeout")),
        retries=int(get("retries")),
        token=token or None,
        role_id=get("role_id"),
        secret_id=get("secret_id"),
        username=get("username"),
        password=get("password"),
        jwt=get("jwt"),
        role=get("role"),
        kubernetes_token_path=get("kubernetes_token_path") or VaultSettings.kubernetes_token_path,
    )


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
