"""The lookup's DOCUMENTATION declares exactly the options its code reads, with sane sources."""

from __future__ import annotations

import ast
import inspect

import yaml

from ansible_collections.tradebot.kucoin.plugins.lookup import vault_credentials as lookup
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import _kucoin_credentials as kucoin_credentials
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import _vault_options as vault_options

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
    settings_source = inspect.getsource(vault_options.settings_from_options)
    location_source = inspect.getsource(kucoin_credentials.location_from_options)
    return (
        string_arguments_of(lookup_source, "get_option")
        | string_arguments_of(location_source, "=get")
        | string_arguments_of(settings_source, "=get")
        | string_arguments_of(settings_source, "=option")
    )


def test_documented_options_are_exactly_the_ones_read() -> None:
    documented = set(OPTIONS) - {"_terms"}
    read = options_read_by_the_code()
    assert read - documented == set(), "read but not documented"
    assert documented - read == set(), "documented but never read"


def test_auth_method_choices_match_the_code() -> None:
    assert OPTIONS["auth_method"]["choices"] == list(vault_options.AUTH_METHODS)


def test_vault_cli_environment_variables_are_fallbacks_not_option_sources() -> None:
    # Ansible would rank an env source above ansible.cfg; the code applies them only when nothing is set.
    for option, variable in vault_options.ENV_FALLBACKS.items():
        assert variable not in [entry["name"] for entry in OPTIONS[option].get("env", [])], option
        assert f"C({variable})" in lookup.DOCUMENTATION
    assert "C(VAULT_SKIP_VERIFY)" in lookup.DOCUMENTATION


def test_our_names_win_over_community_hashi_vaults_at_each_level() -> None:
    # Within one kind of source Ansible takes the last entry that is set: ours come last.
    for name, spec in OPTIONS.items():
        envs = [entry["name"] for entry in spec.get("env", [])]
        inis = [(entry["section"], entry["key"]) for entry in spec.get("ini", [])]
        variables = [entry["name"] for entry in spec.get("vars", [])]
        if envs:
            assert envs[-1] == f"TRADEBOT_VAULT_{name.upper()}", name
            assert all(env.startswith("ANSIBLE_HASHI_VAULT_") for env in envs[:-1]), name
        if inis:
            assert inis[-1] == ("tradebot_kucoin_vault", name), name
            assert all(section == "hashi_vault_collection" for section, _key in inis[:-1]), name
        if variables:
            assert variables[-1] == f"tradebot_vault_{name}", name
            assert all(var.startswith("ansible_hashi_vault_") for var in variables[:-1]), name


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
    assert OPTIONS["kubernetes_token_path"]["default"] == vault_options.KUBERNETES_TOKEN_PATH
    field_defaults = {
        name: OPTIONS[f"{name}_field"]["default"]
        for name in ("api_key", "api_secret", "api_passphrase", "key_version", "api")
    }
    assert field_defaults == {name: name for name in field_defaults}


def test_examples_and_return_parse() -> None:
    assert yaml.safe_load(lookup.EXAMPLES)
    returned = yaml.safe_load(lookup.RETURN)["_raw"]["contains"]
    assert set(returned) == {"api_key", "api_secret", "api_passphrase", "key_version", "api", "vault"}
