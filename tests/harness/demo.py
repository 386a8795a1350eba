"""`make demo`: deploy three KuCoin bots with deploy_bot.yml, entirely on this machine, then tear it all down.

Starts OpenBao seeded with three strategies' credentials (and a master key), the KuCoin sandbox holding the same
keys, a local NTP server and three systemd-nspawn bot hosts; runs `ansible-playbook playbooks/deploy_bot.yml`
(the collection's tradebot.kucoin.deploy_bot); shows each bot's log line (a signed call to the sandbox that
succeeded); runs the playbook again to show that nothing changes; and ends by rotating grid-btc's key with
playbooks/rotate_keys.yml, showing its summary line and the bot's log line on the new key.

The pieces are also used by the bot_host integration tests (`DemoStrategy`, `seed_strategies`,
`write_bot_inventory`, `bot_log`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.ansible import PlaybookRun, run_playbook
from harness.hosts import BotHostFleet, HostsUnavailable
from harness.kucoin_sandbox import KucoinSandbox, SandboxKey, make_key
from harness.ntp import NtpServer
from harness.openbao import OpenBao
from harness.procs import OUTPUT_DIR, REPO_ROOT, wait_for

PLAYBOOK = REPO_ROOT / "playbooks" / "deploy_bot.yml"
# The example bot ships in the role's files/ (with a link to the collection's one signing module, installed
# beside it), so the inventory names it with a relative src that works from a checkout and an installed copy.
BOT_PROGRAM = "kucoin_bot.py"
BOT_PROGRAM_DEST = "/opt/kucoin-bot/kucoin_bot.py"
BOT_SIGNING = "kucoin_signing.py"
BOT_SIGNING_DEST = "/opt/kucoin-bot/kucoin_signing.py"
READ_POLICY = 'path "secret/data/kucoin/*" { capabilities = ["read"] }\n'
ROTATE_PLAYBOOK = REPO_ROOT / "playbooks" / "rotate_keys.yml"
# The master key's path: outside what READ_POLICY (the deploy token) may read.
MASTER_PATH = "kucoin-master/main"
# The rotation token (README's rotation policy): the strategies' secrets read and written, their metadata, and
# the master key read.
ROTATE_POLICY = """\
path "secret/data/kucoin/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/kucoin/*" { capabilities = ["read", "update"] }
path "secret/data/kucoin-master/*" { capabilities = ["read"] }
"""


@dataclass
class DemoStrategy:
    host: str
    name: str
    api: str = "spot"
    key: SandboxKey = field(default_factory=make_key)
    extra: dict[str, Any] = field(default_factory=dict)  # more bot_host_strategies fields

    @property
    def vault_path(self) -> str:
        return f"kucoin/{self.name}"

    def vault_fields(self) -> dict[str, Any]:
        return {
            "api_key": self.key.api_key,
            "api_secret": self.key.secret,
            "api_passphrase": self.key.passphrase,
            "key_version": self.key.key_version,
            "api": self.api,
        }

    def inventory_entry(self) -> dict[str, Any]:
        return {"name": self.name, "vault_path": self.vault_path, "api": self.api, **self.extra}


DEMO_SUB_ACCOUNT = "gridbtc01"


def demo_strategies() -> list[DemoStrategy]:
    """Three bots, one per host: two spot and one futures, with three different key versions. grid-btc's key
    belongs to a KuCoin sub-account, so the demo can rotate it."""
    whitelist = ("127.0.0.1",)
    return [
        DemoStrategy(
            "bot1",
            "grid-btc",
            key=make_key(permissions=("General", "Spot"), ip_whitelist=whitelist, sub_name=DEMO_SUB_ACCOUNT),
            extra={"sub_account": DEMO_SUB_ACCOUNT},
        ),
        DemoStrategy(
            "bot2", "dca-eth", key=make_key(permissions=("General", "Spot"), ip_whitelist=whitelist, key_version=3)
        ),
        DemoStrategy(
            "bot3",
            "basis-xbt",
            api="futures",
            key=make_key(permissions=("General", "Futures"), ip_whitelist=whitelist, key_version=1),
        ),
    ]


def seed_strategies(bao: OpenBao, strategies: Iterable[DemoStrategy]) -> str:
    """Write every strategy's credentials to KV v2 at secret/; return a token that can only read them."""
    bao.enable_kv("secret", 2)
    for strategy in strategies:
        bao.put_secret("secret", strategy.vault_path, strategy.vault_fields())
    bao.write_policy("kucoin-deploy", READ_POLICY)
    reply = bao.client().auth.token.create(policies=["kucoin-deploy"], ttl="4h")
    return str(reply["auth"]["client_token"])


