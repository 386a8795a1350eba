"""Bot hosts for tests and the demo: real Debian systemd hosts booted with systemd-nspawn, reached over SSH.

A fleet runs one Debian suite, bookworm (Debian 12, the default) or trixie (Debian 13). One base tree per suite
is built with debootstrap and cached under /var/cache/tradebot-kucoin (rebuilt when its package list or
preparation changes). Each host boots from it with `--volatile=overlay`, so every boot starts pristine
and any number of hosts share the tree. Hosts share the machine's network: each sshd listens on its own
127.0.0.1 port, and inside a host 127.0.0.1:<port> reaches the controller's OpenBao, sandbox and NTP server.

`python -m harness hosts [-n 3] [--suite trixie]` boots hosts by hand and prints the inventory and ssh commands.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.procs import OUTPUT_DIR, ManagedProcess, free_port, tcp_open, wait_for

# The Debian releases the role supports as bot hosts; tests boot the first unless they ask for another.
SUITES: tuple[str, ...] = ("bookworm", "trixie")
DEFAULT_SUITE = SUITES[0]
# What a fresh cloud image has; the role installs everything else (chrony, python3-httpx) for real.
BASE_PACKAGES: tuple[str, ...] = ("systemd", "systemd-sysv", "dbus", "python3", "openssh-server")
# Bump when _prepare_tree() changes what it writes: the tree's name (its cache key) changes with it.
TREE_SETUP_VERSION = 1
CACHE_ROOT = Path("/var/cache/tradebot-kucoin")
APT_ARCHIVES = CACHE_ROOT / "apt-archives"
DEBOOTSTRAP_DEBS = CACHE_ROOT / "debootstrap-debs"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Timers and services that would fight the tests (apt locks taken at random times) or fail in a container.
UNITS_TO_DISABLE = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
)
SSH_OPTIONS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
)
BOOT_TIMEOUT = 90.0


class HostCommandError(subprocess.CalledProcessError):
    """A command over ssh failed; the message carries the host, the command and the end of its output."""

    def __init__(self, host: str, command: str, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(result.returncode, result.args, result.stdout, result.stderr)
        self.host = host
        self.command = command

    def __str__(self) -> str:
        return (
            f"on {self.host}: {self.command!r} exited {self.returncode}\n"
            f"stdout: {(self.stdout or '')[-2000:]}\nstderr: {(self.stderr or '')[-2000:]}"
        )


class HostsUnavailable(RuntimeError):
    """This machine cannot boot bot hosts (not root, or a tool is missing); the message says what to do."""


def missing_requirements() -> str | None:
    """Why hosts cannot boot here, or None when they can."""
    if os.geteuid() != 0:
        return "booting systemd-nspawn bot hosts needs root"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap")):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is missing (Debian package {package}; run scripts/system-deps.sh)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian package openssh-client; run scripts/system-deps.sh)"
    return None


# --- the base tree ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mirrors:
    main: str = DEFAULT_MIRROR
    security: str = DEFAULT_SECURITY_MIRROR


def apt_mirrors(sources: Path = APT_SOURCES) -> Mirrors:
    """The mirrors this machine's apt already uses (deb822 sources), so the hosts fetch from the same place.

    Whatever suite this machine runs, the same mirrors serve every suite a fleet may boot."""
    try:
        text = sources.read_text()
    except OSError:
        return Mirrors()
    main = security = None
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                key, _sep, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or not fields.get("uris"):
            continue
        uri = fields["uris"].split()[0].rstrip("/")
        suites = fields.get("suites", "").split()
        if any(not suite.endswith("-security") for suite in suites) and main is None:
            main = uri
        if any(suite.endswith("-security") for suite in suites) and security is None:
            security = uri
    return Mirrors(main or DEFAULT_MIRROR, security or DEFAULT_SECURITY_MIRROR)


def _sources_file(mirrors: Mirrors, suite: str = DEFAULT_SUITE) -> str:
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    return (
        f"Types: deb\nURIs: {mirrors.main}\nSuites: {suite} {suite}-updates\nComponents: main\nSigned-By: {keyring}\n\n"
        f"Types: deb\nURIs: {mirrors.security}\nSuites: {suite}-security\nComponents: main\nSigned-By: {keyring}\n"
    )


def _check_suite(suite: str) -> str:
    if suite not in SUITES:
        raise ValueError(f"unknown Debian suite {suite!r}; the hosts can run {', '.join(SUITES)}")
    return suite


def base_tree_path(
    packages: Sequence[str] = BASE_PACKAGES,
    mirrors: Mirrors | None = None,
    cache_root: Path | None = None,
    suite: str = DEFAULT_SUITE,
) -> Path:
    """Where the tree for this suite, package list and preparation lives; a change in any names a new tree."""
    key = json.dumps(
        {
            "suite": _check_suite(suite),
            "packages": sorted(packages),
            "setup": TREE_SETUP_VERSION,
            "sources": _sources_file(mirrors or apt_mirrors(), suite),
        },
        sort_keys=True,
    )
    return (cache_root or CACHE_ROOT) / f"{suite}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_base_tree(
    packages: Sequence[str] = BASE_PACKAGES, cache_root: Path | None = None, suite: str = DEFAULT_SUITE
) -> Path:
    """The cached base tree, built first if missing. A lock keeps parallel runs from building it twice."""
    mirrors = apt_mirrors()
    cache_root = cache_root or CACHE_ROOT
    tree = base_tree_path(packages, mirrors, cache_root, suite)
    if (tree / "usr/bin/python3").exists():
        return tree
    cache_root.mkdir(parents=True, exist_ok=True)
    with (cache_root / f"{suite}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if (tree / "usr/bin/python3").exists():
            return tree  # another run built it while we waited
        # Holding the lock, no one else is building: leftovers are from runs that died mid-build.
        for stale in cache_root.glob(f".{suite}-*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        partial = cache_root / f".{tree.name}.partial"
        log_path = cache_root / f"{tree.name}.build.log"
        debs = cache_root / DEBOOTSTRAP_DEBS.name
        debs.mkdir(parents=True, exist_ok=True)
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            f"--cache-dir={debs}",
            suite,
            str(partial),
            mirrors.main,
        ]
        with log_path.open("w") as log:
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            shutil.rmtree(partial, ignore_errors=True)
            raise RuntimeError(f"debootstrap failed (exit {result.returncode}); log {log_path}:\n{tail}")
        _prepare_tree(partial, mirrors, suite)
        partial.rename(tree)  # atomic: a tree at the final name is always complete
    return tree


def _prepare_tree(root: Path, mirrors: Mirrors, suite: str) -> None:
    """Only what booting needs; everything a bot needs is the role's job."""
    # Empty machine-id: each boot gets the container UUID nspawn passes (not "first boot", so no presets run).
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.is_file() and not dbus_id.is_symlink():
        dbus_id.unlink()
    # debootstrap copies the build machine's hostname; without the file systemd keeps the one nspawn sets.
    (root / "etc/hostname").unlink(missing_ok=True)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    # apt as on a fresh cloud image: the full suite with updates and security, empty package lists.
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(_sources_file(mirrors, suite))
    for entry in (root / "var/lib/apt/lists").iterdir():
        if entry.is_file() and entry.name != "lock":
            entry.unlink()
    # Hosts bind a cached archive directory over /var/cache/apt/archives so boots don't refetch packages;
    # apt must keep what it downloads there (the `apt` front end deletes by default).
    (root / "etc/apt/apt.conf.d/90tradebot-keep-archives").write_text(
        'APT::Keep-Downloaded-Packages "true";\nBinary::apt::APT::Keep-Downloaded-Packages "true";\n'
    )
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    # Only the units this suite's minimal system has (trixie's minbase lacks some of bookworm's).
    present = [
        unit
        for unit in UNITS_TO_DISABLE
        if any((root / directory / unit).exists() for directory in ("usr/lib/systemd/system", "lib/systemd/system"))
    ]
    subprocess.run(
        ["systemctl", f"--root={root}", "disable", "--quiet", *present],
        check=True,
        capture_output=True,
    )
    # sshd host keys stay as debootstrap's postinst made them: shared by every host, fine for test hosts.


