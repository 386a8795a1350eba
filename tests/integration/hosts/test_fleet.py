"""The bot hosts are real systemd hosts that Ansible reaches over SSH, and they leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from harness.ansible import run_playbook
from harness.hosts import (
    BASE_PACKAGES,
    CACHE_ROOT,
    BotHostFleet,
    Mirrors,
    apt_mirrors,
    base_tree_path,
    ensure_base_tree,
)

from .footprint import HostFootprint, alive, processes_in_mount_namespace

pytestmark = pytest.mark.hosts

FACTS_PLAYBOOK = """
- hosts: kucoin_bots
  gather_facts: true
  tasks:
    - name: Report what the role will see
      ansible.builtin.copy:
        dest: "{{ report_dir }}/{{ inventory_hostname }}.json"
        content: "{{ report | to_json }}"
      delegate_to: localhost
      vars:
        report:
          hostname: "{{ ansible_facts.hostname }}"
          virtualization_type: "{{ ansible_facts.virtualization_type }}"
          virtualization_role: "{{ ansible_facts.virtualization_role }}"
          virtualization_tech_guest: "{{ ansible_facts.virtualization_tech_guest | sort }}"
          service_mgr: "{{ ansible_facts.service_mgr }}"
          distribution: "{{ ansible_facts.distribution }} {{ ansible_facts.distribution_major_version }}"
          python: "{{ ansible_facts.python.executable }}"
          user: "{{ ansible_facts.user_id }}"
          per_host: "{{ per_host | default(None) }}"
          fleet_wide: "{{ fleet_wide | default(None) }}"
