# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lookup's Vault settings, resolved from its options, and the table of auth methods.

Adding an auth method is one AuthMethod entry here (with its login function) and its options in the lookup's
DOCUMENTATION.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KUBERNETES_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
CREDENTIAL_FIELDS = ("token", "secret_id", "password", "jwt")
FALSE_STRINGS = {"", "0", "false", "no", "off", "n", "f"}

# The Vault CLI's variables: used only when no option source sets the value (as community.hashi_vault does).
ENV_FALLBACKS = {
    "url": "VAULT_ADDR",
    "token": "VAULT_TOKEN",
    "namespace": "VAULT_NAMESPACE",
    "ca_cert": "VAULT_CACERT",
    "client_cert": "VAULT_CLIENT_CERT",
    "client_key": "VAULT_CLIENT_KEY",
}
PATH_OPTIONS = ("ca_cert", "client_cert", "client_key")


class VaultConfigError(Exception):
    """A setting is missing or contradictory; the message names the option, never a value."""


@dataclass(frozen=True)
class VaultSettings:
    """Everything needed to reach Vault and log in. Credentials stay out of repr."""

    url: str
    auth_method: str = "token"
    mount_point: str | None = None
    namespace: str | None = None
    ca_cert: str | None = None
    validate_certs: bool = True
    client_cert: str | None = None
    client_key: str | None = None
    proxies: dict[str, str] | None = None
    timeout: float = 30.0
    retries: int = 3
    token: str | None = field(default=None, repr=False)
    role_id: str | None = None
    secret_id: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    jwt: str | None = field(default=None, repr=False)
    role: str | None = None
    kubernetes_token_path: str = KUBERNETES_TOKEN_PATH

    @property
    def auth_mount(self) -> str:
        return (self.mount_point or self.auth_method).strip("/")

    @property
    def verify(self) -> bool | str:
        if not self.validate_certs:
            return False
        return self.ca_cert or True

    @property
    def cert(self) -> str | tuple[str, str] | None:
        if not self.client_cert:
            return None
        return (self.client_cert, self.client_key) if self.client_key else self.client_cert

    def credentials(self) -> list[str]:
        """The secret values these settings hold or lead to, for the scrubber."""
        values = [value for value in (getattr(self, name) for name in CREDENTIAL_FIELDS) if value]
        if self.auth_method == "kubernetes":
            # The service-account JWT is read from its file at login; an error text may carry it too.
            with contextlib.suppress(VaultConfigError):
                values.append(_read_service_account_token(self.kubernetes_token_path))
        return values


# --- auth methods -----------------------------------------------------------------------------------------


def _read_service_account_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise VaultConfigError(
            f"kubernetes auth: cannot read the service-account token file {path}: {exc.strerror}"
        ) from None


# Each login takes an hvac client and the settings and returns Vault's login reply.
LoginFunction = Callable[[Any, VaultSettings], Any]


def _approle(client: Any, s: VaultSettings) -> Any:
    return client.auth.approle.login(
        role_id=s.role_id, secret_id=s.secret_id, mount_point=s.auth_mount, use_token=False
    )


def _userpass(client: Any, s: VaultSettings) -> Any:
    return client.auth.userpass.login(
        username=s.username, password=s.password, mount_point=s.auth_mount, use_token=False
    )


def _jwt(client: Any, s: VaultSettings) -> Any:
    return client.auth.jwt.jwt_login(role=s.role, jwt=s.jwt, path=s.auth_mount, use_token=False)


def _kubernetes(client: Any, s: VaultSettings) -> Any:
    jwt = _read_service_account_token(s.kubernetes_token_path)
    return client.auth.kubernetes.login(role=s.role, jwt=jwt, mount_point=s.auth_mount, use_token=False)


def _cert(client: Any, s: VaultSettings) -> Any:
    # The TLS client certificate is the credential; the body only names the certificate role, if any.
    return client.write_data(f"auth/{s.auth_mount}/login", data={"name": s.role} if s.role else {})


@dataclass(frozen=True)
class AuthMethod:
    name: str
    needs: tuple[str, ...] = ()  # options that must be set
    identity: tuple[str, ...] = ()  # settings that tell one login identity from another (credentials hashed)
    login: LoginFunction | None = None  # None: no login (the token is given, or an agent adds it)


