"""deploy_bot.yml at fleet scale on two real hosts: per-strategy fail-closed, the summary and its JSON report when
every host fails, --tags time without Vault, state: stopped, and a per-strategy pinned Vault version.

One small fleet serves the module; the tests run in order, each a step of its life (five ansible-playbook runs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.ansible import PlaybookRun, run_playbook
from harness.demo import (
    PLAYBOOK,
    DemoStrategy,
    bot_group_vars,
    recap,
    seed_strategies,
    summary_block,
    vault_env,
    write_bot_inventory,
)
from harness.hosts import BotHostFleet
from harness.hosts_fixtures import require_hosts
from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.ntp import NtpServer
from harness.openbao import OpenBao

pytestmark = [pytest.mark.hosts, pytest.mark.vault, pytest.mark.sandbox]

WHITELIST = ("127.0.0.1",)


def spot_key(passphrase: str | None = None) -> Any:
    extra = {"passphrase": passphrase} if passphrase else {}
    return make_key(permissions=("General", "Spot"), ip_whitelist=WHITELIST, **extra)


def masked(api_key: str) -> str:
    return f"{api_key[:4]}…{api_key[-2:]}"


@dataclass
class Ops:
    hosts: BotHostFleet
    bao: OpenBao
    sandbox: KucoinSandbox
    ntp: NtpServer
    workdir: Path
    env: dict[str, str]
    strategies: list[DemoStrategy]
    runs: int = 0

    def by_name(self, name: str) -> DemoStrategy:
        return next(s for s in self.strategies if s.name == name)

    def deploy(self, *args: str, env: dict[str, str] | None = None, **group_vars: Any) -> PlaybookRun:
        self.runs += 1
        inventory = write_bot_inventory(
            self.hosts,
            self.workdir / f"inventory-{self.runs}.yml",
            self.strategies,
            bot_group_vars(self.sandbox, self.ntp, **group_vars),
        )
        run = run_playbook(PLAYBOOK, inventory=inventory, args=args, env=self.env if env is None else env)
        (self.workdir / f"run-{self.runs}.log").write_text(f"{run.argv}\nrc={run.returncode}\n{run.output}")
        return run

    def sh(self, host: str, command: str) -> str:
        return self.hosts.run(host, command).stdout

    def main_pid(self, s: DemoStrategy) -> int:
        return int(self.sh(s.host, f"systemctl show -p MainPID --value kucoin-bot@{s.name}.service").strip())

    def env_key(self, s: DemoStrategy) -> str:
        return self.sh(s.host, f"sed -n 's/^KUCOIN_API_KEY=\"\\(.*\\)\"$/\\1/p' /etc/kucoin-bot/{s.name}.env").strip()

    def file_digest(self, s: DemoStrategy) -> str:
        return self.sh(s.host, f"stat -c '%i %Y' /etc/kucoin-bot/{s.name}.env; sha256sum /etc/kucoin-bot/{s.name}.env")


@pytest.fixture(scope="module")
def ops(
    openbao: OpenBao,
    kucoin_sandbox: KucoinSandbox,
    ntp_server: NtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Ops]:
    require_hosts()
    workdir = tmp_path_factory.mktemp("bot-ops")
    strategies = [
        DemoStrategy("ops1", "op-alpha", key=spot_key()),
        DemoStrategy("ops1", "op-beta", key=spot_key()),
        DemoStrategy("ops2", "op-gamma", key=spot_key()),
    ]
    for s in strategies:
        kucoin_sandbox.add_key(s.key)
    token = seed_strategies(openbao, strategies)
    with BotHostFleet(workdir / "hosts", ["ops1", "ops2"]) as hosts:
        state = Ops(hosts, openbao, kucoin_sandbox, ntp_server, workdir, {}, strategies)
        state.env = vault_env(openbao, token, workdir / "vault-cache")
        run = state.deploy()
        assert run.returncode == 0, str(run)
        yield state
    for s in state.strategies:
        kucoin_sandbox.remove_key(s.key.api_key)


def test_a_bad_key_holds_back_only_its_strategy_and_both_are_reported(ops: Ops) -> None:
    alpha, beta = ops.by_name("op-alpha"), ops.by_name("op-beta")
    # alpha's passphrase in Vault goes wrong; beta gets an urgent new key on the same host.
    ops.bao.put_secret("secret", alpha.vault_path, {**alpha.vault_fields(), "api_passphrase": "Zq-wrong-pass-1"})
    old_beta = beta.key.api_key
    beta.key = spot_key()
    ops.sandbox.add_key(beta.key)
    ops.bao.put_secret("secret", beta.vault_path, beta.vault_fields())
    alpha_before, alpha_pid = ops.file_digest(alpha), ops.main_pid(alpha)
    beta_pid = ops.main_pid(beta)
    report = ops.workdir / "report-bad-key.json"

    run = ops.deploy("-e", f"deploy_report_path={report}")

    assert run.returncode != 0
    counts = recap(run)
    assert counts["ops1"]["failed"] == 1
    assert counts["ops2"]["failed"] == 0
    # alpha untouched, beta updated and restarted with its new key.
    assert ops.file_digest(alpha) == alpha_before
    assert ops.main_pid(alpha) == alpha_pid
    assert ops.env_key(beta) == beta.key.api_key
    assert ops.main_pid(beta) not in (0, beta_pid)
    summary = summary_block(run)
    assert re.search(r"ops1: FAILED - op-alpha: key check: .*passphrase", summary), summary
    assert "op-alpha left as it was (no file written, bot not restarted)" in summary
    assert "updated op-beta (changed: environment file, restarted)" in summary
    assert f"key changed {masked(old_beta)} -> {masked(beta.key.api_key)}" in summary
    assert re.search(r"op-beta \(spot, secrets in environment\): key valid .*Vault secret/kucoin/op-beta v2", summary)
    data = json.loads(report.read_text())
    assert data["ok"] is False
    assert data["hosts"]["ops1"]["status"] == "failed"
    assert data["hosts"]["ops1"]["strategies"]["op-alpha"]["outcome"] == "failed"
    assert "passphrase" in data["hosts"]["ops1"]["strategies"]["op-alpha"]["reason"]
    assert data["hosts"]["ops1"]["strategies"]["op-beta"]["outcome"] == "changed"
    assert data["hosts"]["ops2"]["status"] == "ok"
    for secret in (beta.key.api_key, old_beta, beta.key.secret, beta.key.passphrase, "Zq-wrong-pass-1"):
        assert secret not in run.output
        assert secret not in report.read_text()


def test_every_host_of_a_run_failing_still_gives_a_summary_and_a_json_report(ops: Ops) -> None:
    # Serial 1: ops1 (still with alpha's bad passphrase) is the whole first batch and fails, so ops2 is left
    # alone, as Ansible's serial would; the summary and the report still come.
    report = ops.workdir / "report-serial.json"
    gamma = ops.by_name("op-gamma")
    gamma_pid = ops.main_pid(gamma)
    run = ops.deploy("-e", "deploy_serial=1", "-e", f"deploy_report_path={report}")
    assert run.returncode != 0
    summary = summary_block(run)
    assert re.search(r"ops1: FAILED - op-alpha: key check: .*passphrase", summary), summary
    assert "ops2: not deployed - every host of an earlier batch failed (ops1), so the rollout stopped" in summary
    assert ops.main_pid(gamma) == gamma_pid
    data = json.loads(report.read_text())
    assert data["hosts"]["ops1"]["status"] == "failed"
    assert data["hosts"]["ops2"]["status"] == "not attempted"
    # -l one host: that host is every host of the run.
    limited = ops.workdir / "report-limit.json"
    run = ops.deploy("-l", "ops1", "-e", f"deploy_report_path={limited}", "--check")
    assert run.returncode != 0
    assert "ops1: FAILED - op-alpha" in summary_block(run)
    assert json.loads(limited.read_text())["check_mode"] is True


def test_tags_time_needs_no_vault(ops: Ops) -> None:
    run = ops.deploy("--tags", "time", env={})  # no VAULT_ADDR, no VAULT_TOKEN
    assert run.returncode == 0, str(run)
    assert "Read every strategy's credentials" not in run.stdout
    assert "key not checked (the credentials tag was not selected" in summary_block(run)


def test_stopped_bot_keeps_its_files_and_a_pinned_vault_version_rolls_one_bot_back(ops: Ops) -> None:
    alpha, beta, gamma = ops.by_name("op-alpha"), ops.by_name("op-beta"), ops.by_name("op-gamma")
    ops.bao.put_secret("secret", alpha.vault_path, alpha.vault_fields())  # alpha's key is good again
    gamma.extra["state"] = "stopped"
    gamma_files = ops.sh("ops2", f"sha256sum /etc/kucoin-bot/{gamma.name}.env")
    # beta's secret has versions 1 (its first key) and 2 (the new key): pin version 1.
    beta.extra["vault"] = {"version": 1}
    run = ops.deploy()
    assert run.returncode == 0, str(run)
    state = ops.sh("ops2", f"systemctl is-active kucoin-bot@{gamma.name}.service; true").strip()
    enabled = ops.sh("ops2", f"systemctl is-enabled kucoin-bot@{gamma.name}.service; true").strip()
    assert (state, enabled) == ("inactive", "disabled")
    assert ops.sh("ops2", f"sha256sum /etc/kucoin-bot/{gamma.name}.env") == gamma_files
    summary = summary_block(run)
    assert f"{gamma.name}: stopped and disabled, files kept" in summary
    assert "Vault secret/kucoin/op-beta v1" in summary
    first_beta_key = ops.bao.client().secrets.kv.v2.read_secret_version(
        path=beta.vault_path, version=1, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]["api_key"]
    assert ops.env_key(beta) == first_beta_key != beta.key.api_key