def seed_master(bao: OpenBao, master: SandboxKey, policy: str = ROTATE_POLICY, name: str = "kucoin-rotate") -> str:
    """Write the master key at MASTER_PATH; return a token with `policy` (by default the rotation policy)."""
    bao.enable_kv("secret", 2)
    bao.put_secret(
        "secret",
        MASTER_PATH,
        {
            "api_key": master.api_key,
            "api_secret": master.secret,
            "api_passphrase": master.passphrase,
            "key_version": master.key_version,
        },
    )
    bao.write_policy(name, policy)
    reply = bao.client().auth.token.create(policies=[name], ttl="4h")
    return str(reply["auth"]["client_token"])


def bot_group_vars(sandbox: KucoinSandbox, ntp: NtpServer, **overrides: Any) -> dict[str, Any]:
    """What points the role at the local sandbox and NTP server and installs the example bot."""
    return {
        "bot_host_kucoin_base_url": sandbox.spot_url,
        "bot_host_kucoin_futures_base_url": sandbox.futures_url,
        # Polls every 1-4 s instead of every 64-1024 s, so the demo's hosts sync within seconds.
        "bot_host_ntp_servers": [{"host": ntp.host, "port": ntp.port, "minpoll": 0, "maxpoll": 2}],
        "bot_host_ntp_pools": [],
        "bot_host_program_files": [
            {"src": BOT_PROGRAM, "dest": BOT_PROGRAM_DEST, "mode": "0644"},
            {"src": BOT_SIGNING, "dest": BOT_SIGNING_DEST, "mode": "0644"},
        ],
        "bot_host_default_exec_start": f"/usr/bin/python3 {BOT_PROGRAM_DEST}",
        **overrides,
    }


def write_bot_inventory(
    fleet: BotHostFleet,
    path: Path,
    strategies: Sequence[DemoStrategy],
    group_vars: Mapping[str, Any],
    host_vars: Mapping[str, Any] | None = None,
) -> Path:
    """host_vars go to every host (where connection settings such as ansible_pipelining live)."""
    hostvars: dict[str, dict[str, Any]] = {
        host.name: {**(host_vars or {}), "bot_host_strategies": []} for host in fleet.hosts
    }
    for strategy in strategies:
        hostvars[strategy.host]["bot_host_strategies"].append(strategy.inventory_entry())
    return fleet.write_inventory(path, hostvars=hostvars, group_vars=group_vars)