class ArchiveSlot:
    """A package cache directory that one running host at a time owns (a flock held until the host stops).

    apt does not wait for /var/cache/apt/archives/lock: two hosts sharing one directory make each other's
    installs fail. So each host gets a slot of its own, and slots outlive boots so the cache stays warm.
    """

    def __init__(self, tree: Path, suite: str = DEFAULT_SUITE) -> None:
        # One set of slots per suite: the package versions differ.
        archives = APT_ARCHIVES / suite
        archives.mkdir(parents=True, exist_ok=True)
        index = 0
        while True:
            lock = (archives / f"slot-{index}.lock").open("a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                index += 1
                continue
            break
        self._lock = lock
        self.path = archives / f"slot-{index}"
        partial = self.path / "partial"
        partial.mkdir(parents=True, exist_ok=True)
        # Warm a new slot with what the others fetched. Hard links are safe: apt replaces files by rename and
        # deletes by unlink, so no host can change a package another slot sees.
        for deb in archives.glob("slot-*/*.deb"):
            target = self.path / deb.name
            if not target.exists():
                with contextlib.suppress(OSError):
                    os.link(deb, target)
        # apt downloads as the tree's _apt user; give it the partial directory so it need not fall back to root.
        for line in (tree / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "_apt":
                os.chown(partial, int(fields[2]), 0)
                partial.chmod(0o700)

    def release(self) -> None:
        self._lock.close()


class HostCgroup:
    """A cgroup of the host's own in each hierarchy its systemd tracks services in (name=systemd, cgroup2).

    Without one, every nspawn started from the same cgroup (with --keep-unit, or on a machine whose PID 1 is
    not systemd) hands its container the same cgroup: the containers' systemds then create and remove the same
    `system.slice/<unit>` directories, and a unit fails at random with "Failed at step CGROUP".
    """

    def __init__(self, machine: str) -> None:
        self.paths: list[Path] = []
        for hierarchy, own_path in _systemd_cgroup_hierarchies():
            path = hierarchy / own_path.lstrip("/") / f"tradebot-{machine}"
            try:
                path.mkdir()
            except OSError:
                continue  # not delegated to us: nspawn shares our cgroup, as it did before
            self.paths.append(path)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv, started inside this cgroup (the shell joins it, then execs argv in its place)."""
        if not self.paths:
            return list(argv)
        join = "; ".join(f'echo $$ > "${index + 1}/cgroup.procs"' for index in range(len(self.paths)))
        script = f'{join}; shift {len(self.paths)}; exec "$@"'
        return ["sh", "-ec", script, "sh", *map(str, self.paths), *argv]

    def remove(self) -> None:
        for path in self.paths:
            for directory, _dirs, _files in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
        self.paths.clear()


def _systemd_cgroup_hierarchies() -> list[tuple[Path, str]]:
    """(mount point, this process's path in it) for the v1 name=systemd hierarchy and the cgroup2 one."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2":
            mounts.setdefault("", Path(fields[1]))
        elif fields[2] == "cgroup" and "name=systemd" in fields[3].split(","):
            mounts["name=systemd"] = Path(fields[1])
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _number, controllers, own_path = line.split(":", 2)
        if controllers in mounts:
            found.append((mounts[controllers], own_path))
    return found


# --- the fleet ----------------------------------------------------------------------------------------------


@dataclass
class BotHost:
    name: str
    ssh_port: int
    address: str = "127.0.0.1"
    machine: str = ""  # the nspawn machine name (unique per fleet, so fleets can run side by side)


class BotHostFleet:
    """N booted hosts from the base tree of one Debian suite; stop() ends exactly the nspawn processes start()
    began."""

    def __init__(self, workdir: Path, names: Sequence[str], suite: str = DEFAULT_SUITE) -> None:
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"host names must be distinct and non-empty: {list(names)}")
        self.suite = _check_suite(suite)
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.fleet_id = secrets.token_hex(3)
        self.hosts = [BotHost(name, free_port(), machine=f"{name}-{self.fleet_id}") for name in names]
        self.ssh_private_key = workdir / "id_ed25519"
        self.authorized_keys = workdir / "authorized_keys"
        self.base_tree: Path | None = None
        self._processes: dict[str, ManagedProcess] = {}
        self._archive_slots: list[ArchiveSlot] = []
        self._cgroups: list[HostCgroup] = []
        self.timings: dict[str, float] = {}

    # lifecycle
    def start(self) -> BotHostFleet:
        reason = missing_requirements()
        if reason:
            raise HostsUnavailable(reason)
        began = time.monotonic()
        self.base_tree = ensure_base_tree(suite=self.suite)
        self.timings["base_tree"] = time.monotonic() - began
        self._make_key()
        began = time.monotonic()
        try:
            # All hosts boot at once; each wait below then mostly finds its host already up.
            for host in self.hosts:
                self._boot(host)
            for host in self.hosts:
                self._wait_ready(host)
        except BaseException:
            self.stop()
            raise
        self.timings["boot"] = time.monotonic() - began
        return self

    def _make_key(self) -> None:
        if not self.ssh_private_key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tradebot-test", "-f", str(self.ssh_private_key)],
                check=True,
                capture_output=True,
            )
        self.ssh_private_key.chmod(0o600)
        public = self.ssh_private_key.with_name(self.ssh_private_key.name + ".pub").read_text()
        self.authorized_keys.write_text(public)
        self.authorized_keys.chmod(0o600)

    def _boot(self, host: BotHost) -> None:
        assert self.base_tree is not None
        archives = ArchiveSlot(self.base_tree, self.suite)
        self._archive_slots.append(archives)
        cgroup = HostCgroup(host.machine)
        self._cgroups.append(cgroup)
        sshd_config = self.workdir / f"{host.name}.sshd.conf"
        sshd_config.write_text(
            f"Port {host.ssh_port}\nListenAddress {host.address}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n"
        )
        argv = [
            "systemd-nspawn",
            "-q",
            "--register=no",  # no machined on this machine; registering fails
            "--keep-unit",
            f"--directory={self.base_tree}",
            f"--machine={host.machine}",
            f"--hostname={host.name}",
            "--volatile=overlay",  # writes go to a tmpfs layer: every boot is pristine, the tree stays shared
            "--console=read-only",  # boot messages into the log; nothing reads our stdin
            "--resolv-conf=copy-host",
            f"--bind-ro={sshd_config}:/etc/ssh/sshd_config.d/tradebot-test.conf",
            f"--bind-ro={self.authorized_keys}:/root/.ssh/authorized_keys",
            f"--bind={archives.path}:/var/cache/apt/archives",
            "--boot",
            "systemd.log_color=no",
        ]
        self._processes[host.name] = ManagedProcess(
            cgroup.wrap(argv), log_path=self.workdir / f"{host.name}.console.log"
        )

    def _wait_ready(self, host: BotHost) -> None:
        process = self._processes[host.name]
        deadline = time.monotonic() + BOOT_TIMEOUT
        # Own loop rather than wait_for: a host whose nspawn died must fail now, not at the deadline.
        while not tcp_open(host.address, host.ssh_port):
            if not process.alive():
                raise RuntimeError(f"{host.name}: systemd-nspawn exited:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"sshd of {host.name} not listening on port {host.ssh_port} after {BOOT_TIMEOUT:.0f}s; "
                    f"console ({process.log_path}):\n{process.log_tail()}"
                )
            time.sleep(0.05)
        wait_for(
            lambda: self.run(host, "true", check=False, timeout=10).returncode == 0,
            timeout=30,
            what=f"ssh root@{host.address} -p {host.ssh_port} on {host.name}",
        )

    def stop(self) -> None:
        """Ask every host to power off at once (nspawn turns SIGTERM into a clean shutdown), then wait."""
        processes = list(self._processes.values())
        if processes:
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(processes)) as pool:
                list(pool.map(lambda p: p.stop(timeout=30), processes))
        self._processes.clear()
        for slot in self._archive_slots:
            slot.release()
        self._archive_slots.clear()
        for cgroup in self._cgroups:
            cgroup.remove()
        self._cgroups.clear()

    def __enter__(self) -> BotHostFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # use
    def host(self, name: str | BotHost) -> BotHost:
        if isinstance(name, BotHost):
            return name
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r} in this fleet ({', '.join(h.name for h in self.hosts)})")

    def nspawn_pids(self) -> dict[str, int]:
        """The systemd-nspawn process of each running host (what stop() signals)."""
        return {name: process.pid for name, process in self._processes.items() if process.alive()}

    def ssh_argv(self, host: str | BotHost) -> list[str]:
        target = self.host(host)
        return ["ssh", "-i", str(self.ssh_private_key), "-p", str(target.ssh_port), *SSH_OPTIONS]

    def ssh_command(self, host: str | BotHost) -> str:
        target = self.host(host)
        return shlex.join([*self.ssh_argv(target), f"root@{target.address}"])

    def run(
        self, host: str | BotHost, command: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host as root over ssh."""
        target = self.host(host)
        result = subprocess.run(
            [*self.ssh_argv(target), f"root@{target.address}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise HostCommandError(target.name, command, result)
        return result

    def write_inventory(
        self,
        path: Path,
        group: str = "kucoin_bots",
        hostvars: Mapping[str, Mapping[str, Any]] | None = None,
        group_vars: Mapping[str, Any] | None = None,
    ) -> Path:
        """A YAML inventory: connection settings per host (so merging with other inventories keeps them)."""
        import yaml

        hostvars = hostvars or {}
        unknown = set(hostvars) - {h.name for h in self.hosts}
        if unknown:
            raise KeyError(f"hostvars for hosts not in this fleet: {sorted(unknown)}")
        common_args = " ".join(SSH_OPTIONS[:8])  # BatchMode is ansible's own business
        hosts = {
            host.name: {
                "ansible_host": host.address,
                "ansible_port": host.ssh_port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.ssh_private_key),
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_common_args": common_args,
                # Modules go over ssh's stdin: one ssh round trip per task instead of three, and the module
                # (with its arguments) is never written to a file on the host.
                "ansible_pipelining": True,
                **dict(hostvars.get(host.name, {})),
            }
            for host in self.hosts
        }
        inventory = {"all": {"children": {group: {"hosts": hosts, "vars": dict(group_vars or {})}}}}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False))
        return path


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness hosts", description=__doc__)
    parser.add_argument("-n", "--count", type=int, default=3, help="how many hosts (bot1..botN)")
    parser.add_argument("--workdir", type=Path, help="where the key, inventory and console logs go")
    parser.add_argument("--suite", choices=SUITES, default=DEFAULT_SUITE, help="the hosts' Debian suite")
    options = parser.parse_args(argv)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="hosts-", dir=OUTPUT_DIR))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    names = [f"bot{i}" for i in range(1, options.count + 1)]
    try:
        with BotHostFleet(workdir, names, options.suite) as fleet:
            inventory = fleet.write_inventory(workdir / "inventory.yml")
            print(f"base tree ({fleet.suite}): {fleet.base_tree} ({fleet.timings['base_tree']:.1f}s)")
            print(f"booted {len(names)} hosts in {fleet.timings['boot']:.1f}s")
            print(f"inventory: {inventory}")
            print(f"try: ansible -i {inventory} kucoin_bots -m ping")
            for host in fleet.hosts:
                print(f"  {host.name}: {fleet.ssh_command(host)}")
            print("Ctrl-C stops them.", flush=True)
            stop.wait()
    except HostsUnavailable as exc:
        print(f"cannot boot hosts: {exc}")
        return 1
    return 0
