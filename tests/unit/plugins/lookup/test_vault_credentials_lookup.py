"""The lookup's DOCUMENTATION declares exactly the options its code reads, with sane sources."""

from __future__ import annotations

import ast
import inspect

import yaml

from ansible_collections.tradebot.kucoin.plugins.lookup import vault_credentials as lookup
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_connection

DOC = yaml.safe_load(lookup.DOCUMENTATION)
OPTIONS = DOC["options"]
SECRET_OPTIONS = {"token", "secret_id", "password", "jwt"}


def string_arguments_of(source: str, callee: str) -> set[str]:
    """First string-literal argument of every call to `callee` in `source`.

    `callee` is a method name (self.get_option) or, with a leading "=", a bare function name (get).
    """
    names = set()
    bare = callee.startswith("=")
    callee = callee.lstrip("=")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if bare:
            called = func.id if isinstance(func, ast.Name) else None
        else:
            called = func.attr if isinstance(func, ast.Attribute) else None
        first = node.args[0]
        if called == callee and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def options_read_by_the_code() -> set[str]:
    lookup_source = inspect.getsource(lookup.LookupModule)
    settings_source = inspect.getsource(vault_connection.settings_from_options)
    return string_arguments_of(lookup_source, "get_option") | string_arguments_of(settings_source, "=get")


def test_documented_options_are_exactly_the_ones_read() -> None:
    documented = set(OPTIONS) - {"_terms"}
    read = options_read_by_the_code()
    assert read - documented == set(), "read but not documented"
    assert documented - read == set(), "documented but never read"


def test_auth_method_choices_match_the_code() -> None:
    assert OPTIONS["auth_method"]["choices"] == list(vault_connection.AUTH_METHODS)


def test_vault_cli_environment_variables_are_option_sources() -> None:
    env = {name: [entry["name"] for entry in spec.get("env", [])] for name, spec in OPTIONS.items()}
    assert env["url"] == ["VAULT_ADDR"]
    assert env["token"] == ["VAULT_TOKEN"]
    assert env["namespace"] == ["VAULT_NAMESPACE"]
    assert env["ca_cert"] == ["VAULT_CACERT"]
    # VAULT_SKIP_VERIFY inverts validate_certs, so the code applies it, not Ansible.
    assert "VAULT_SKIP_VERIFY" not in env["validate_certs"]
    assert "VAULT_SKIP_VERIFY" in lookup.DOCUMENTATION


def test_every_source_uses_the_documented_names() -> None:
    for name, spec in OPTIONS.items():
        for entry in spec.get("ini", []):
            assert entry == {"section": "tradebot_kucoin_vault", "key": name}, name
        for entry in spec.get("vars", []):
            assert entry["name"] == f"tradebot_vault_{name}", name


def test_every_option_has_every_source() -> None:
    # Issue: every option can come from kwargs, Ansible variables, the environment or ansible.cfg (secrets excepted).
    for name, spec in OPTIONS.items():
        if name == "_terms":
            continue
        sources = {"env", "vars"} | (set() if name in SECRET_OPTIONS else {"ini"})
        assert sources <= set(spec), f"{name} lacks {sorted(sources - set(spec))}"


def test_secrets_are_never_read_from_ansible_cfg() -> None:
    for name in SECRET_OPTIONS:
        assert "ini" not in OPTIONS[name], f"{name} would sit in clear text in ansible.cfg"


def test_defaults_agree_with_the_code() -> None:
    assert OPTIONS["engine_mount_point"]["default"] == "secret"
    assert OPTIONS["kv_version"]["default"] == 2
    assert OPTIONS["auth_method"]["default"] == "token"
    assert OPTIONS["token_file"]["default"] == ".vault-token"
    assert OPTIONS["kubernetes_token_path"]["default"] == vault_connection.KUBERNETES_TOKEN_PATH
    field_defaults = {
        name: OPTIONS[f"{name}_field"]["default"]
        for name in ("api_key", "api_secret", "api_passphrase", "key_version", "api")
    }
    assert field_defaults == {name: name for name in field_defaults}


def test_examples_and_return_parse() -> None:
    assert yaml.safe_load(lookup.EXAMPLES)
    returned = yaml.safe_load(lookup.RETURN)["_raw"]["contains"]
    assert set(returned) == {"api_key", "api_secret", "api_passphrase", "key_version", "api", "vault"}
