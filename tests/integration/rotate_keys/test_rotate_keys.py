"""rotate_keys.yml against real hosts: two systemd-nspawn hosts over SSH, real OpenBao, the KuCoin sandbox over
HTTP (with its sub-account API-key endpoints) and a real chronyd NTP server.

One fleet serves the module (deployed once with deploy_bot.yml) and the tests run in order, each a step of its
life: a dry run, a due key rotated end to end (with a scan for secrets in the -vvvv output, the controller's
files and the hosts' journals and disks), a run with nothing due, and one run per failure point - the create,
the Vault write, the key check from the host, the restart and the deletion of the old key - each showing the
state it leaves: the bot on a working key, Vault's current version naming that key, and no key of the run left
at KuCoin unless the summary names it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.ansible import PlaybookRun
from harness.bot_fleet import (
    Fleet,
    assert_no_secret,
    files_holding,
    host_files_holding,
    journal_holding,
    started_fleet,
    strategy,
)
from harness.demo import MASTER_PATH, ROTATE_PLAYBOOK, DemoStrategy, recap, seed_master, summary_block
from harness.hosts_fixtures import require_hosts
from harness.kucoin_sandbox import KucoinSandbox, SandboxKey, make_key
from harness.ntp import NtpServer
from harness.openbao import OpenBao
from harness.procs import wait_for

pytestmark = [pytest.mark.hosts, pytest.mark.vault, pytest.mark.sandbox]

HOSTS = ("rot1", "rot2")
MASTER_ACCOUNT = "it-rotate-master"
GRID, FRESH, DCA, PLAIN = "it-rot-grid", "it-rot-fresh", "it-rot-dca", "it-plain"
# Vault's answer for a strategy's secret: (version, data) of its current version.
Current = tuple[int, dict[str, Any]]


class Rotation:
    """The module's fleet, its master key and the rotation token."""

    def __init__(self, fleet: Fleet, master: SandboxKey, token: str) -> None:
        self.fleet = fleet
        self.master = master
        self.token = token
        self.fleet.secrets_seen += [master.secret, master.passphrase, master.api_key, token]

    @property
    def sandbox(self) -> KucoinSandbox:
        return self.fleet.sandbox

    def by_name(self, name: str) -> DemoStrategy:
        return self.fleet.by_name(name)

    def run(self, *args: str, token: str | None = None, **group_vars: Any) -> PlaybookRun:
        return self.fleet.play(
            ROTATE_PLAYBOOK,
            "-e",
            f"rotate_master_vault_path={MASTER_PATH}",
            *args,
            env={"VAULT_TOKEN": token or self.token},
            **group_vars,
        )

    def current(self, s: DemoStrategy) -> Current:
        reply = self.fleet.bao.client().secrets.kv.v2.read_secret_version(
            path=s.vault_path, mount_point="secret", raise_on_deleted_version=True
        )
        return int(reply["data"]["metadata"]["version"]), dict(reply["data"]["data"])

    def metadata(self, s: DemoStrategy) -> dict[str, str]:
        reply = self.fleet.bao.client().secrets.kv.v2.read_secret_metadata(path=s.vault_path, mount_point="secret")
        return dict(reply["data"].get("custom_metadata") or {})

    def sub_keys(self, s: DemoStrategy) -> set[str]:
        """The API keys the sandbox holds for the strategy's sub-account."""
        sub = s.extra["sub_account"]
        return {key for key, found in self.sandbox.keys.items() if found.sub_name == sub}

    def snapshot(self, s: DemoStrategy) -> tuple[set[str], Current, int, tuple[str, str]]:
        """Everything a failed rotation must leave as it was: keys at KuCoin, Vault, the bot and its key."""
        return self.sub_keys(s), self.current(s), self.fleet.main_pid(s), self.fleet.running_key(s)

    def learn_new_keys(self, s: DemoStrategy, before: set[str]) -> list[SandboxKey]:
        """Keys the run made for the strategy's sub-account (still at the sandbox); their secrets join the
        values no output may show."""
        made = [self.sandbox.keys[key] for key in self.sub_keys(s) - before]
        for key in made:
            self.fleet.secrets_seen += [key.secret, key.passphrase, key.api_key]
        return made


def line_of(run: PlaybookRun, name: str) -> str:
    summary = summary_block(run)
    return next((line for line in summary.splitlines() if line.strip().startswith(f"{name} (")), summary)


