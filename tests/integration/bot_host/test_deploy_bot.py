"""deploy_bot.yml and the bot_host role against real hosts: three systemd-nspawn hosts over SSH, real OpenBao,
the KuCoin sandbox over HTTP and a real chronyd NTP server.

One fleet serves the whole module and the tests run in order, each one a step of the fleet's life: a dry run
on pristine hosts, the first deploy, a no-op run, a check-mode run, a key rotation together with removals, a
key that fails its check, a shared key, and a clock that is off. ansible-playbook runs are the expensive part
(2 cores), so there are eight of them.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from harness.ansible import PlaybookRun
from harness.bot_fleet import WHITELIST, Fleet, assert_no_secret, marker, started_fleet, strategy
from harness.demo import (
    DemoStrategy,
    bot_group_vars,
    bot_log,
    recap,
    wait_for_bot_line,
)
from harness.hosts_fixtures import require_hosts
from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.leak_watch import LeakWatch, controller_temp_env
from harness.ntp import NtpServer
from harness.openbao import OpenBao
from harness.procs import wait_for

pytestmark = [pytest.mark.hosts, pytest.mark.vault, pytest.mark.sandbox]

# A name that is no POSIX user name (a dot, over 31 characters with the prefix): its bot's user is derived.
DOGE = "it-mm-doge.usdt-with-a-long-name"
HOSTS = ("bot1", "bot2", "bot3")
# Values with everything an environment file can get wrong; they must reach the bot byte for byte.
HARD_ENV = {
    "HARD_QUOTES": "say \"hi\" it's 'quoted'",
    "HARD_DOLLAR": "$HOME ${HOME} $(id) `id` 5$",
    "HARD_BACKSLASH": 'C:\\dir\\new\\t \\\\ \\" end\\',
    "HARD_HASH": "#not a comment # either",
    "HARD_SPACES": "  padded  ",
    "HARD_UNICODE": "Grüße 日本 🚀 € \u00a0nbsp",
    "HARD_MIXED": "a'b\"c$d\\e#f g;h=i",
    "HARD_EMPTY": "",
}

# On bot2 before the role arrives: a running time daemon that would fight chrony (openntpd, here a stand-in
# unit that only sleeps) and a masked one (ntp), which the role must leave as it is.
FIGHTING_TIME_DAEMONS = (
    "printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n'"
    " > /etc/systemd/system/openntpd.service"
    " && systemctl enable --now openntpd.service && systemctl mask ntp.service"
)


def time_daemon_states(fleet: Fleet) -> list[str]:
    """Active and enabled state of bot2's openntpd, then the enabled state of its masked ntp."""
    return fleet.sh(
        "bot2",
        "systemctl is-active openntpd.service; systemctl is-enabled openntpd.service ntp.service; true",
    ).split()


def task_statuses(run: PlaybookRun, task: str) -> dict[str, str]:
    """Each host's status line (ok, changed, skipping, ...) under the role task named `task`."""
    statuses: dict[str, str] = {}
    inside = False
    for line in run.stdout.splitlines():
        if line.startswith(("TASK [", "PLAY [", "RUNNING HANDLER [")):
            inside = line.startswith(f"TASK [tradebot.kucoin.bot_host : {task}]")
        elif inside and (found := re.match(r"^(\w+): \[([^\]]+)\]", line)):
            statuses.setdefault(found.group(2), found.group(1))
    return statuses


