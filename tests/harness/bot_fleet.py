"""A fleet of bot hosts with their strategies, OpenBao and the KuCoin sandbox, as the integration tests of
deploy_bot.yml and rotate_keys.yml use it: distinctive secrets, playbook runs with a fresh inventory each, and
what the running bots really have (their environment, read from the kernel).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shlex
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.ansible import PlaybookRun, run_playbook, start_playbook
from harness.demo import PLAYBOOK, DemoStrategy, bot_group_vars, seed_strategies, vault_env, write_bot_inventory
from harness.hosts import BotHostFleet
from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.ntp import NtpServer
from harness.openbao import OpenBao

WHITELIST = ("127.0.0.1",)


def marker(kind: str, header_safe: bool = False) -> str:
    """A distinctive secret: easy to grep for in output, and full of characters quoting can get wrong.

    A version-1 passphrase travels as an HTTP header as it is: ASCII only, no surrounding blanks."""
    if header_safe:
        return f"Zq{kind}-{secrets.token_hex(6)} \"$HOME\" 'x' \\n #u"
    return f"Zq{kind}-{secrets.token_hex(6)} \"$HOME\" 'x' \\n #ü "


def strategy(
    host: str,
    name: str,
    api: str = "spot",
    version: int = 2,
    created_days_ago: int = 0,
    master_account: str = "master",
    **extra: Any,
) -> DemoStrategy:
    """A strategy named it-<name> with a distinctive key; `extra` are more inventory fields. With a
    `sub_account` there, the key belongs to that sub-account of `master_account`."""
    permissions = ("General", "Futures") if api == "futures" else ("General", "Spot")
    key = make_key(
        permissions=permissions,
        ip_whitelist=WHITELIST,
        key_version=version,
        created_at_ms=int((time.time() - created_days_ago * 86400) * 1000),
        secret=marker("SECRET"),
        passphrase=marker("PASS", header_safe=version == 1),
        sub_name=extra.get("sub_account"),
        master_account=master_account,
    )
    return DemoStrategy(host, f"it-{name}", api=api, key=key, extra=extra)


@dataclass
class Fleet:
    hosts: BotHostFleet
    bao: OpenBao
    sandbox: KucoinSandbox
    ntp: NtpServer
    workdir: Path
    env: dict[str, str]
    strategies: list[DemoStrategy]
    secrets_seen: list[str] = field(default_factory=list)  # every secret value ever used: none may be printed
    runs: int = 0
    group_vars: dict[str, Any] = field(default_factory=dict)  # for every inventory, under the run's own

    def by_name(self, name: str) -> DemoStrategy:
        return next(s for s in self.strategies if s.name == name)

    def remember(self, *items: DemoStrategy) -> None:
        for item in items:
            self.secrets_seen += [item.key.secret, item.key.passphrase, item.key.api_key]

    def inventory(
        self,
        strategies: list[DemoStrategy] | None = None,
        host_vars: dict[str, Any] | None = None,
        **group_vars: Any,
    ) -> Path:
        self.runs += 1
        return write_bot_inventory(
            self.hosts,
            self.workdir / f"inventory-{self.runs}.yml",
            strategies if strategies is not None else self.strategies,
            bot_group_vars(self.sandbox, self.ntp, **{**self.group_vars, **group_vars}),
            host_vars,
        )

    def play(
        self,
        playbook: Path,
        *args: str,
        strategies: list[DemoStrategy] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 1800,
        **group_vars: Any,
    ) -> PlaybookRun:
        """`playbook` against the fleet with a fresh inventory; its output is kept in the working directory.
        The timeout is generous: a first deploy installs packages, which a loaded machine makes slow."""
        inventory = self.inventory(strategies, **group_vars)
        run = run_playbook(playbook, inventory=inventory, args=args, env={**self.env, **(env or {})}, timeout=timeout)
        (self.workdir / f"run-{self.runs}.log").write_text(f"{run.argv}\nrc={run.returncode}\n{run.output}")
        return run

    def deploy(self, *args: str, strategies: list[DemoStrategy] | None = None, **group_vars: Any) -> PlaybookRun:
        return self.play(PLAYBOOK, *args, strategies=strategies, **group_vars)

    def start_deploy(
        self, env: dict[str, str] | None = None, host_vars: dict[str, Any] | None = None, **group_vars: Any
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """deploy_bot.yml in the background; returns the process and its log."""
        inventory = self.inventory(host_vars=host_vars, **group_vars)
        log = self.workdir / f"run-{self.runs}.log"
        return start_playbook(PLAYBOOK, inventory=inventory, log=log, env={**self.env, **(env or {})}), log

    def rotate(self, *strategies: DemoStrategy) -> None:
        """A new key for each strategy, in the sandbox and in Vault."""
        for s in strategies:
            fresh = strategy(s.host, "rotated", api=s.api, version=s.key.key_version)
            self.sandbox.add_key(fresh.key)
            self.remember(fresh)
            s.key = fresh.key
            self.bao.put_secret("secret", s.vault_path, s.vault_fields())

    def running_key(self, s: DemoStrategy) -> tuple[str, str]:
        """(API key, secret) the running bot has: from its environment, the secret in credentials mode from
        the copy systemd handed it."""
        environ = self.service_environ(s)
        if s.extra.get("secret_delivery") == "credentials":
            secret = self.sh(s.host, f"cat /run/credentials/kucoin-bot@{s.name}.service/KUCOIN_SECRET_KEY")
            return environ["KUCOIN_API_KEY"], secret
        return environ["KUCOIN_API_KEY"], environ["KUCOIN_SECRET_KEY"]

    def key_on_disk(self, s: DemoStrategy) -> tuple[bool, bool]:
        """Whether the strategy's current API key and secret are in its files on its host."""
        files = f"/etc/kucoin-bot/{s.name}.env"
        if s.extra.get("secret_delivery") == "credentials":
            files += f" /etc/kucoin-bot/credentials/{s.name}/KUCOIN_SECRET_KEY"
        text = self.sh(s.host, f"cat {files}")
        return s.key.api_key in text, s.key.secret.split(" ")[0] in text

    def sh(self, host: str, command: str) -> str:
        return self.hosts.run(host, command).stdout

    def main_pid(self, s: DemoStrategy) -> int:
        return int(self.sh(s.host, f"systemctl show -p MainPID --value kucoin-bot@{s.name}.service").strip())

    def pids(self) -> dict[str, int]:
        return {s.name: self.main_pid(s) for s in self.strategies}

    def service_environ(self, s: DemoStrategy) -> dict[str, str]:
        """The environment of the running bot, read from the kernel: /proc/<MainPID>/environ."""
        pid = self.main_pid(s)
        assert pid > 0, f"kucoin-bot@{s.name} is not running"
        raw = base64.b64decode(self.sh(s.host, f"base64 -w0 /proc/{pid}/environ"))
        entries = [entry for entry in raw.decode("utf-8").split("\0") if entry]
        return dict(entry.split("=", 1) for entry in entries)

    def file_digest(self, host: str, path: str) -> str:
        return self.sh(host, f"stat -c '%i %Y' {path}; sha256sum {path}")