@pytest.fixture(scope="module")
def rotation(
    openbao: OpenBao,
    kucoin_sandbox: KucoinSandbox,
    ntp_server: NtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rotation]:
    require_hosts()
    master = kucoin_sandbox.add_key(make_key(permissions=("General",), master_account=MASTER_ACCOUNT))
    own = {"master_account": MASTER_ACCOUNT}
    strategies = [
        strategy("rot1", "rot-grid", created_days_ago=95, sub_account="itgrid001", **own),
        strategy("rot1", "rot-fresh", version=3, created_days_ago=5, sub_account="itfresh01", **own),
        strategy(
            "rot2",
            "rot-dca",
            version=3,
            created_days_ago=10,
            sub_account="itdca0001",
            **own,
            secret_delivery="credentials",
        ),
        strategy("rot2", "plain", created_days_ago=200),
    ]
    for s in strategies:
        if "sub_account" in s.extra:
            kucoin_sandbox.add_sub_account(s.extra["sub_account"], master)
    token = seed_master(openbao, master)
    workdir = tmp_path_factory.mktemp("rotate-keys")
    group_vars = {"rotate_ip_whitelist": ["127.0.0.1"], "rotate_settle_seconds": 2}
    try:
        with started_fleet(openbao, kucoin_sandbox, ntp_server, workdir, HOSTS, strategies) as fleet:
            fleet.group_vars.update(group_vars)
            # Ansible's own log file too: one more controller file the secret scan covers.
            fleet.env["ANSIBLE_LOG_PATH"] = str(workdir / "ansible.log")
            deployed = fleet.deploy()
            assert deployed.returncode == 0, str(deployed)
            yield Rotation(fleet, master, token)
    finally:
        kucoin_sandbox.clear_faults()
        for key in [k for k, found in kucoin_sandbox.keys.items() if found.master_account == MASTER_ACCOUNT]:
            kucoin_sandbox.remove_key(key)


def test_check_mode_changes_nothing(rotation: Rotation) -> None:
    grid, fresh = rotation.by_name(GRID), rotation.by_name(FRESH)
    before = {s.name: rotation.snapshot(s) for s in (grid, fresh)}

    run = rotation.run("--check")

    assert run.returncode == 0, str(run)
    # The would-be new key is the run's only change (reported, not made).
    assert {host: counts["changed"] for host, counts in recap(run).items()} == {"rot1": 1, "rot2": 0}
    assert re.search(rf"{GRID} \(sub-account itgrid001\): would rotate; key \S+ \(95 d\)", run.stdout), run.stdout
    assert "would rotate (key age 95 d over 80 d)" in line_of(run, GRID)
    assert "not due (key age 5 d, rotated after 80 d)" in line_of(run, FRESH)
    assert {s.name: rotation.snapshot(s) for s in (grid, fresh)} == before
    assert_no_secret(run, rotation.fleet)


def test_a_due_key_is_rotated_end_to_end_without_a_secret_anywhere(rotation: Rotation) -> None:
    fleet = rotation.fleet
    grid, fresh, dca, plain = (rotation.by_name(name) for name in (GRID, FRESH, DCA, PLAIN))
    old_key = grid.key
    old_version = rotation.current(grid)[0]
    untouched = {s.name: rotation.snapshot(s) for s in (fresh, dca)} | {PLAIN: fleet.main_pid(plain)}
    grid_pid = fleet.main_pid(grid)
    before_keys = rotation.sub_keys(grid)
    started = time.time()

    run = rotation.run("-vvvv", "--diff")

    assert run.returncode == 0, str(run)
    made = rotation.learn_new_keys(grid, before_keys)
    assert len(made) == 1, made
    new = made[0]
    # The new key lives at KuCoin with the strategy's trade permission only and the host's address.
    assert new.permissions == ("General", "Spot")
    assert new.ip_whitelist == ("127.0.0.1",)
    assert new.sub_name == "itgrid001"
    # ... and the old key is gone.
    assert rotation.sub_keys(grid) == {new.api_key}
    # Vault's new version holds the new key, with metadata saying so.
    version, data = rotation.current(grid)
    assert version == old_version + 1
    assert data["api_key"] == new.api_key
    assert data["api_secret"] == new.secret
    assert data["api_passphrase"] == new.passphrase
    metadata = rotation.metadata(grid)
    assert metadata.get("tradebot_change") == "rotated", metadata
    assert metadata.get("tradebot_replaced_api_key") == old_key.api_key
    assert metadata.get("tradebot_api_key") == new.api_key
    # The bot was restarted on it and its signed call succeeded.
    assert fleet.main_pid(grid) not in (0, grid_pid)
    assert fleet.running_key(grid) == (new.api_key, new.secret)
    line = wait_for(
        lambda: next((x for x in reversed(bot_lines(fleet, grid)) if f"key {new.api_key[:4]}" in x), ""),
        timeout=60,
        what="the rotated bot's log line",
    )
    assert "succeeded: code 200000" in line
    # The others were not touched.
    assert {s.name: rotation.snapshot(s) for s in (fresh, dca)} | {PLAIN: fleet.main_pid(plain)} == untouched
    summary = line_of(run, GRID)
    assert re.search(r"rotated; key \S+( \(95 d\))? -> \S+ \(0 d\), Vault v\d+; new key live, bot restarted", summary)
    assert "old key deleted" in summary
    assert new.api_key not in summary
    # No secret, old or new (nor the master's), in the -vvvv output, the controller's files or on the hosts.
    values = [old_key.secret, old_key.passphrase, new.secret, new.passphrase, rotation.master.secret]
    values += [rotation.master.passphrase]
    probes = sorted({v.split(" ")[0] for v in values})
    assert_no_secret(run, fleet)
    roots = [fleet.workdir, Path.home() / ".ansible", Path("/tmp")]
    assert files_holding(probes, roots, since=started) == []
    # The new secret and passphrase may be in the bot's own environment file only; the old ones nowhere.
    news = [new.secret, new.passphrase]
    for host in HOSTS:
        assert journal_holding(fleet.hosts, host, probes) == [], host
        allowed = (f"etc/kucoin-bot/{GRID}.env",) if host == "rot1" else ()
        assert host_files_holding(fleet.hosts, host, news, allowed) == [], host
        assert host_files_holding(fleet.hosts, host, [p for p in probes if p not in news]) == [], host
    grid.key = new