@pytest.fixture(scope="module")
def fleet(
    openbao: OpenBao,
    kucoin_sandbox: KucoinSandbox,
    ntp_server: NtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    require_hosts()
    strategies = [
        strategy("bot1", "grid-btc", environment=HARD_ENV),
        strategy("bot2", "dca-eth", version=3, secret_delivery="credentials"),
        strategy("bot2", "scalp-sol", version=1),
        strategy("bot2", "mm-doge.usdt-with-a-long-name", created_days_ago=120),
        strategy("bot3", "basis-xbt", api="futures", version=1, secret_delivery="credentials"),
    ]
    workdir = tmp_path_factory.mktemp("bot-host")
    with started_fleet(openbao, kucoin_sandbox, ntp_server, workdir, HOSTS, strategies) as state:
        state.hosts.run("bot2", FIGHTING_TIME_DAEMONS)
        yield state


def test_check_mode_on_pristine_hosts_fails_nothing_and_changes_nothing(fleet: Fleet) -> None:
    run = fleet.deploy("--check", "--diff")
    assert run.returncode == 0, str(run)
    assert set(recap(run)) == {"bot1", "bot2", "bot3"}
    assert all(counts["failed"] == 0 for counts in recap(run).values())
    for host in ("bot1", "bot2", "bot3"):
        assert fleet.hosts.run(host, "dpkg -s chrony", check=False).returncode != 0
        assert fleet.hosts.run(host, "test -e /etc/kucoin-bot", check=False).returncode != 0
    assert time_daemon_states(fleet) == ["active", "enabled", "masked"]
    assert_no_secret(run, fleet)


def test_full_deploy_runs_every_bot_and_prints_no_secret(fleet: Fleet) -> None:
    run = fleet.deploy("-vvvv", "--diff")
    assert run.returncode == 0, str(run)
    assert_no_secret(run, fleet)
    for s in fleet.strategies:
        line = wait_for_bot_line(fleet.hosts, s.host, s.name)
        assert "succeeded: code 200000" in line, line
        assert re.search(rf"{s.host}: clock offset [+-]\d+\.\d{{6}} s against 127\.0\.0\.1", run.stdout)
        age = 120 if s.name == DOGE else 0
        assert re.search(
            rf"{s.name} \({s.api}, secrets in \w+\): key valid \S+, permissions General\+(Spot|Futures), "
            rf"key age {age} d",
            run.stdout,
        )
    # Old keys pass with a warning (bot_host_key_check_max_key_age_days 90, fail_on_old_key false).
    assert re.search(rf"{re.escape(DOGE)} .*; WARNING: the key is 120 days old", run.stdout)
    assert run.stdout.count("KuCoin service open") == len(fleet.strategies)
    # The sandbox saw each bot authenticate with its own key, from the bot host.
    used = {r.api_key for r in fleet.sandbox.requests if r.code == "200000" and r.path != "/api/v1/timestamp"}
    assert {s.key.api_key for s in fleet.strategies} <= used


def test_time_daemons_that_would_fight_chrony_are_stopped_and_masked_ones_left_alone(fleet: Fleet) -> None:
    assert time_daemon_states(fleet) == ["inactive", "disabled", "masked"]


def test_every_value_reaches_the_running_service_exactly(fleet: Fleet) -> None:
    grid = fleet.by_name("it-grid-btc")
    environ = fleet.service_environ(grid)
    for name, value in HARD_ENV.items():
        assert environ[name] == value, name
    assert environ["KUCOIN_SECRET_KEY"] == grid.key.secret
    assert environ["KUCOIN_PASSPHRASE"] == grid.key.passphrase
    assert environ["KUCOIN_API_KEY"] == grid.key.api_key
    assert environ["KUCOIN_API_KEY_VERSION"] == "2"
    assert environ["KUCOIN_API_BASE_URL"] == fleet.sandbox.spot_url
    assert environ["KUCOIN_STRATEGY"] == "it-grid-btc"


def test_credentials_mode_keeps_secrets_out_of_the_environment(fleet: Fleet) -> None:
    basis = fleet.by_name("it-basis-xbt")
    environ = fleet.service_environ(basis)
    assert "KUCOIN_SECRET_KEY" not in environ
    assert "KUCOIN_PASSPHRASE" not in environ
    assert environ["KUCOIN_API_BASE_URL"] == fleet.sandbox.futures_url
    assert environ["CREDENTIALS_DIRECTORY"].startswith("/run/credentials/")
    env_file = fleet.sh("bot3", "cat /etc/kucoin-bot/it-basis-xbt.env")
    assert basis.key.secret.split(" ")[0] not in env_file
    listing = fleet.sh("bot3", "stat -c '%U:%G %a %n' /etc/kucoin-bot/credentials/it-basis-xbt/*")
    assert listing.split("\n")[:2] == [
        "root:root 400 /etc/kucoin-bot/credentials/it-basis-xbt/KUCOIN_PASSPHRASE",
        "root:root 400 /etc/kucoin-bot/credentials/it-basis-xbt/KUCOIN_SECRET_KEY",
    ]


def test_modes_owners_user_and_hardening(fleet: Fleet) -> None:
    for s in fleet.strategies:
        stat = fleet.sh(s.host, f"stat -c '%U:%G %a' /etc/kucoin-bot /etc/kucoin-bot/{s.name}.env").split()
        assert stat == ["root:root", "750", "root:root", "600"], s.name
        pid = fleet.main_pid(s)
        status = fleet.sh(s.host, f"cat /proc/{pid}/status")
        assert re.search(r"^Uid:\s+(\d+)", status, re.M)[1] != "0"
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
        assert re.search(r"^CapEff:\s+0+$", status, re.M)
        assert re.search(r"^Seccomp:\s+2$", status, re.M)  # SystemCallFilter= is in force
        mounts = fleet.sh(s.host, f"cat /proc/{pid}/mountinfo")
        # ProtectSystem=strict: the bot sees / read-only; PrivateTmp: its own /tmp.
        assert re.search(r"^\S+ \S+ \S+ \S+ / (ro|\S*,ro)\b", mounts, re.M), mounts
        assert re.search(r"^\S+ \S+ \S+ \S+ /tmp (rw)", mounts, re.M)
    unit = fleet.sh(
        "bot1", "systemctl show kucoin-bot@it-grid-btc.service -p ProtectSystem -p ProtectHome -p DynamicUser"
    )
    assert "ProtectSystem=strict" in unit
    assert "ProtectHome=yes" in unit
    assert "DynamicUser=yes" in unit
    analysis = fleet.sh("bot1", "systemd-analyze security --no-pager kucoin-bot@it-grid-btc.service")
    level = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", analysis)
    assert level, analysis[-2000:]
    assert level[2] in ("SAFE", "OK"), analysis[-2000:]


def identity(fleet: Fleet, s: DemoStrategy) -> tuple[str, str]:
    """The uid and gid the strategy's bot runs as (its own, allocated by systemd)."""
    status = fleet.sh(s.host, f"cat /proc/{fleet.main_pid(s)}/status")
    return re.search(r"^Uid:\s+(\d+)", status, re.M)[1], re.search(r"^Gid:\s+(\d+)", status, re.M)[1]


def read_as(fleet: Fleet, s: DemoStrategy, path: str) -> subprocess.CompletedProcess[str]:
    """cat `path` (ls a directory/) on the strategy's host with the identity its bot runs as (no other groups,
    no privileges)."""
    uid, gid = identity(fleet, s)
    tool = "ls" if path.endswith("/") else "cat"
    command = f"setpriv --reuid={uid} --regid={gid} --clear-groups --inh-caps=-all {tool} {shlex.quote(path)}"
    return fleet.hosts.run(s.host, command, check=False)


def test_no_bot_can_read_another_bots_secrets(fleet: Fleet) -> None:
    # On bot2: dca-eth gets its secrets as credentials, scalp-sol and mm-doge in their environment.
    dca, scalp, doge = (fleet.by_name(name) for name in ("it-dca-eth", "it-scalp-sol", DOGE))
    uids = {s.name: identity(fleet, s)[0] for s in (dca, scalp, doge)}
    assert len(set(uids.values())) == 3, uids
    assert "0" not in uids.values()
    doge_pid, dca_pid, scalp_pid = fleet.main_pid(doge), fleet.main_pid(dca), fleet.main_pid(scalp)
    # A bot's identity reads its own environment (so the denials below are about identity, not the method).
    own = read_as(fleet, scalp, f"/proc/{scalp_pid}/environ")
    assert own.returncode == 0
    assert scalp.key.api_key in own.stdout
    for reader, path in [
        (scalp, f"/proc/{doge_pid}/environ"),  # another bot's environment (environment mode)
        (dca, f"/proc/{scalp_pid}/environ"),
        (scalp, f"/proc/{dca_pid}/environ"),
        (scalp, f"/run/credentials/kucoin-bot@{dca.name}.service/KUCOIN_SECRET_KEY"),  # credentials mode
        (scalp, f"/proc/{dca_pid}/root/run/credentials/kucoin-bot@{dca.name}.service/KUCOIN_SECRET_KEY"),
        (doge, f"/etc/kucoin-bot/{scalp.name}.env"),
        (doge, f"/etc/kucoin-bot/credentials/{dca.name}/KUCOIN_SECRET_KEY"),
        (doge, f"/var/lib/kucoin-bot/{scalp.name}/"),
    ]:
        result = read_as(fleet, reader, path)
        assert result.returncode != 0, f"{reader.name} could read {path}"
        assert "ZqSECRET" not in result.stdout
        assert "ZqPASS" not in result.stdout


def test_chrony_reports_sync_on_every_host(fleet: Fleet) -> None:
    for host in ("bot1", "bot2", "bot3"):
        tracking = fleet.sh(host, "chronyc -n -c tracking").strip().split(",")
        assert tracking[13] == "Normal", tracking
        assert tracking[1] == "127.0.0.1"
        assert abs(float(tracking[4])) < 0.5
        sources = fleet.sh(host, "chronyc -n -c sources")
        assert re.search(r"^\^,\*,127\.0\.0\.1,8,.*$", sources, re.M), sources
        assert fleet.sh(host, "systemctl is-active chrony.service").strip() == "active"
        assert "-x" in fleet.sh(host, "cat /etc/default/chrony")


def test_second_run_changes_nothing(fleet: Fleet) -> None:
    before = fleet.pids()
    run = fleet.deploy()
    assert run.returncode == 0, str(run)
    assert {host: counts["changed"] for host, counts in recap(run).items()} == {"bot1": 0, "bot2": 0, "bot3": 0}
    assert fleet.pids() == before
    assert run.stdout.count("; unchanged") == len(fleet.strategies)
    # Every package is there, so apt is not run at all (no cache to open, no lists to refresh).
    assert task_statuses(run, "Install chrony and the key check's HTTP library") == dict.fromkeys(HOSTS, "skipping")


def test_check_mode_on_deployed_hosts_changes_nothing(fleet: Fleet) -> None:
    before = fleet.pids()
    run = fleet.deploy("--check", "--diff")
    assert run.returncode == 0, str(run)
    assert {host: counts["changed"] for host, counts in recap(run).items()} == {"bot1": 0, "bot2": 0, "bot3": 0}
    assert fleet.pids() == before
    # The packages are installed, so a dry run still checks the clock and proves the keys from each host.
    assert task_statuses(run, "Fail when the clock is off by more than bot_host_max_clock_offset") == dict.fromkeys(
        HOSTS, "ok"
    )
    assert task_statuses(run, "Prove each strategy's API key with a signed call from this host") == dict.fromkeys(
        HOSTS, "ok"
    )
    assert_no_secret(run, fleet)


def test_new_secret_version_restarts_only_that_strategy_and_removed_strategies_go(fleet: Fleet) -> None:
    grid = fleet.by_name("it-grid-btc")
    old_key = grid.key.api_key
    new = strategy("bot1", "grid-btc", environment=HARD_ENV)
    fleet.sandbox.add_key(new.key)
    fleet.remember(new)
    fleet.bao.put_secret("secret", new.vault_path, new.vault_fields())
    grid.key = new.key
    # On bot2, scalp-sol is marked absent and mm-doge is gone from the inventory.
    scalp, doge = fleet.by_name("it-scalp-sol"), fleet.by_name(DOGE)
    scalp.extra["state"] = "absent"
    kept = [s for s in fleet.strategies if s is not doge]
    unchanged = [s for s in fleet.strategies if s.name in {"it-dca-eth", "it-basis-xbt"}]
    before = {s.name: fleet.main_pid(s) for s in unchanged}
    old_grid_pid = fleet.main_pid(grid)

    run = fleet.deploy("--diff", strategies=kept)

    assert run.returncode == 0, str(run)
    assert_no_secret(run, fleet)
    fleet.strategies = [*unchanged, grid]
    counts = recap(run)
    assert counts["bot3"]["changed"] == 0
    assert counts["bot1"]["changed"] > 0
    assert {s.name: fleet.main_pid(s) for s in unchanged} == before
    assert fleet.main_pid(grid) not in (0, old_grid_pid)
    assert fleet.service_environ(grid)["KUCOIN_API_KEY"] == new.key.api_key != old_key
    line = wait_for(
        lambda: next((line for line in bot_log(fleet.hosts, "bot1", grid.name)[1:] if "succeeded" in line), ""),
        timeout=60,
        what="the restarted grid bot's log line",
    )
    assert "code 200000" in line
    assert "it-grid-btc (spot, secrets in environment): key valid" in run.stdout
    assert "changed: environment file, restarted" in run.stdout
    for gone in (scalp, doge):
        assert f"{gone.name}: removed" in run.stdout
        leftovers = fleet.hosts.run(
            "bot2",
            f"ls -d /etc/kucoin-bot/{gone.name}.env /etc/systemd/system/kucoin-bot@{gone.name}.service.d "
            f"/var/lib/kucoin-bot/{gone.name} "
            f"/etc/systemd/system/multi-user.target.wants/kucoin-bot@{gone.name}.service",
            check=False,
        )
        assert leftovers.stdout == "", leftovers.stdout
        state = fleet.sh("bot2", f"systemctl show -p ActiveState --value kucoin-bot@{gone.name}.service").strip()
        assert state == "inactive"


# Every file the role manages for bots on a host, with size and modification time.
BOT_FILES = "find /etc/kucoin-bot /etc/systemd/system -path '*kucoin-bot*' -printf '%p %s %T@\\n' | sort"


def test_a_key_with_transfer_is_refused_by_default_and_leaves_the_host_untouched(fleet: Fleet) -> None:
    """The role's defaults, no key_check options: KuCoin's Transfer permission is the withdrawal right."""
    dca = fleet.by_name("it-dca-eth")
    bad = make_key(
        permissions=("General", "Spot", "Transfer"),
        ip_whitelist=WHITELIST,
        key_version=dca.key.key_version,
        secret=marker("BAD"),
    )
    fleet.sandbox.add_key(bad)
    fleet.secrets_seen += [bad.secret, bad.passphrase, bad.api_key]
    env_file = f"/etc/kucoin-bot/{dca.name}.env"
    file_before, pid_before = fleet.file_digest("bot2", env_file), fleet.main_pid(dca)
    tree_before = fleet.sh("bot2", BOT_FILES)
    fleet.bao.put_secret(
        "secret",
        dca.vault_path,
        {**dca.vault_fields(), "api_key": bad.api_key, "api_secret": bad.secret, "api_passphrase": bad.passphrase},
    )
    try:
        run = fleet.deploy("-vvvv", "--diff")
    finally:
        fleet.bao.put_secret("secret", dca.vault_path, dca.vault_fields())
    assert run.returncode != 0
    assert recap(run)["bot2"]["failed"] == 1
    assert re.search(r"it-dca-eth: key check: The key has the Transfer permission", run.output), run.output[-3000:]
    assert "it-dca-eth left as it was (no file written, bot not restarted)" in run.output
    assert re.search(r"bot2: FAILED - it-dca-eth: key check: .*has the Transfer permission", run.stdout)
    # The end-of-run summary names the strategy and the permission.
    assert re.search(
        r"it-dca-eth \(spot, [^)]*\): key INVALID.*FAILED, left as it was: key check: .*Transfer", run.stdout
    )
    assert fleet.file_digest("bot2", env_file) == file_before
    assert fleet.main_pid(dca) == pid_before
    assert fleet.sh("bot2", BOT_FILES) == (tree_before)
    assert recap(run)["bot1"]["failed"] == 0
    assert_no_secret(run, fleet)


def test_a_shared_api_key_is_refused_naming_both_bots(fleet: Fleet) -> None:
    grid = fleet.by_name("it-grid-btc")
    copycat = DemoStrategy("bot3", "it-copycat", key=grid.key)
    fleet.bao.put_secret("secret", copycat.vault_path, copycat.vault_fields())
    before = fleet.pids()
    run = fleet.deploy(strategies=[*fleet.strategies, copycat])
    assert run.returncode != 0
    assert "these share a key: bot1/it-grid-btc and bot3/it-copycat" in run.output
    assert "TASK [tradebot.kucoin.bot_host" not in run.stdout  # refused before any host was touched
    assert fleet.pids() == before
    assert_no_secret(run, fleet)


def test_a_value_no_environment_file_can_carry_fails_naming_it(fleet: Fleet) -> None:
    grid = fleet.by_name("it-grid-btc")
    env_file = f"/etc/kucoin-bot/{grid.name}.env"
    file_before, pid_before = fleet.file_digest("bot1", env_file), fleet.main_pid(grid)
    grid.extra["environment"] = {**HARD_ENV, "TWO_LINES": "first\nsecond"}
    try:
        run = fleet.deploy("-vvvv", "--diff", "--limit", "bot1", "--tags", "credentials")
    finally:
        grid.extra["environment"] = HARD_ENV
    assert run.returncode != 0
    assert "environment variable TWO_LINES: the value contains a line break" in run.output
    assert fleet.file_digest("bot1", env_file) == file_before
    assert fleet.main_pid(grid) == pid_before
    assert_no_secret(run, fleet)


def current_program_files(fleet: Fleet) -> list[dict[str, str]]:
    return list(bot_group_vars(fleet.sandbox, fleet.ntp)["bot_host_program_files"])


def test_a_run_that_fails_after_writing_the_files_is_completed_by_the_next(fleet: Fleet) -> None:
    grid, basis, dca = (fleet.by_name(name) for name in ("it-grid-btc", "it-basis-xbt", "it-dca-eth"))
    fleet.rotate(grid, basis)  # one bot with its secrets in the environment, one with credentials
    bystander = fleet.main_pid(dca)
    old = {s.name: fleet.running_key(s) for s in (grid, basis)}
    # A program file that does not exist: the task after the environment and credential files fails.
    # (It comes first, so that the task's first result line on each host is the failure.)
    broken = [{"src": str(fleet.workdir / "absent.py"), "dest": "/opt/kucoin-bot/x"}, *current_program_files(fleet)]

    failed = fleet.deploy(bot_host_program_files=broken)

    assert failed.returncode != 0
    assert task_statuses(failed, "Install the bot program files") == dict.fromkeys(HOSTS, "failed")
    for s in (grid, basis):
        assert fleet.key_on_disk(s) == (True, True), s.name
        assert fleet.running_key(s) == old[s.name], f"{s.name} restarted in the failed run"

    # A dry run now reports the restarts that a real run makes, and makes none.
    dry = fleet.deploy("--check")
    assert dry.returncode == 0, str(dry)
    assert task_statuses(dry, "Restart the bots whose configuration changed") == {
        "bot1": "changed",
        "bot2": "skipping",
        "bot3": "changed",
    }
    assert all(fleet.running_key(s) == old[s.name] for s in (grid, basis))

    clean = fleet.deploy()

    assert clean.returncode == 0, str(clean)
    for s in (grid, basis):
        assert fleet.running_key(s) == (s.key.api_key, s.key.secret), s.name
    assert fleet.main_pid(dca) == bystander  # its files did not change: not restarted
    for run in (failed, dry, clean):
        assert_no_secret(run, fleet)


def test_a_run_killed_after_writing_the_files_is_completed_by_the_next(fleet: Fleet) -> None:
    grid, basis, dca = (fleet.by_name(name) for name in ("it-grid-btc", "it-basis-xbt", "it-dca-eth"))
    fleet.rotate(grid, basis)
    bystander = fleet.main_pid(dca)
    old = {s.name: fleet.running_key(s) for s in (grid, basis)}
    control_dir = fleet.workdir / f"ssh-control-{fleet.runs}"
    control_dir.mkdir()
    process, log = fleet.start_deploy(env={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir)})
    try:
        # As soon as both hosts have the new files, the run and its SSH connections are killed: a dozen
        # tasks before the restarts (the assertion after the kill checks that none had happened).
        wait_for(
            lambda: fleet.key_on_disk(grid) == fleet.key_on_disk(basis) == (True, True),
            timeout=600,
            interval=0.1,
            what="the run to write the new files",
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for socket in control_dir.iterdir():  # the ControlPersist masters outlive ansible-playbook
            subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "x"], capture_output=True, check=False)
    assert all(fleet.running_key(s) == old[s.name] for s in (grid, basis)), "a bot restarted before the kill"

    clean = fleet.deploy()

    assert clean.returncode == 0, str(clean)
    for s in (grid, basis):
        assert fleet.running_key(s) == (s.key.api_key, s.key.secret), s.name
    assert fleet.main_pid(dca) == bystander
    assert_no_secret(clean, fleet)
    killed = PlaybookRun([], -9, log.read_text(errors="replace"), "")
    assert_no_secret(killed, fleet)


