"""Helpers for the tests that prove the host machinery: what runs under a host, and what it mounted."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields after the last ")" are fixed.
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    parents = {pid: _ppid(pid) for pid in (int(name) for name in os.listdir("/proc") if name.isdigit())}
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def mount_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/mnt")


def processes_in_mount_namespace(namespace: str) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/mnt") == namespace:
                    found.add(int(name))
            except OSError:
                continue
    return found


@dataclass
class HostFootprint:
    """What one booted host put on this machine: its processes, mount namespace and volatile layer."""

    pids: set[int]
    init_pid: int
    mount_namespace: str
    volatile_dir: Path

    @classmethod
    def of(cls, nspawn_pid: int) -> HostFootprint:
        pids = descendants(nspawn_pid)
        init_pid = min(pid for pid in pids if _ppid(pid) == nspawn_pid)
        mountinfo = Path(f"/proc/{init_pid}/mountinfo").read_text()
        match = re.search(r"upperdir=([^,\s]+)/upper", mountinfo)
        assert match, f"no overlay root in the container's mounts:\n{mountinfo[:2000]}"
        return cls(pids, init_pid, mount_namespace(init_pid), Path(match.group(1)))
