"""The bot_host role's time part on a real host with a real chronyd: changed sources are tried before they
replace working ones, a dead source is reported, and Debian's removal of systemd-timesyncd is said.

One host, the role alone (no strategies, so no Vault or sandbox), against the session's NTP server and
servers of the tests' own. Each test is a step of the host's life, in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.ansible import PlaybookRun, run_playbook
from harness.demo import recap
from harness.hosts import BotHostFleet
from harness.hosts_fixtures import require_hosts
from harness.ntp import NtpServer, free_udp_port
from harness.procs import wait_for

pytestmark = pytest.mark.hosts

HOST = "time1"
PLAYBOOK = """
- name: Time on a bot host
  hosts: all
  gather_facts: false
  roles:
    - role: tradebot.kucoin.bot_host
"""


@dataclass
class TimeHost:
    fleet: BotHostFleet
    workdir: Path
    ntp: NtpServer
    runs: int = 0

    def deploy(self, servers: list[dict[str, Any]], **group_vars: Any) -> PlaybookRun:
        self.runs += 1
        inventory = self.fleet.write_inventory(
            self.workdir / f"inventory-{self.runs}.yml",
            hostvars={HOST: {"bot_host_strategies": []}},
            group_vars={
                "bot_host_ntp_servers": servers,
                "bot_host_ntp_pools": [],
                "bot_host_print_summary": False,
                "bot_host_time_sync_timeout": 20,
                **group_vars,
            },
        )
        playbook = self.workdir / "time.yml"
        playbook.write_text(PLAYBOOK)
        run = run_playbook(playbook, inventory=inventory)
        (self.workdir / f"run-{self.runs}.log").write_text(f"{run.argv}\nrc={run.returncode}\n{run.output}")
        return run

    def sh(self, command: str) -> str:
        return self.fleet.run(HOST, command).stdout

    def chrony(self) -> dict[str, str]:
        """What must survive a failed change: the file, the running daemon, and whom it follows."""
        tracking = self.sh("chronyc -n -c tracking").strip().split(",")
        return {
            "conf": self.sh("sha256sum /etc/chrony/chrony.conf").split()[0],
            "pid": self.sh("systemctl show -p MainPID --value chrony.service").strip(),
            "reference": tracking[1],
            "leap": tracking[13],
        }


def fast(server: NtpServer) -> dict[str, Any]:
    """A server entry that polls every 1-4 s, so the host syncs within seconds."""
    return {"host": server.host, "port": server.port, "minpoll": 0, "maxpoll": 2}


@pytest.fixture(scope="module")
def time_host(ntp_server: NtpServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimeHost]:
    require_hosts()
    workdir = tmp_path_factory.mktemp("time-host")
    with BotHostFleet(workdir / "hosts", [HOST]) as fleet:
        yield TimeHost(fleet, workdir, ntp_server)


def test_first_deploy_syncs_and_says_that_chrony_replaced_systemd_timesyncd(time_host: TimeHost) -> None:
    time_host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-timesyncd")
    run = time_host.deploy([fast(time_host.ntp)])
    assert run.returncode == 0, str(run)
    assert "installing chrony removed systemd-timesyncd (Debian's time daemons conflict" in run.stdout
    assert re.search(r"clock offset [+-]\d+\.\d{6} s against 127\.0\.0\.1", run.stdout)
    assert "[ERROR]" not in run.output
    assert "FAILED - RETRYING" not in run.output
    state = time_host.chrony()
    assert (state["reference"], state["leap"]) == ("127.0.0.1", "Normal")
    # The host's file is the real one, not the trial's (which has no driftfile).
    assert time_host.sh("grep -c '^driftfile' /etc/chrony/chrony.conf").strip() == "1"
    # The backup taken while the new file proved itself is gone, and so is the trial.
    assert time_host.sh("ls /etc/chrony/ /run/ | grep -c -e '~$' -e tradebot-chrony-trial; true").strip() == "0"
    assert time_host.sh("pgrep -c -f 'tradebot-chrony-tria[l]'; true").strip() == "0"


def test_an_unreachable_server_leaves_the_previous_configuration_and_sync(time_host: TimeHost) -> None:
    before = time_host.chrony()
    port = free_udp_port("127.0.0.9")
    run = time_host.deploy([{"host": "127.0.0.9", "port": port, "minpoll": 0, "maxpoll": 2}])
    assert run.returncode != 0
    assert recap(run)[HOST]["failed"] == 1
    assert recap(run)[HOST]["changed"] == 0
    assert "FAILED - RETRYING" not in run.output
    output = run.output
    lead = output.index("the new time sources gave chrony no usable source within 20 s")
    line = output.index(f"127.0.0.9 port {port} (bot_host_ntp_servers): did not answer any poll (reach 0)")
    remedy = output.index("change bot_host_ntp_servers")
    raw = output.index("chronyc (trial) tracking: ")
    assert lead < line < remedy < raw, output[-3000:]
    assert "/etc/chrony/chrony.conf was left as it was and chronyd was not restarted" in output
    # Same file, same daemon, still following the working server; the trial left nothing behind.
    assert time_host.chrony() == before
    assert time_host.sh("pgrep -c -f 'tradebot-chrony-tria[l]'; true").strip() == "0"
    assert time_host.sh("ls /run | grep -c tradebot-chrony-trial; true").strip() == "0"


def test_a_dead_source_on_a_synced_host_is_reported(
    time_host: TimeHost, shifted_ntp_server: Callable[[float], NtpServer]
) -> None:
    doomed = shifted_ntp_server(0.0)
    run = time_host.deploy([fast(doomed)])
    assert run.returncode == 0, str(run)
    assert time_host.chrony()["reference"] == doomed.host
    doomed.stop()

    def unanswered() -> bool:
        sources = time_host.sh("chronyc -n -c sources")
        return bool(re.search(rf"^\^,.,{re.escape(doomed.host)},\d+,\d+,0,", sources, re.M))

    wait_for(unanswered, timeout=90, what="chronyd on the host seeing no answer from the stopped server")
    # chronyd still follows it, with a Normal leap status: only the source's reach shows it is gone.
    assert time_host.chrony()["leap"] == "Normal"
    run = time_host.deploy([fast(doomed)])
    assert run.returncode != 0
    assert recap(run)[HOST]["failed"] == 1
    assert re.search(
        rf"chrony still follows {re.escape(doomed.host)} port {doomed.port} \(bot_host_ntp_servers\), which stopped"
        r" answering: none of its last 8 polls answered \(reach 0\)",
        run.output,
    ), run.output[-3000:]
    assert "change bot_host_ntp_servers" in run.output
    assert "FAILED - RETRYING" not in run.output
