"""tradebot.kucoin.subaccount_api_key through ansible-playbook on localhost, against the KuCoin sandbox and a
real OpenBao: a master key with its own sub-account per test, and the strategy's secret on its own path."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import (
    HttpSettings,
    KucoinReply,
    call,
    make_client,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials
from harness.ansible import LOCAL, PlaybookRun, run_playbook
from harness.kucoin_sandbox import KucoinSandbox, SandboxKey, make_key
from harness.openbao import OpenBao

PLAYBOOK = Path(__file__).parent / "playbooks" / "module.yml"
DAY_MS = 86_400_000
MOUNT = "secret"
# What the module's token may do: read and write the strategies' secrets, nothing else.
ROTATOR_POLICY = """
path "secret/data/rotation/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/rotation/*" { capabilities = ["read", "update"] }
"""
# A token that may read but not write: the Vault write of a new key fails.
READER_POLICY = """
path "secret/data/rotation/*" { capabilities = ["read"] }
path "secret/metadata/rotation/*" { capabilities = ["read"] }
"""


@dataclass
class Run:
    playbook: PlaybookRun
    result: dict[str, Any]

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))

    def __str__(self) -> str:
        return f"{self.result}\n{self.playbook}"


@dataclass
class Rotation:
    """One test's world: a master key, its sub-account, the strategy's secret path and a token for it."""

    sandbox: KucoinSandbox
    bao: OpenBao
    master: SandboxKey
    sub_name: str
    path: str
    token: str
    reader_token: str
    tmp_path: Path
    runs: list[Run] = field(default_factory=list)

    def vault(self, **extra: Any) -> dict[str, Any]:
        return {"path": self.path, "url": self.bao.url, "token": self.token, **extra}

    def args(self, **extra: Any) -> dict[str, Any]:
        return {
            "sub_name": self.sub_name,
            "master": {
                "api_key": self.master.api_key,
                "api_secret": self.master.secret,
                "api_passphrase": self.master.passphrase,
            },
            "vault": self.vault(),
            "base_url": self.sandbox.spot_url,
            "timeout": 5,
            "ip_whitelist": ["127.0.0.1"],
            "max_age_days": 80,
            **extra,
        }

    def run(self, *extra_args: str, env: dict[str, str] | None = None, **args: Any) -> Run:
        n = len(self.runs)
        out_file = self.tmp_path / f"outcome-{n}.json"
        vars_file = self.tmp_path / f"vars-{n}.json"
        vars_file.write_text(json.dumps({"module_args": self.args(**args), "out_file": str(out_file)}))
        vars_file.chmod(0o600)
        temp = self.tmp_path / "tmp"
        temp.mkdir(exist_ok=True)
        run_env = {
            "TMPDIR": str(temp),
            "TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(self.tmp_path / "token-cache"),
            "ANSIBLE_LOCAL_TEMP": str(self.tmp_path / "ansible-local"),
            "ANSIBLE_LOG_PATH": str(self.tmp_path / "ansible.log"),
            **(env or {}),
        }
        played = run_playbook(
            PLAYBOOK, inventory="localhost,", args=[*LOCAL, "-e", f"@{vars_file}", *extra_args], env=run_env
        )
        assert played.returncode == 0, str(played)
        run = Run(played, json.loads(out_file.read_text()))
        self.runs.append(run)
        return run

    # --- looking at the outcome -----------------------------------------------------------------------------

    def vault_client(self) -> Any:
        return self.bao.client()

    def current(self) -> tuple[int, dict[str, Any]]:
        reply = self.vault_client().secrets.kv.v2.read_secret_version(
            path=self.path, mount_point=MOUNT, raise_on_deleted_version=True
        )
        return int(reply["data"]["metadata"]["version"]), dict(reply["data"]["data"])

    def custom_metadata(self) -> dict[str, str]:
        reply = self.vault_client().secrets.kv.v2.read_secret_metadata(path=self.path, mount_point=MOUNT)
        return dict(reply["data"].get("custom_metadata") or {})

    def sub_keys(self) -> set[str]:
        return {k for k, key in self.sandbox.keys.items() if key.sub_name == self.sub_name}

    def seed(self, age_days: float = 1, **fields: Any) -> SandboxKey:
        """A key of the sub-account, named by a first version of the secret."""
        key = make_key(sub_name=self.sub_name, master_account=self.master.master_account, ip_whitelist=("127.0.0.1",))
        self.sandbox.add_key(key)
        assert key.created_at_ms is not None
        key.created_at_ms -= int(age_days * DAY_MS)
        data = {"api_key": key.api_key, "api_secret": key.secret, "api_passphrase": key.passphrase, **fields}
        self.vault_client().secrets.kv.v2.create_or_update_secret(path=self.path, secret=data, mount_point=MOUNT)
        return key

    def signed_key_info(self, data: dict[str, Any]) -> KucoinReply:
        """GET /api/v1/user/api-key signed with the credentials in `data` (a version of the secret)."""
        credentials = Credentials(
            data["api_key"], data["api_secret"], data["api_passphrase"], int(data.get("key_version") or 3)
        )
        with make_client(HttpSettings(timeout=5)) as client:
            return call(client, "GET", self.sandbox.spot_url, "/api/v1/user/api-key", credentials=credentials)


@pytest.fixture(scope="module")
def rotator_tokens(openbao: OpenBao) -> tuple[str, str]:
    openbao.write_policy("rotator", ROTATOR_POLICY)
    openbao.write_policy("rotation-reader", READER_POLICY)
    root = openbao.client()
    make = root.auth.token.create
    return (
        make(policies=["rotator"], ttl="2h")["auth"]["client_token"],
        make(policies=["rotation-reader"], ttl="2h")["auth"]["client_token"],
    )


@pytest.fixture
def rotation(sandbox: KucoinSandbox, openbao: OpenBao, rotator_tokens: tuple[str, str], tmp_path: Path) -> Rotation:
    suffix = secrets.token_hex(4)
    master = sandbox.add_key(make_key(permissions=("General",), master_account=f"master-{suffix}"))
    sub_name = f"grid{suffix}"
    sandbox.add_sub_account(sub_name, master)
    return Rotation(sandbox, openbao, master, sub_name, f"rotation/{sub_name}", *rotator_tokens, tmp_path)