def vault_env(bao: OpenBao, token: str, cache_dir: Path) -> dict[str, str]:
    """How the playbook's lookup finds Vault: the standard variables, plus a token cache of this run's own."""
    return {"VAULT_ADDR": bao.url, "VAULT_TOKEN": token, "TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(cache_dir)}


def bot_log(fleet: BotHostFleet, host: str, strategy: str) -> list[str]:
    result = fleet.run(host, f"journalctl -q -o cat --no-pager -u kucoin-bot@{strategy}.service", check=False)
    return [line for line in result.stdout.splitlines() if line.startswith(f"{strategy}: ")]


def wait_for_bot_line(fleet: BotHostFleet, host: str, strategy: str, timeout: float = 60) -> str:
    return wait_for(
        lambda: next(iter(bot_log(fleet, host, strategy)[-1:]), ""),
        timeout=timeout,
        what=f"kucoin-bot@{strategy} log line on {host}",
    )


RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def recap(run: PlaybookRun) -> dict[str, dict[str, int]]:
    """PLAY RECAP counts per host."""
    return {
        m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
        for m in RECAP.finditer(run.stdout)
    }


def summary_block(run: PlaybookRun) -> str:
    """The lines of the playbook's final summary task."""
    match = re.search(r"TASK \[Show the summary\].*?\n(.*?)\n\n(?:TASK \[|PLAY RECAP)", run.stdout, re.S)
    if not match:
        return "(no summary in the output)"
    text = match[1]
    start = text.find("{")
    try:
        return "\n".join(json.loads(text[start:])["msg"])
    except (ValueError, KeyError):
        return text


def _say(text: str = "") -> None:
    print(text, flush=True)


def _deploy_twice(
    fleet: BotHostFleet,
    strategies: Sequence[DemoStrategy],
    inventory: Path,
    env: dict[str, str],
    workdir: Path,
    url: str,
) -> bool:
    _say(f"\n== ansible-playbook -i {inventory} playbooks/deploy_bot.yml   (VAULT_ADDR={url}, a read-only token)")
    first = run_playbook(PLAYBOOK, inventory=inventory, env=env)
    (workdir / "deploy-1.log").write_text(first.output)
    _say(summary_block(first))
    if first.returncode != 0:
        _say(
            f"\ndeploy failed (exit {first.returncode}); output in {workdir / 'deploy-1.log'}:\n{first.output[-4000:]}"
        )
        return False
    _say("\n== each bot's log line (journalctl -u kucoin-bot@<strategy> on its host)")
    ok = True
    for strategy in strategies:
        line = wait_for_bot_line(fleet, strategy.host, strategy.name)
        ok &= "succeeded" in line
        _say(f"   {strategy.host}: {line}")
    _say("\n== the same playbook again: nothing changes")
    second = run_playbook(PLAYBOOK, inventory=inventory, env=env)
    (workdir / "deploy-2.log").write_text(second.output)
    counts = recap(second)
    for host, numbers in counts.items():
        _say(f"   {host}: ok={numbers['ok']} changed={numbers['changed']} failed={numbers['failed']}")
    return ok and second.returncode == 0 and bool(counts) and all(n["changed"] == 0 for n in counts.values())


def _rotate_one(
    fleet: BotHostFleet, strategy: DemoStrategy, inventory: Path, env: dict[str, str], workdir: Path
) -> bool:
    _say(
        f"\n== ansible-playbook -i {inventory} playbooks/rotate_keys.yml -e rotate_strategies={strategy.name}"
        f"   (a rotation token; the master key at {MASTER_PATH})"
    )
    lines_before = len(bot_log(fleet, strategy.host, strategy.name))
    run = run_playbook(
        ROTATE_PLAYBOOK,
        inventory=inventory,
        args=["-e", f"rotate_master_vault_path={MASTER_PATH}", "-e", f"rotate_strategies={strategy.name}"],
        env=env,
    )
    (workdir / "rotate.log").write_text(run.output)
    line = next((x for x in summary_block(run).splitlines() if x.strip().startswith(f"{strategy.name} (")), "")
    _say(line or summary_block(run))
    if run.returncode != 0:
        _say(f"\nrotation failed (exit {run.returncode}); output in {workdir / 'rotate.log'}:\n{run.output[-4000:]}")
        return False
    bot_line = wait_for(
        lambda: next(iter(bot_log(fleet, strategy.host, strategy.name)[lines_before:]), ""),
        timeout=60,
        what=f"kucoin-bot@{strategy.name}'s log line on its new key",
    )
    _say(f"   {strategy.host}: {bot_line}")
    return "rotated;" in line and "succeeded" in bot_line


def run_demo(workdir: Path, keep: bool = False) -> int:
    strategies = demo_strategies()
    with contextlib.ExitStack() as stack:
        _say("== starting OpenBao, the KuCoin sandbox, an NTP server and three bot hosts")
        bao = stack.enter_context(OpenBao(workdir / "openbao"))
        token = seed_strategies(bao, strategies)
        master = make_key(permissions=("General",))
        rotate_token = seed_master(bao, master)
        _say(f"   OpenBao {bao.url}: {', '.join('secret/' + s.vault_path for s in strategies)}, secret/{MASTER_PATH}")
        sandbox = stack.enter_context(KucoinSandbox([*(s.key for s in strategies), master]))
        sandbox.add_sub_account(DEMO_SUB_ACCOUNT, master)
        _say(
            f"   sandbox spot {sandbox.spot_url}, futures {sandbox.futures_url}: the same three keys, and a master key"
            f" whose sub-account {DEMO_SUB_ACCOUNT} holds grid-btc's"
        )
        ntp = stack.enter_context(NtpServer(workdir / "ntp"))
        _say(f"   NTP server 127.0.0.1:{ntp.port} (chronyd, local stratum 8)")
        fleet = stack.enter_context(BotHostFleet(workdir / "hosts", [s.host for s in strategies]))
        _say(f"   hosts {', '.join(f'{h.name} (ssh port {h.ssh_port})' for h in fleet.hosts)}")
        group_vars = bot_group_vars(sandbox, ntp, rotate_ip_whitelist=["127.0.0.1"])
        inventory = write_bot_inventory(fleet, workdir / "inventory.yml", strategies, group_vars)
        env = vault_env(bao, token, workdir / "vault-cache")
        try:
            ok = _deploy_twice(fleet, strategies, inventory, env, workdir, bao.url)
            ok = ok and _rotate_one(fleet, strategies[0], inventory, {**env, "VAULT_TOKEN": rotate_token}, workdir)
        finally:
            if keep:
                _say(f"\ninventory {inventory}; env {json.dumps(env)}\nCtrl-C tears everything down")
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
        _say("\n== tearing down (hosts, NTP server, sandbox, OpenBao)")
    done = "succeeded: three bots authenticated with their own keys, one again after its rotation"
    _say("demo " + (done if ok else "FAILED"))
    return 0 if ok else 1


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, help="where logs, inventory and keys go")
    parser.add_argument("--keep", action="store_true", help="keep everything running until Ctrl-C")
    options = parser.parse_args(argv)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="demo-", dir=OUTPUT_DIR))
    signal.signal(signal.SIGTERM, _interrupt)  # so a kill tears down like Ctrl-C does
    try:
        return run_demo(workdir, keep=options.keep)
    except HostsUnavailable as exc:
        print(f"the demo cannot boot its hosts here: {exc}", file=sys.stderr)
        return 1