def assert_no_secret(run: PlaybookRun, fleet: Fleet) -> None:
    output = run.output
    for value in [*fleet.secrets_seen, fleet.env["VAULT_TOKEN"]]:
        for probe in (value, value.strip(), value.split(" ")[0]):
            assert probe not in output, f"a secret ({probe[:6]}...) appears in the ansible-playbook output"


@contextlib.contextmanager
def started_fleet(
    bao: OpenBao,
    sandbox: KucoinSandbox,
    ntp: NtpServer,
    workdir: Path,
    hosts: Sequence[str],
    strategies: list[DemoStrategy],
) -> Iterator[Fleet]:
    """Boot `hosts`, put the strategies' keys in the sandbox and their secrets in OpenBao (with a read-only
    token in the fleet's environment); afterwards stop the hosts and take the keys out of the sandbox."""
    for s in strategies:
        sandbox.add_key(s.key)
    token = seed_strategies(bao, strategies)
    state: Fleet | None = None
    try:
        with BotHostFleet(workdir / "hosts", list(hosts)) as booted:
            state = Fleet(booted, bao, sandbox, ntp, workdir, {}, strategies)
            state.env = vault_env(bao, token, workdir / "vault-cache")
            state.remember(*strategies)
            yield state
    finally:
        for s in state.strategies if state else strategies:
            sandbox.remove_key(s.key.api_key)


def files_holding(values: Iterable[str], roots: Iterable[Path], since: float, max_bytes: int = 20 << 20) -> list[str]:
    """Files under `roots` changed since `since` (a time.time()) that hold any of `values`: "path: value[:6]"."""
    needles = [v.encode() for v in values if v]
    found = []
    paths: list[Path] = []
    for root in roots:
        if root.is_file():
            paths.append(root)
        # os.walk skips directories that vanish while it reads (other programs' temporary files).
        for directory, _dirs, names in os.walk(root):
            paths += [Path(directory) / name for name in names]
    for path in paths:
        try:
            if not path.is_file() or path.is_symlink():
                continue
            info = path.stat()
            if info.st_mtime < since or info.st_size > max_bytes:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        found += [f"{path}: {n[:6].decode(errors='replace')}..." for n in needles if n in data]
    return found


def host_files_holding(fleet: BotHostFleet, host: str, values: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """Files on a host (every file system but /proc and /sys, the journal's files too) holding any of
    `values`, except under the `allowed` path prefixes (without the leading /)."""
    probes = [v for v in values if v]
    if not probes:
        return []
    patterns = " ".join(f"-e {shlex.quote(p)}" for p in probes)
    found = fleet.run(
        host, f"cd / && grep -rlsaF --devices=skip {patterns} -- $(ls -A / | grep -vxE 'proc|sys') | sort -u; true"
    ).stdout
    return [f"/{line}" for line in found.splitlines() if line and not any(line.startswith(a) for a in allowed)]


def journal_holding(fleet: BotHostFleet, host: str, values: Iterable[str]) -> list[str]:
    """Values (their first 6 characters) found in the host's whole journal, as journalctl shows it."""
    text = fleet.run(host, "journalctl --no-pager -q -o verbose; true").stdout
    return [f"{v[:6]}..." for v in values if v and v in text]