def bot_lines(fleet: Fleet, s: DemoStrategy) -> list[str]:
    result = fleet.hosts.run(s.host, f"journalctl -q -o cat --no-pager -u kucoin-bot@{s.name}.service", check=False)
    return [line for line in result.stdout.splitlines() if line.startswith(f"{s.name}: ")]


def test_the_deploy_token_cannot_read_the_master_key(rotation: Rotation) -> None:
    import hvac

    deploy = rotation.fleet.bao.client(token=rotation.fleet.env["VAULT_TOKEN"])
    with pytest.raises(hvac.exceptions.Forbidden):
        deploy.secrets.kv.v2.read_secret_version(path=MASTER_PATH, mount_point="secret", raise_on_deleted_version=True)


def test_a_second_run_with_nothing_due_changes_nothing(rotation: Rotation) -> None:
    strategies = [rotation.by_name(name) for name in (GRID, FRESH, DCA)]
    before = {s.name: rotation.snapshot(s) for s in strategies}

    run = rotation.run()

    assert run.returncode == 0, str(run)
    assert {host: counts["changed"] for host, counts in recap(run).items()} == {"rot1": 0, "rot2": 0}
    assert {s.name: rotation.snapshot(s) for s in strategies} == before
    assert "rotation: 3 not due" in run.stdout
    assert "TASK [tradebot.kucoin.bot_host" not in run.stdout  # no host was deployed
    assert_no_secret(run, rotation.fleet)


def failed_rotation(rotation: Rotation, *args: str, **kwargs: Any) -> tuple[PlaybookRun, str]:
    """Rotate the dca strategy now (whatever its age); the run must fail and say so in its summary."""
    run = rotation.run("-e", f"rotate_strategies={DCA}", *args, **kwargs)
    assert run.returncode != 0, str(run)
    assert recap(run)["rot2"]["failed"] == 1
    assert recap(run)["rot1"]["failed"] == 0
    assert_no_secret(run, rotation.fleet)
    return run, line_of(run, DCA)


def test_a_failed_create_changes_nothing(rotation: Rotation) -> None:
    dca = rotation.by_name(DCA)
    before = rotation.snapshot(dca)
    rotation.sandbox.set_faults(rotation.master.api_key, sub_key_add_error_count=5)
    try:
        _run, line = failed_rotation(rotation)
    finally:
        rotation.sandbox.clear_faults()
    assert "FAILED; key" in line
    assert "creating the new key failed, nothing changed, bot on the old key" in line
    assert rotation.snapshot(dca) == before


def test_a_failed_vault_write_deletes_the_new_key(rotation: Rotation) -> None:
    dca = rotation.by_name(DCA)
    before = rotation.snapshot(dca)
    # The rotation policy, but the dca secret may only be read.
    policy = (
        'path "secret/data/kucoin/*" { capabilities = ["read", "create", "update"] }\n'
        f'path "secret/data/{dca.vault_path}" {{ capabilities = ["read"] }}\n'
        'path "secret/metadata/kucoin/*" { capabilities = ["read", "update"] }\n'
        'path "secret/data/kucoin-master/*" { capabilities = ["read"] }\n'
    )
    token = seed_master(rotation.fleet.bao, rotation.master, policy, name="kucoin-rotate-no-dca")
    rotation.fleet.secrets_seen.append(token)
    rotation.sandbox.clear_requests()

    _run, line = failed_rotation(rotation, token=token)

    assert "FAILED; key" in line
    assert "creating the new key failed" in line
    # KuCoin made a key (the add call succeeded), and the module deleted it again.
    adds = [r for r in rotation.sandbox.requests if r.method == "POST" and r.path == "/api/v1/sub/api-key"]
    assert [r.code for r in adds] == ["200000"]
    assert rotation.snapshot(dca) == before