AUTH_METHODS: dict[str, AuthMethod] = {
    method.name: method
    for method in (
        AuthMethod("token", identity=("token",)),
        AuthMethod("approle", ("role_id", "secret_id"), ("role_id", "secret_id"), _approle),
        AuthMethod("userpass", ("username", "password"), ("username", "password"), _userpass),
        AuthMethod("jwt", ("jwt", "role"), ("role", "jwt"), _jwt),
        AuthMethod("cert", ("client_cert",), ("role", "client_cert"), _cert),
        AuthMethod("kubernetes", ("role",), ("role", "kubernetes_token_path"), _kubernetes),
        AuthMethod("none"),
    )
}


# --- resolving the options ----------------------------------------------------------------------------------


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


def parse_proxies(raw: Any) -> dict[str, str] | None:
    """The proxies option as community.hashi_vault reads it: one URL for every scheme, or scheme -> URL."""
    if not raw:
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if not text.startswith("{"):
            return {"http": text, "https": text}
        try:
            raw = json.loads(text)
        except ValueError:
            raise VaultConfigError("proxies: a string starting with { must be a JSON object") from None
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise VaultConfigError("proxies must be a proxy URL or a mapping of scheme (http, https) to proxy URL")
    return {str(scheme): url for scheme, url in raw.items()}


def settings_from_options(get: Callable[[str], Any], environ: Mapping[str, str] | None = None) -> VaultSettings:
    """Settings from the resolved plugin options, the Vault CLI's variables filling only what is unset."""
    env = os.environ if environ is None else environ

    def option(name: str) -> Any:
        value = get(name)
        if value in (None, "") and name in ENV_FALLBACKS:
            value = env.get(ENV_FALLBACKS[name]) or None
            if value and name in PATH_OPTIONS:
                value = os.path.expanduser(value)
        return value

    url = option("url")
    if not url:
        raise VaultConfigError("no Vault address: set the url option or VAULT_ADDR")
    auth_method = get("auth_method") or "token"
    method = AUTH_METHODS.get(auth_method)
    if method is None:
        raise VaultConfigError(f"auth_method must be one of {', '.join(AUTH_METHODS)}, not {auth_method!r}")

    validate_certs = get("validate_certs")
    if validate_certs is None:
        validate_certs = not _truthy(env.get("VAULT_SKIP_VERIFY", ""))

    # Tokens never hold whitespace; a stray newline (VAULT_TOKEN from a CRLF file) would make requests refuse the
    # X-Vault-Token header with an error that quotes the token.
    token = (option("token") or "").strip()
    if auth_method == "token" and not token:
        token = read_token_file(get("token_path"), get("token_file")) or ""
        if not token:
            raise VaultConfigError(
                "auth_method token needs a token: set the token option, VAULT_TOKEN, or a ~/.vault-token file"
            )
    missing = [name for name in method.needs if not option(name)]
    if missing:
        raise VaultConfigError(f"auth_method {auth_method} needs the option(s) {', '.join(missing)}")
    timeout = float(get("timeout"))
    if timeout <= 0:
        raise VaultConfigError("timeout must be a positive number of seconds")
    retries = int(get("retries"))
    if retries < 0:
        raise VaultConfigError("retries must be 0 or more")

    return VaultSettings(
        url=str(url).rstrip("/"),
        auth_method=auth_method,
        mount_point=get("mount_point"),
        namespace=option("namespace") or None,
        ca_cert=option("ca_cert") or None,
        validate_certs=bool(validate_certs),
        client_cert=option("client_cert") or None,
        client_key=option("client_key") or None,
        proxies=parse_proxies(get("proxies")),
        timeout=timeout,
        retries=retries,
        token=token or None,
        role_id=get("role_id"),
        secret_id=get("secret_id"),
        username=get("username"),
        password=get("password"),
        jwt=get("jwt"),
        role=get("role"),
        kubernetes_token_path=get("kubernetes_token_path") or KUBERNETES_TOKEN_PATH,
    )