def secret_probes(fleet: Fleet) -> list[str]:
    """What a scan looks for: every secret and passphrase ever used (up to the first blank) and the Vault token."""
    return [
        *sorted({value.split(" ")[0] for value in fleet.secrets_seen if value.startswith("Zq")}),
        fleet.env["VAULT_TOKEN"],
    ]


def leaks(fleet: Fleet, host: str, hits: list[tuple[str, str]], running: Mapping[str, Any] | None = None) -> list[str]:
    """The hits (path, secret) that are no bot's own file. A bot's own files (and the temporary file its
    environment file is written through, beside it) may hold its current secrets and, while a run has not yet
    replaced them, the ones it runs with (`running`: strategy name to its old key)."""
    allowed = set()
    for s in fleet.strategies:
        if s.host == host:
            keys = [s.key, *([running[s.name]] if running and s.name in running else [])]
            own_files = (
                f"etc/kucoin-bot/{s.name}.env",
                f"etc/kucoin-bot/.{s.name}.env.",
                f"etc/kucoin-bot/credentials/{s.name}/",
                f"run/credentials/kucoin-bot@{s.name}.service/",
            )
            for own in own_files:
                for key in keys:
                    allowed |= {(own, key.secret.split(" ")[0]), (own, key.passphrase.split(" ")[0])}
    found = []
    for path, probe in hits:
        relative = path.lstrip("/")
        if not any(relative.startswith(own) and probe == value for own, value in allowed):
            found.append(f"{host}:/{relative}: {probe[:10]}...")
    return found