def test_a_failed_key_check_on_the_host_rolls_back(rotation: Rotation) -> None:
    dca = rotation.by_name(DCA)
    sub_keys, (version, data), pid, running = rotation.snapshot(dca)

    # The new key's whitelist leaves out the host's address: KuCoin refuses the host's signed call.
    _run, line = failed_rotation(rotation, "-e", '{"rotate_ip_whitelist": ["192.0.2.99"]}')

    assert "ROLLED BACK" in line
    assert "key check" in line
    assert "new key deleted, Vault rolled back to the old key" in line
    assert "bot left running on the old key" in line
    assert_rolled_back(rotation, dca, sub_keys, version, data)
    assert rotation.fleet.main_pid(dca) == pid
    assert rotation.fleet.running_key(dca) == running


def assert_rolled_back(rotation: Rotation, s: DemoStrategy, sub_keys: set[str], version: int, data: dict) -> None:
    """No key of the run left at KuCoin, and Vault's current version (a new one) holds the old key again."""
    assert rotation.sub_keys(s) == sub_keys
    now_version, now_data = rotation.current(s)
    assert now_version == version + 2  # the new key's version, then the old key written back
    assert now_data == data
    assert rotation.metadata(s).get("tradebot_change") == "rolled_back"


# A drop-in for every bot's unit: the next start of a bot whose marker file exists fails (once).
FAIL_ONCE = (
    "mkdir -p /etc/systemd/system/kucoin-bot@.service.d && printf '%s\\n' '[Service]' "
    "\"ExecStartPre=+/bin/sh -c 'if [ -e /run/fail-start-%i ]; then rm -f /run/fail-start-%i; exit 1; fi'\" "
    "> /etc/systemd/system/kucoin-bot@.service.d/zz-fail-once.conf && systemctl daemon-reload"
)


def test_a_failed_restart_rolls_back_and_restarts_the_bot_on_its_old_key(rotation: Rotation) -> None:
    fleet = rotation.fleet
    dca = rotation.by_name(DCA)
    sub_keys, (version, data), pid, running = rotation.snapshot(dca)
    fleet.hosts.run("rot2", FAIL_ONCE)
    fleet.hosts.run("rot2", f"touch /run/fail-start-{DCA}")
    try:
        run, line = failed_rotation(rotation)
    finally:
        fleet.hosts.run("rot2", "rm -f /etc/systemd/system/kucoin-bot@.service.d/zz-fail-once.conf /run/fail-start-*")
        # Also forgets the failed starts, which count against the unit's start limit.
        fleet.hosts.run("rot2", f"systemctl daemon-reload && systemctl reset-failed kucoin-bot@{DCA}.service; true")
    assert "Restart the bots whose configuration changed" in run.stdout
    assert "ROLLED BACK" in line
    assert "new key deleted, Vault rolled back to the old key" in line
    assert "bot restarted on the old key" in line
    assert_rolled_back(rotation, dca, sub_keys, version, data)
    assert fleet.main_pid(dca) != pid
    assert fleet.running_key(dca) == running


def test_a_failed_delete_of_the_old_key_is_named_for_deletion(rotation: Rotation) -> None:
    fleet = rotation.fleet
    dca = rotation.by_name(DCA)
    old = dca.key
    before = rotation.sub_keys(dca)
    rotation.sandbox.set_faults(rotation.master.api_key, sub_key_delete_error_count=50)
    try:
        _run, line = failed_rotation(rotation)
    finally:
        rotation.sandbox.clear_faults()
    made = rotation.learn_new_keys(dca, before)
    assert len(made) == 1
    new = made[0]
    # The bot runs on the new key, Vault names it, and the old key is still at KuCoin: the summary says so.
    assert fleet.running_key(dca) == (new.api_key, new.secret)
    assert rotation.current(dca)[1]["api_key"] == new.api_key
    assert rotation.sub_keys(dca) == {old.api_key, new.api_key}
    assert "NEEDS ATTENTION" in line
    masked = f"{old.api_key[:4]}…{old.api_key[-2:]}"
    assert f"the old key {masked} was NOT deleted at KuCoin" in line
    dca.key = new
