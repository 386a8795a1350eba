"""50 hosts, one template each, approle auth: one Vault login for the whole run, none for a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.ansible import run_playbook, write_local_inventory

from .conftest import PLAYBOOKS, SeededVault, strategy

pytestmark = pytest.mark.vault

HOSTS = [f"bot-{n:02d}" for n in range(50)]
STRATEGIES = 3


def expected_env(n: int) -> str:
    return (
        f"KUCOIN_API_KEY=key-fleet-{n}\nKUCOIN_SECRET_KEY=secret-fleet-{n}\n"
        f"KUCOIN_PASSPHRASE=pass-fleet-{n}\nKUCOIN_API_KEY_VERSION=3\n"
    )


def test_fleet_logs_in_once(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    for n in range(STRATEGIES):
        bao.put_secret("secret", f"kucoin/fleet-{n}", strategy(f"fleet-{n}", key_version=3))
    inventory = write_local_inventory(tmp_path / "inventory.yml", HOSTS)
    out_dir = tmp_path / "rendered"
    out_dir.mkdir()
    extra = tmp_path / "fleet-vars.json"
    extra.write_text(
        json.dumps(
            {
                "out_dir": str(out_dir),
                # Hosts share three strategies, as bots on a real fleet do.
                "vault_path": f"kucoin/fleet-{{{{ groups['fleet'].index(inventory_hostname) % {STRATEGIES} }}}}",
                "vault_options": seeded_vault.approle(),
            }
        )
    )
    extra.chmod(0o600)
    # Pipelining: one interpreter per module instead of temp files, which halves the time of 100 tasks.
    env = {"TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(tmp_path / "token-cache"), "ANSIBLE_PIPELINING": "True"}

    def deploy() -> str:
        result = run_playbook(
            PLAYBOOKS / "fleet.yml", inventory=inventory, args=["-e", f"@{extra}", "--forks", "10"], env=env
        )
        assert result.returncode == 0, str(result)
        return result.stdout

    before = bao.count_logins("approle")
    deploy()
    assert bao.count_logins("approle") == before + 1

    rendered = sorted(out_dir.iterdir())
    assert [path.stem for path in rendered] == HOSTS
    for index, path in enumerate(rendered):
        assert path.read_text() == expected_env(index % STRATEGIES), path.name

    # The rerun reads every secret again (new process, so no memo) but with the cached token.
    reads = bao.count_requests("secret/data/kucoin/fleet-")
    recap = deploy()
    assert bao.count_logins("approle") == before + 1, "a rerun within the token's TTL logged in again"
    assert bao.count_requests("secret/data/kucoin/fleet-") > reads
    assert recap.count("changed=0") == len(HOSTS)  # same secrets, same files
