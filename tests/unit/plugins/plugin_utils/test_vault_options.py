"""settings_from_options: required options, the Vault CLI variables as fallbacks, proxies; VaultSettings' repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import (
    AUTH_METHODS,
    VaultConfigError,
    VaultSettings,
    parse_proxies,
    read_token_file,
    settings_from_options,
)

DEFAULTS: dict[str, Any] = {
    "url": "http://127.0.0.1:8200",
    "auth_method": "token",
    "token": "hvs.tok",
    "token_path": "~",
    "token_file": ".vault-token",
    "timeout": 30,
    "retries": 3,
    "kubernetes_token_path": "/var/run/secrets/kubernetes.io/serviceaccount/token",
}


def options(**overrides: Any):
    """A stand-in for LookupBase.get_option over already-resolved options."""
    values = {**DEFAULTS, **overrides}
    return values.get


def test_minimal_token_settings() -> None:
    settings = settings_from_options(options(url="http://vault:8200/"), environ={})
    assert settings.url == "http://vault:8200"
    assert settings.auth_method == "token"
    assert settings.token == "hvs.tok"
    assert settings.validate_certs is True
    assert settings.verify is True
    assert settings.timeout == 30.0
    assert settings.retries == 3


def test_missing_url_names_the_option_and_env_var() -> None:
    with pytest.raises(VaultConfigError, match=r"url option or VAULT_ADDR"):
        settings_from_options(options(url=None), environ={})


def test_unknown_auth_method_is_refused() -> None:
    with pytest.raises(VaultConfigError, match=r"auth_method must be one of token, approle"):
        settings_from_options(options(auth_method="ldap"), environ={})


@pytest.mark.parametrize(
    ("method", "given", "missing"),
    [
        ("approle", {"role_id": "r"}, "secret_id"),
        ("approle", {"secret_id": "Zq-secret-value"}, "role_id"),
        ("userpass", {"password": "Zq-secret-value"}, "username"),
        ("userpass", {"username": "u"}, "password"),
        ("jwt", {"role": "r"}, "jwt"),
        ("jwt", {"jwt": "Zq-secret-value"}, "role"),
        ("kubernetes", {}, "role"),
    ],
)
def test_missing_credentials_name_the_option_not_the_value(method: str, given: dict[str, str], missing: str) -> None:
    with pytest.raises(VaultConfigError) as caught:
        settings_from_options(options(auth_method=method, token=None, **given), environ={})
    message = str(caught.value)
    assert f"auth_method {method} needs the option(s) {missing}" in message
    assert "Zq-secret-value" not in message


def test_cert_needs_a_client_certificate() -> None:
    with pytest.raises(VaultConfigError, match=r"auth_method cert needs the option\(s\) client_cert"):
        settings_from_options(options(auth_method="cert", token=None), environ={})
    settings = settings_from_options(options(auth_method="cert", token=None, client_cert="/c.pem"), environ={})
    assert settings.client_cert == "/c.pem"
    assert settings.auth_mount == "cert"


def test_none_needs_no_credentials() -> None:
    settings = settings_from_options(options(auth_method="none", token=None), environ={})
    assert settings.token is None


@pytest.mark.parametrize(
    ("skip_verify", "expected"),
    [(None, True), ("", True), ("1", False), ("true", False), ("yes", False), ("0", True), ("false", True)],
)
def test_vault_skip_verify_applies_when_validate_certs_is_unset(skip_verify: str | None, expected: bool) -> None:
    environ = {} if skip_verify is None else {"VAULT_SKIP_VERIFY": skip_verify}
    settings = settings_from_options(options(validate_certs=None), environ=environ)
    assert settings.validate_certs is expected


@pytest.mark.parametrize("validate_certs", [True, False])
def test_validate_certs_set_anywhere_beats_vault_skip_verify(validate_certs: bool) -> None:
    for skip in ("1", "0"):
        settings = settings_from_options(options(validate_certs=validate_certs), environ={"VAULT_SKIP_VERIFY": skip})
        assert settings.validate_certs is validate_certs


def test_verify_uses_the_ca_bundle_unless_validation_is_off() -> None:
    assert VaultSettings(url="u", ca_cert="/ca.pem").verify == "/ca.pem"
    assert VaultSettings(url="u", ca_cert="/ca.pem", validate_certs=False).verify is False


def test_vault_token_file_fills_a_missing_token(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("hvs.from-file\n")
    settings = settings_from_options(options(token=None, token_path=str(tmp_path)), environ={})
    assert settings.token == "hvs.from-file"


def test_an_explicit_token_beats_the_token_file(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("hvs.from-file\n")
    settings = settings_from_options(options(token="hvs.explicit", token_path=str(tmp_path)), environ={})
    assert settings.token == "hvs.explicit"


@pytest.mark.parametrize("given", ["hvs.pasted\n", " hvs.pasted\r\n"])
def test_whitespace_around_a_given_token_is_dropped(given: str) -> None:
    # Left in, requests would refuse the X-Vault-Token header with an error that quotes the token.
    assert settings_from_options(options(token=given), environ={}).token == "hvs.pasted"


def test_token_file_name_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "ci-token").write_text("hvs.ci")
    settings = settings_from_options(options(token=None, token_path=str(tmp_path), token_file="ci-token"), environ={})
    assert settings.token == "hvs.ci"


def test_token_method_without_any_token_says_where_to_put_one(tmp_path: Path) -> None:
    with pytest.raises(VaultConfigError, match=r"set the token option, VAULT_TOKEN, or a ~/.vault-token file"):
        settings_from_options(options(token=None, token_path=str(tmp_path)), environ={})


def test_empty_token_file_counts_as_no_token(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("\n")
    assert read_token_file(str(tmp_path), ".vault-token") is None


def test_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").mkdir()  # a directory where the file should be
    with pytest.raises(VaultConfigError, match=r"cannot read the token file .*\.vault-token"):
        read_token_file(str(tmp_path), ".vault-token")


def test_token_file_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text("hvs.home")
    assert read_token_file("~", None) == "hvs.home"


def test_auth_mount_defaults_to_the_method_and_trims_slashes() -> None:
    assert VaultSettings(url="u", auth_method="approle").auth_mount == "approle"
    assert VaultSettings(url="u", auth_method="approle", mount_point="/ci/approle/").auth_mount == "ci/approle"


def test_repr_never_shows_credentials() -> None:
    settings = VaultSettings(url="u", token="Zq-t", secret_id="Zq-s", password="Zq-p", jwt="Zq-j")
    assert "Zq-" not in repr(settings)


def test_vault_cli_variables_only_fill_what_no_option_sets() -> None:
    environ = {
        "VAULT_ADDR": "http://dead:1",
        "VAULT_TOKEN": "hvs.env",
        "VAULT_NAMESPACE": "env-ns",
        "VAULT_CACERT": "~/env-ca.pem",
        "VAULT_CLIENT_CERT": "/env/c.pem",
    }
    given = settings_from_options(
        options(url="http://cfg:8200", token="hvs.cfg", namespace="cfg-ns", ca_cert="/cfg/ca.pem"), environ=environ
    )
    assert (given.url, given.token, given.namespace, given.ca_cert) == (
        "http://cfg:8200",
        "hvs.cfg",
        "cfg-ns",
        "/cfg/ca.pem",
    )
    assert given.client_cert == "/env/c.pem"
    fallback = settings_from_options(options(url=None, token=None), environ=environ)
    assert (fallback.url, fallback.token, fallback.namespace) == ("http://dead:1", "hvs.env", "env-ns")
    assert fallback.ca_cert == str(Path("~/env-ca.pem").expanduser())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("http://proxy:3128", {"http": "http://proxy:3128", "https": "http://proxy:3128"}),
        ({"https": "http://p:1"}, {"https": "http://p:1"}),
        ('{"http": "http://p:2"}', {"http": "http://p:2"}),
    ],
)
def test_proxies_as_community_hashi_vault_reads_them(raw: Any, expected: Any) -> None:
    assert parse_proxies(raw) == expected


@pytest.mark.parametrize("raw", ['{"http": ', ["http://p:1"], {"http": 3}])
def test_proxies_that_are_neither_a_url_nor_a_mapping_are_refused(raw: Any) -> None:
    with pytest.raises(VaultConfigError, match=r"proxies"):
        parse_proxies(raw)


@pytest.mark.parametrize(("name", "value"), [("timeout", 0), ("retries", -1)])
def test_timeout_and_retries_must_make_sense(name: str, value: int) -> None:
    with pytest.raises(VaultConfigError, match=name):
        settings_from_options(options(**{name: value}), environ={})


def test_every_auth_method_but_token_and_none_logs_in() -> None:
    assert {name for name, method in AUTH_METHODS.items() if method.login is None} == {"token", "none"}
