"""One documented precedence for every option: kwargs > Ansible variables > environment > ansible.cfg, with
community.hashi_vault's names read too (ours win at each level) and the Vault CLI's variables as fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.procs import REPO_ROOT, free_port

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault

LEVELS = ("ini", "env", "vars", "kwargs")


def test_engine_mount_point_precedence(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    # One KV v2 mount per level, each holding the same path with a value that says which level won.
    policy = ""
    for level in LEVELS:
        bao.enable_kv(f"prec-{level}", 2)
        bao.put_secret(f"prec-{level}", "kucoin/prec", {"api_key": level, "api_secret": "s", "api_passphrase": "p"})
        policy += f'path "prec-{level}/data/kucoin/*" {{ capabilities = ["read"] }}\n'
    bao.write_policy("prec-read", policy)
    token = bao.client().auth.token.create(policies=["prec-read"], ttl="10m")["auth"]["client_token"]

    config = tmp_path / "ansible.cfg"
    config.write_text(
        (REPO_ROOT / "ansible.cfg").read_text() + "\n[tradebot_kucoin_vault]\nengine_mount_point = prec-ini\n"
    )
    ini = {"ANSIBLE_CONFIG": str(config)}
    env = {**ini, "TRADEBOT_VAULT_ENGINE_MOUNT_POINT": "prec-env"}
    ansible_vars = {"tradebot_vault_engine_mount_point": "prec-vars"}
    base = {"url": bao.url, "token": token}
    from_kwargs = {"name": "kwargs", "term": "kucoin/prec", "options": {**base, "engine_mount_point": "prec-kwargs"}}
    unset = {"name": "unset", "term": "kucoin/prec", "options": base}

    def winner(outcomes: dict, name: str) -> str:
        outcome = outcomes[name]
        assert not outcome.failed, outcome.msg
        assert outcome.value["vault"]["mount"] == f"prec-{outcome.value['api_key']}"
        return outcome.value["api_key"]

    everything = run_cases([from_kwargs, unset], tmp_path, env=env, extra_vars=ansible_vars)
    assert winner(everything, "kwargs") == "kwargs"
    assert winner(everything, "unset") == "vars"
    assert winner(run_cases([unset], tmp_path, env=env), "unset") == "env"
    assert winner(run_cases([unset], tmp_path, env=ini), "unset") == "ini"


def config_with(tmp_path: Path, section: str) -> dict[str, str]:
    config = tmp_path / f"ansible-{section.split(']', maxsplit=1)[0].strip('[')}.cfg"
    config.write_text((REPO_ROOT / "ansible.cfg").read_text() + "\n" + section)
    return {"ANSIBLE_CONFIG": str(config)}


def test_a_vault_addr_in_the_shell_does_not_override_ansible_cfg(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = config_with(tmp_path, f"[tradebot_kucoin_vault]\nurl = {bao.url}\nretries = 0\n")
    case = {"name": "read", "term": "kucoin/alpha", "options": {"token": seeded_vault.token}}
    outcome = run_cases([case], tmp_path, env={**cfg, "VAULT_ADDR": dead})["read"]
    assert not outcome.failed, outcome.msg
    assert outcome.value["api_key"] == "key-alpha-4"
    # With nothing else set, VAULT_ADDR is still the fallback (here: the dead one, so the read fails there).
    bare = {"ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "VAULT_ADDR": dead, "TRADEBOT_VAULT_RETRIES": "0"}
    outcome = run_cases([case], tmp_path, env=bare)["read"]
    assert outcome.failed
    assert f"Vault at {dead} is unreachable" in outcome.msg


def test_community_hashi_vault_settings_work_unchanged(seeded_vault: SeededVault, tmp_path: Path) -> None:
    vault = seeded_vault
    bao = vault.bao
    dead = f"http://127.0.0.1:{free_port()}"
    # A migrating user's settings: url and auth in [hashi_vault_collection], credentials in ANSIBLE_HASHI_VAULT_*.
    hashi_cfg = config_with(
        tmp_path, f"[hashi_vault_collection]\nurl = {bao.url}\nauth_method = approle\nrole_id = {vault.role_id}\n"
    )
    hashi_env = {**hashi_cfg, "ANSIBLE_HASHI_VAULT_SECRET_ID": vault.secret_id, "VAULT_ADDR": dead}
    case = {"name": "read", "term": "kucoin/alpha", "options": {}}
    outcome = run_cases([case], tmp_path, env=hashi_env)["read"]
    assert not outcome.failed, outcome.msg
    assert outcome.value["api_key"] == "key-alpha-4"

    # ansible_hashi_vault_* variables too; and where both name a value, ours wins.
    both = run_cases(
        [case],
        tmp_path,
        env={
            **hashi_cfg,
            "ANSIBLE_HASHI_VAULT_SECRET_ID": "not-the-secret-id",
            "TRADEBOT_VAULT_SECRET_ID": vault.secret_id,
        },
        extra_vars={"ansible_hashi_vault_url": dead, "tradebot_vault_url": bao.url, "ansible_hashi_vault_retries": 0},
    )["read"]
    assert not both.failed, both.msg
    hashi_vars = run_cases(
        [case],
        tmp_path,
        env={"ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg")},
        extra_vars={
            "ansible_hashi_vault_url": bao.url,
            "ansible_hashi_vault_auth_method": "approle",
            "ansible_hashi_vault_role_id": vault.role_id,
            "ansible_hashi_vault_secret_id": vault.secret_id,
        },
    )["read"]
    assert not hashi_vars.failed, hashi_vars.msg
