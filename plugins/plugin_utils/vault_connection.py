# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault connection settings, resolved from the lookup's options (controller side only)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.record import Record

AUTH_METHODS = ("token", "approle", "userpass", "jwt", "cert", "kubernetes", "none")
RETRY_STATUSES = (412, 500, 502, 503)
FALSE_STRINGS = {"", "0", "false", "no", "off", "n", "f"}
KUBERNETES_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
CREDENTIAL_FIELDS = ("token", "secret_id", "password", "jwt")


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


class VaultSettings(Record):
    __slots__ = (  # noqa: RUF023  # the order repr shows
        "url",
        "auth_method",
        "mount_point",
        "namespace",
        "ca_cert",
        "validate_certs",
        "client_cert",
        "client_key",
        "timeout",
        "retries",
        "token",
        "role_id",
        "secret_id",
        "username",
        "password",
        "jwt",
        "role",
        "kubernetes_token_path",
    )
    url: str
    auth_method: str
    mount_point: str | None
    namespace: str | None
    ca_cert: str | None
    validate_certs: bool
    client_cert: str | None
    client_key: str | None
    timeout: float
    retries: int
    token: str | None
    role_id: str | None
    secret_id: str | None
    username: str | None
    password: str | None
    jwt: str | None
    role: str | None
    kubernetes_token_path: str
    _defaults: ClassVar[dict[str, Any]] = {
        "auth_method": "token",
        "mount_point": None,
        "namespace": None,
        "ca_cert": None,
        "validate_certs": True,
        "client_cert": None,
        "client_key": None,
        "timeout": 30.0,
        "retries": 3,
        "token": None,
        "role_id": None,
        "secret_id": None,
        "username": None,
        "password": None,
        "jwt": None,
        "role": None,
        "kubernetes_token_path": KUBERNETES_TOKEN_PATH,
    }
    # Credentials: left out of repr, so a stray debug print cannot show them.
    _hidden: ClassVar[frozenset[str]] = frozenset(CREDENTIAL_FIELDS)

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
        kubernetes_token_path=get("kubernetes_token_path") or KUBERNETES_TOKEN_PATH,
    )