def secrets_on_disk(fleet: Fleet, host: str, running: Mapping[str, Any] | None = None) -> list[str]:
    """Files on the host holding a secret where they should not: every file system but /proc and /sys (tmpfs
    ones too), for every secret and passphrase ever used."""
    patterns = " ".join(f"-e {shlex.quote(p)}" for p in secret_probes(fleet))
    found = fleet.sh(
        host,
        f"cd / && grep -rsoaF --devices=skip {patterns} -- $(ls -A / | grep -vxE 'proc|sys') | sort -u; true",
    )
    hits = [(path, probe) for path, _sep, probe in (line.rpartition(":") for line in found.splitlines())]
    return leaks(fleet, host, hits, running)


# The sandbox answers the key check's signed requests one byte per this many milliseconds: the request is
# verified at once (a delay before it would put its timestamp out of KuCoin's 5 s window), and the module
# stays running, waiting for the answer, while the disk is scanned.
TRICKLE_MS = 150
# Where files live for a moment during a run: the remote user's home (Ansible's ~/.ansible/tmp), the system's
# temporary directories, and the directory of the secret files themselves. Watched for the whole run.
HOST_TEMP_DIRS = ("~", "/tmp", "/var/tmp", "/dev/shm", "/etc/kucoin-bot")


def test_without_pipelining_no_secret_reaches_a_file_on_the_hosts(fleet: Fleet) -> None:
    grid = fleet.by_name("it-grid-btc")
    old_key = grid.key
    fleet.rotate(grid)  # the run carries a new secret to bot1, and the old one must be gone afterwards
    fleet.sandbox.clear_requests()
    fleet.sandbox.set_faults(grid.key.api_key, trickle_ms=TRICKLE_MS)
    # Files that exist only while a task runs (Ansible stages a copy's content on the controller and under the
    # remote user's ~/.ansible/tmp, then deletes it) are caught by watchers that poll for the whole run.
    controller_tmp = controller_temp_env(fleet.workdir / f"controller-tmp-{fleet.runs}")
    watches: dict[str, LeakWatch] = {}
    process = None
    try:
        for host in HOSTS:
            ssh = [*fleet.hosts.ssh_argv(host), f"root@{fleet.hosts.host(host).address}"]
            watches[host] = LeakWatch.over_ssh(ssh, HOST_TEMP_DIRS, secret_probes(fleet))
        watches["controller"] = LeakWatch.here(list(controller_tmp.values()), secret_probes(fleet))
        process, log = fleet.start_deploy(
            env=controller_tmp, host_vars={"ansible_pipelining": False}, bot_host_key_check_timeout=120
        )
        # The sandbox has the key check's signed request and holds it: the key check is running on bot1.
        wait_for(
            lambda: any(r.api_key == grid.key.api_key for r in fleet.sandbox.requests),
            timeout=600,
            what="bot1's key check to reach the sandbox",
        )
        # The bot still runs with its old key until the check passes: its own files may hold that one.
        during = secrets_on_disk(fleet, "bot1", running={grid.name: old_key})
        still_running = fleet.sandbox.in_flight > 0
        fleet.sandbox.clear_faults()
        returncode = process.wait(timeout=900)
        watched = {name: watch.stop() for name, watch in watches.items()}
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for watch in watches.values():
            watch.kill()
        fleet.sandbox.clear_faults()
    run = PlaybookRun([], returncode, log.read_text(errors="replace"), "")
    assert returncode == 0, str(run)
    assert during == []
    for host in HOSTS:
        assert leaks(fleet, host, watched[host].found, running={grid.name: old_key}) == [], host
        assert secrets_on_disk(fleet, host) == [], host
    controller = [f"{path}: {probe[:10]}..." for path, probe in watched["controller"].found]
    assert controller == [], "a secret was in a file on the controller during the run"
    # The watchers were watching throughout: bot1's watcher saw the new environment file written, and the
    # controller's saw ansible-playbook's temporary files.
    assert "/etc/kucoin-bot/it-grid-btc.env" in watched["bot1"].written
    assert watched["controller"].seen > 0
    assert not any(report.timed_out for report in watched.values())
    assert still_running, "the key check had finished before the scan did"
    assert fleet.running_key(grid) == (grid.key.api_key, grid.key.secret)
    assert_no_secret(run, fleet)


def test_a_clock_over_the_limit_fails_the_host_with_the_offset(fleet: Fleet, shifted_ntp_server) -> None:
    shifted = shifted_ntp_server(3.0)
    run = fleet.deploy(
        "--limit",
        "bot3",
        "--tags",
        "time",
        bot_host_ntp_servers=[{"host": shifted.host, "port": shifted.port, "minpoll": 0, "maxpoll": 2}],
    )
    assert run.returncode != 0
    match = re.search(r"clock offset ([+-]\d+\.\d+) s \(NTP time minus this host's clock", run.output)
    assert match, run.output[-3000:]
    assert 2.5 < float(match[1]) < 3.5
    assert "exceeds bot_host_max_clock_offset 1.0 s" in run.output
    assert recap(run)["bot3"]["failed"] == 1


def test_leak_scan_covered_every_secret(fleet: Fleet) -> None:
    # Guards the leak assertions above: they looked for real, distinctive values.
    assert len(fleet.secrets_seen) >= 18
    assert all(len(value.strip()) >= 10 for value in fleet.secrets_seen)
    assert len(fleet.env["VAULT_TOKEN"]) >= 10