"""


def test_every_host_runs_systemd_as_pid1_with_its_own_identity(bot_fleet: BotHostFleet) -> None:
    seen_ids = set()
    for host in bot_fleet.hosts:
        result = bot_fleet.run(
            host, "cat /proc/1/comm; hostname; cat /etc/machine-id; systemctl is-system-running --wait"
        )
        comm, hostname, machine_id, state = result.stdout.split()
        assert (comm, hostname, state) == ("systemd", host.name, "running"), result.stdout
        seen_ids.add(machine_id)
    assert len(seen_ids) == len(bot_fleet.hosts), "hosts share a machine-id"


def test_every_host_has_a_cgroup_of_its_own(bot_fleet: BotHostFleet) -> None:
    # Shared, the hosts' systemds remove each other's unit cgroups and units fail at random at boot.
    cgroups = {name: Path(f"/proc/{pid}/cgroup").read_text() for name, pid in bot_fleet.nspawn_pids().items()}
    assert len(set(cgroups.values())) == len(bot_fleet.hosts), cgroups
    for host in bot_fleet.hosts:
        assert bot_fleet.run(host, "systemctl --failed --no-legend --plain").stdout == ""


def test_ansible_reaches_every_host_over_ssh_with_the_inventory(bot_fleet: BotHostFleet, tmp_path: Path) -> None:
    inventory = bot_fleet.write_inventory(
        tmp_path / "inventory.yml", hostvars={"bot2": {"per_host": "only-bot2"}}, group_vars={"fleet_wide": "all"}
    )
    playbook = tmp_path / "facts.yml"
    playbook.write_text(FACTS_PLAYBOOK)
    run = run_playbook(playbook, inventory=inventory, args=["-e", f"report_dir={tmp_path}"])
    assert run.returncode == 0, str(run)
    for host in bot_fleet.hosts:
        report = json.loads((tmp_path / f"{host.name}.json").read_text())
        assert report == {
            "hostname": host.name,
            # What the role can use to choose chronyd's monitoring mode: 'container' in virtualization_tech_guest.
            "virtualization_type": "container",
            "virtualization_role": "guest",
            "virtualization_tech_guest": ["container", "systemd-nspawn"],
            "service_mgr": "systemd",
            "distribution": "Debian 12",
            "python": "/usr/bin/python3",
            "user": "root",
            "per_host": "only-bot2" if host.name == "bot2" else None,
            "fleet_wide": "all",
        }


def test_hosts_start_as_a_fresh_cloud_image_would(bot_fleet: BotHostFleet) -> None:
    result = bot_fleet.run(
        "bot1",
        "dpkg-query -W -f='${db:Status-Abbrev}${Package}\\n' chrony python3-httpx 2>/dev/null | grep -c ^ii; "
        "ls /var/lib/apt/lists | grep -c _Packages; "
        "systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer ssh.service",
        check=False,
    )
    lines = result.stdout.split()
    # No chrony, no httpx, no package lists yet: the role has to install and update for real.
    assert lines == ["0", "0", "disabled", "disabled", "enabled"], result.stdout + result.stderr


def test_a_host_writes_only_to_its_own_volatile_layer(bot_fleet: BotHostFleet) -> None:
    marker = f"/etc/tradebot-marker-{time.monotonic_ns()}"
    bot_fleet.run("bot1", f"echo here > {marker}")
    assert bot_fleet.run("bot1", f"cat {marker}").stdout == "here\n"
    assert bot_fleet.run("bot2", f"test -e {marker}", check=False).returncode == 1
    assert bot_fleet.base_tree is not None
    assert not (bot_fleet.base_tree / marker.lstrip("/")).exists()


def test_the_base_tree_is_cached_and_named_after_its_package_list(bot_fleet: BotHostFleet) -> None:
    began = time.monotonic()
    assert ensure_base_tree() == bot_fleet.base_tree
    assert time.monotonic() - began < 1.0, "a built tree must be reused, not rebuilt"
    assert bot_fleet.base_tree.parent == CACHE_ROOT
    mirrors = apt_mirrors()
    assert base_tree_path(BASE_PACKAGES, mirrors) == bot_fleet.base_tree
    assert base_tree_path((*BASE_PACKAGES, "chrony"), mirrors) != bot_fleet.base_tree
    assert base_tree_path(tuple(reversed(BASE_PACKAGES)), mirrors) == bot_fleet.base_tree


def test_apt_mirrors_come_from_the_machines_deb822_sources(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n# comment: not a field\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/security\nSuites: bookworm-security\nComponents: main\n"
    )
    assert apt_mirrors(sources) == Mirrors("http://mirror.example/debian", "http://mirror.example/security")
    assert apt_mirrors(tmp_path / "missing") == Mirrors(
        "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    )


def test_suites_have_their_own_trees_and_the_same_mirrors(tmp_path: Path) -> None:
    # A Debian 13 machine's sources serve bookworm hosts too, and the other way round.
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: trixie trixie-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/security\nSuites: trixie-security\nComponents: main\n"
    )
    mirrors = apt_mirrors(sources)
    assert mirrors == Mirrors("http://mirror.example/debian", "http://mirror.example/security")
    bookworm = base_tree_path(BASE_PACKAGES, mirrors, tmp_path)
    trixie = base_tree_path(BASE_PACKAGES, mirrors, tmp_path, suite="trixie")
    assert bookworm.name.startswith("bookworm-")
    assert trixie.name.startswith("trixie-")
    assert bookworm.parent == trixie.parent == tmp_path
    with pytest.raises(ValueError, match="unknown Debian suite 'sid'; the hosts can run bookworm, trixie"):
        BotHostFleet(tmp_path / "fleet", ["bot1"], suite="sid")


def _footprints(fleet: BotHostFleet) -> dict[str, HostFootprint]:
    return {name: HostFootprint.of(pid) for name, pid in fleet.nspawn_pids().items()}


def _assert_nothing_left(fleet: BotHostFleet, footprints: dict[str, HostFootprint]) -> None:
    mounts = Path("/proc/self/mounts").read_text()
    assert fleet.base_tree is not None
    assert str(fleet.base_tree) not in mounts
    assert str(fleet.workdir) not in mounts
    for name, footprint in footprints.items():
        assert alive(footprint.pids) == set(), f"{name}: processes left behind"
        assert processes_in_mount_namespace(footprint.mount_namespace) == set(), f"{name}: mount namespace lives"
        assert not footprint.volatile_dir.exists(), f"{name}: volatile layer {footprint.volatile_dir} left behind"
        assert footprint.volatile_dir.name not in mounts
    for host in fleet.hosts:
        assert not Path("/run/systemd/nspawn/propagate", host.machine).exists()


def test_teardown_stops_exactly_its_hosts_and_leaves_no_mounts(
    boot_fleet: Callable[[Sequence[str]], BotHostFleet], bot_fleet: BotHostFleet
) -> None:
    neighbours = set(bot_fleet.nspawn_pids().values())
    fleet = boot_fleet(["teardown1", "teardown2"])
    footprints = _footprints(fleet)
    assert all(len(f.pids) > 3 for f in footprints.values()), "expected init, journald, sshd... under each nspawn"
    fleet.stop()
    _assert_nothing_left(fleet, footprints)
    # The session's hosts were not touched.
    assert set(bot_fleet.nspawn_pids().values()) == neighbours
    assert alive(neighbours) == neighbours
    assert bot_fleet.run("bot1", "true").returncode == 0


def test_teardown_also_runs_when_the_test_body_fails(tmp_path: Path) -> None:
    from harness.hosts_fixtures import require_hosts

    require_hosts()
    fleet = BotHostFleet(tmp_path / "fleet", ["failing1"])
    footprints: dict[str, HostFootprint] = {}

    def failing_test_body() -> None:
        with fleet:
            footprints.update(_footprints(fleet))
            raise RuntimeError("the test failed here")

    with pytest.raises(RuntimeError, match="the test failed here"):
        failing_test_body()
    assert footprints
    _assert_nothing_left(fleet, footprints)


def test_a_host_that_cannot_boot_fails_start_clearly_and_stops_the_others(tmp_path: Path) -> None:
    from harness.hosts_fixtures import require_hosts

    require_hosts()
    fleet = BotHostFleet(tmp_path / "fleet", ["good1", "broken1"])
    fleet.hosts[1].machine = "not a valid machine name"  # systemd-nspawn refuses it and exits at once
    with pytest.raises(RuntimeError, match="broken1: systemd-nspawn exited"):
        fleet.start()
    assert fleet.nspawn_pids() == {}
    good_machine = f"--machine={fleet.hosts[0].machine}".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert good_machine not in cmdline.read_bytes(), "good1 was left running"
        except OSError:
            continue


def test_ssh_command_printed_for_people_works(bot_fleet: BotHostFleet) -> None:
    result = subprocess.run(
        [*bot_fleet.ssh_command("bot3").split(), "hostname"], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "bot3"


APT_PLAYBOOK = """
- hosts: kucoin_bots
  gather_facts: false
  tasks:
    - name: Install as the role will (the module bootstraps python3-apt itself)
      ansible.builtin.apt:
        name: python3-httpx
        update_cache: true
        cache_valid_time: 3600
      register: installed
    - name: The package works
      ansible.builtin.command: python3 -c "import httpx; print(httpx.__version__)"
      changed_when: false
"""


def test_ansible_apt_installs_packages_on_a_pristine_host(
    boot_fleet: Callable[[Sequence[str]], BotHostFleet], tmp_path: Path
) -> None:
    fleet = boot_fleet(["apt1"])
    inventory = fleet.write_inventory(tmp_path / "inventory.yml")
    playbook = tmp_path / "apt.yml"
    playbook.write_text(APT_PLAYBOOK)
    first = run_playbook(playbook, inventory=inventory)
    assert first.returncode == 0, str(first)
    assert "changed=1" in first.stdout, str(first)
    again = run_playbook(playbook, inventory=inventory)
    assert again.returncode == 0, str(again)
    assert "changed=0" in again.stdout, str(again)
