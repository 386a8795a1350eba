"""A real chronyd inside a booted host syncs from the local NTP server: the path the role takes.

The recipe below is what the role does for a container host (the kernel's clock belongs to the machine):
lift chrony.service's CAP_SYS_TIME condition with a drop-in and run chronyd with -x, so it measures the
offset without touching the clock. Hosts share the machine's network, so chronyd's UDP command port must be
off (`cmdport 0`) or the hosts' chronyc would talk to each other's daemons; chronyc uses the Unix socket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from harness.hosts import BotHostFleet
from harness.ntp import NtpServer
from harness.procs import wait_for

pytestmark = pytest.mark.hosts

CONTAINER_RECIPE = r"""
set -e
mkdir -p /etc/systemd/system/chrony.service.d
printf '[Unit]\nConditionCapability=\n' > /etc/systemd/system/chrony.service.d/container.conf
sed -i 's/^DAEMON_OPTS=.*/DAEMON_OPTS="-F 1 -x"/' /etc/default/chrony
sed -i 's/^pool /#pool /' /etc/chrony/chrony.conf
printf 'server 127.0.0.1 port {port} iburst\n' > /etc/chrony/sources.d/test.sources
printf 'cmdport 0\n' > /etc/chrony/conf.d/no-cmdport.conf
systemctl daemon-reload
systemctl restart chrony
"""


@dataclass
class Source:
    state: str  # "*" selected, "+" combined, "?" unusable...
    name: str
    stratum: int
    reach: int
    offset: float  # seconds, local clock minus source (negative: the source is ahead)


def sources(fleet: BotHostFleet, host: str) -> list[Source]:
    lines = fleet.run(host, "chronyc -c -n sources").stdout.splitlines()
    return [Source(f[1], f[2], int(f[3]), int(f[5], 8), float(f[8])) for f in (line.split(",") for line in lines) if f]


def selected_source(fleet: BotHostFleet, host: str) -> Source | None:
    return next((s for s in sources(fleet, host) if s.state == "*"), None)


def tracking(fleet: BotHostFleet, host: str) -> dict[str, str]:
    fields = fleet.run(host, "chronyc -c tracking").stdout.strip().split(",")
    names = ["ref_id", "ref_name", "stratum", "ref_time", "system_time", "last_offset", "rms_offset"]
    return {**dict(zip(names, fields, strict=False)), "leap_status": fields[-1]}


def test_chronyd_in_a_host_syncs_from_the_ntp_server_and_measures_a_shifted_one(
    boot_fleet: Callable[[Sequence[str]], BotHostFleet],
    ntp_server: NtpServer,
    shifted_ntp_server: Callable[[float], NtpServer],
) -> None:
    fleet = boot_fleet(["chrony1"])  # its own host: installing chrony would spoil the session's pristine hosts
    fleet.run("chrony1", "apt-get update -qq")
    fleet.run("chrony1", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chrony")
    # Installed as on any container: the unit is skipped for lack of CAP_SYS_TIME.
    status = fleet.run("chrony1", "systemctl show -P ConditionResult chrony.service").stdout.strip()
    assert status == "no"

    fleet.run("chrony1", CONTAINER_RECIPE.format(port=ntp_server.port))
    assert fleet.run("chrony1", "systemctl is-active chrony").stdout.strip() == "active"
    source = wait_for(lambda: selected_source(fleet, "chrony1"), timeout=60, what="chronyd selecting the source")
    assert (source.name, source.stratum) == ("127.0.0.1", 8)
    assert abs(source.offset) < 0.05
    state = tracking(fleet, "chrony1")
    assert (state["ref_name"], state["stratum"], state["leap_status"]) == ("127.0.0.1", "9", "Normal")
    assert abs(float(state["last_offset"])) < 0.05

    # The same chronyd pointed at a server 3 s ahead measures -3 s; with -x the clock itself stays put, so
    # tracking's "System time" stays near 0 and "Last offset" (and the source's sample) carry the offset.
    shifted = shifted_ntp_server(3.0)
    fleet.run(
        "chrony1",
        f"printf 'server {shifted.host} port {shifted.port} iburst\\n' > /etc/chrony/sources.d/test.sources"
        " && chronyc reload sources",
    )

    def shifted_sample() -> Source | None:
        current = selected_source(fleet, "chrony1")
        return current if current and current.offset < -1 else None

    source = wait_for(shifted_sample, timeout=60, what="chronyd measuring the shifted server")
    assert source.name == shifted.host == "127.0.0.2"
    assert source.offset == pytest.approx(-3.0, abs=0.05)
    state = tracking(fleet, "chrony1")
    assert state["ref_name"] == "127.0.0.2"
    assert float(state["last_offset"]) == pytest.approx(-3.0, abs=0.05)
    assert abs(float(state["system_time"])) < 0.05
