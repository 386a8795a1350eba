"""A seeded OpenBao for the lookup's integration tests, and a runner that batches lookup cases."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.ansible import LOCAL, PlaybookRun, run_playbook
from harness.openbao import JwtIssuer, OpenBao

PLAYBOOKS = Path(__file__).parent / "playbooks"
READ_POLICY = """
path "secret/data/kucoin/*" { capabilities = ["read"] }
path "kv1/kucoin/*" { capabilities = ["read"] }
path "secret/data/kucoin/forbidden" { capabilities = ["deny"] }
"""
LEAK_CANARY = "Zq-LEAKCANARY-" + "7f3a9c"  # split so a grep of this file is not a false positive


def strategy(n: int | str, **extra: Any) -> dict[str, Any]:
    return {
        "api_key": f"key-{n}",
        "api_secret": f"secret-{n}",
        "api_passphrase": f"pass-{n}",
        **extra,
    }


@dataclass
class SeededVault:
    bao: OpenBao
    role_id: str
    secret_id: str
    token: str
    jwt_issuer: JwtIssuer
    client_cert: Path
    client_key: Path
    k8s_token_file: Path
    agent_url: str
    userpass_password: str
    versions: dict[str, int] = field(default_factory=dict)

    def approle(self, **extra: Any) -> dict[str, Any]:
        return {
            "url": self.bao.url,
            "auth_method": "approle",
            "role_id": self.role_id,
            "secret_id": self.secret_id,
            **extra,
        }


@pytest.fixture(scope="session")
def seeded_vault(openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> SeededVault:
    bao = openbao
    bao.enable_kv("kv1", 1)
    versions = {}
    # kucoin/alpha: v1 normal, v2 deleted, v3 destroyed, v4 latest.
    for n in range(1, 5):
        versions[f"alpha-v{n}"] = bao.put_secret(
            "secret", "kucoin/alpha", strategy(f"alpha-{n}", key_version=n % 3 + 1)
        )
    root = bao.client()
    root.secrets.kv.v2.delete_secret_versions(path="kucoin/alpha", versions=[2], mount_point="secret")
    root.secrets.kv.v2.destroy_secret_versions(path="kucoin/alpha", versions=[3], mount_point="secret")
    bao.put_secret("secret", "kucoin/futures", strategy("fut", api="futures", key_version="3"))
    bao.put_secret("secret", "kucoin/renamed", {"k": "key-r", "s": "secret-r", "p": "pass-r", "v": 1})
    bao.put_secret("secret", "kucoin/partial", {"api_key": "key-p", "note": "no secret here"})
    bao.put_secret("secret", "kucoin/forbidden", strategy("forbidden"))
    bao.put_secret("kv1", "kucoin/beta", strategy("beta"), kv_version=1)
    bao.write_policy("kucoin-read", READ_POLICY)

    role_id, secret_id = bao.setup_approle("deployer", ["kucoin-read"], token_ttl="1h")
    userpass_password = "userpass-pw-" + secrets.token_hex(4)
    bao.setup_userpass("deployer", userpass_password, ["kucoin-read"])
    issuer = bao.setup_jwt("deployer", ["kucoin-read"])
    cert, key = bao.setup_cert("deployer", ["kucoin-read"])
    k8s_token = bao.setup_kubernetes("deployer", "kucoin-bot", "trading", ["kucoin-read"])
    token = root.auth.token.create(policies=["kucoin-read"], ttl="2h")["auth"]["client_token"]
    agent_url = bao.start_agent(role_id=role_id, secret_id=secret_id, workdir=tmp_path_factory.mktemp("agent"))
    return SeededVault(
        bao, role_id, secret_id, token, issuer, cert, key, k8s_token, agent_url, userpass_password, versions
    )


@dataclass
class Outcome:
    name: str
    failed: bool
    msg: str
    value: dict[str, Any] | None


def run_cases(
    cases: list[dict[str, Any]],
    tmp_path: Path,
    env: dict[str, str] | None = None,
    extra_vars: dict[str, Any] | None = None,
) -> dict[str, Outcome]:
    """Run every case's lookup in one ansible-playbook; map case name to its value or error line.

    `extra_vars` become Ansible variables of the play (for option sources such as tradebot_vault_*).
    """
    out_file = tmp_path / "outcomes.json"
    vars_file = tmp_path / "cases.json"
    vars_file.write_text(json.dumps({**(extra_vars or {}), "cases": cases, "out_file": str(out_file)}))
    vars_file.chmod(0o600)
    run_env = {"TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(tmp_path / "token-cache"), **(env or {})}
    result = run_playbook(
        PLAYBOOKS / "cases.yml", inventory="localhost,", args=[*LOCAL, "-e", f"@{vars_file}"], env=run_env
    )
    assert result.returncode == 0, str(result)
    outcomes = {}
    for case, raw in zip(cases, json.loads(out_file.read_text()), strict=True):
        outcomes[case["name"]] = Outcome(
            name=case["name"],
            failed=bool(raw.get("failed")),
            msg=str(raw.get("msg", "")),
            value=(raw.get("ansible_facts") or {}).get("got"),
        )
    return outcomes


def run(playbook: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> PlaybookRun:
    return run_playbook(PLAYBOOKS / playbook, inventory="localhost,", args=[*LOCAL, *args], env=env)
