"""One documented precedence for every option: kwargs > Ansible variables > environment > ansible.cfg."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.procs import REPO_ROOT

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
