"""The machine and software the figures were measured on, read from the system (never typed in)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bench.config import module_python


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _collection_version(namespace: str, name: str) -> str:
    """Read from the `ansible` package's files: importing ansible_collections here would shadow ours later."""
    try:
        manifest = metadata.distribution("ansible").locate_file(f"ansible_collections/{namespace}/{name}/MANIFEST.json")
        return str(json.loads(Path(str(manifest)).read_text())["collection_info"]["version"])
    except (metadata.PackageNotFoundError, OSError, ValueError, KeyError):
        return "not installed"


def _bao_version() -> str:
    from harness.openbao import find_bao

    bao = find_bao()
    if bao is None:
        return "not installed"
    try:
        out = subprocess.run([str(bao), "version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def _ansible_forks() -> str:
    """Forks as ansible-playbook will see them (this repository's ansible.cfg, then Ansible's default)."""
    from harness.ansible import ansible_env

    env = ansible_env()
    try:
        out = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-config"), "dump"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in out.splitlines():
        # e.g. "DEFAULT_FORKS(default) = 5" or "DEFAULT_FORKS(env: ANSIBLE_FORKS) = 7"
        if line.startswith("DEFAULT_FORKS("):
            source, value = line.split(" = ", 1)
            return f"{value.strip()} ({source[len('DEFAULT_FORKS(') : -1]})"
    return "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _python_version(python: str) -> str:
    try:
        done = subprocess.run([python, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return f"unknown ({python})"
    return f"{done.stdout.split()[-1]} ({python})"


def describe() -> dict[str, str]:
    return {
        "Date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPU": _cpu_model(),
        "Cores": str(os.cpu_count() or "unknown"),
        "Memory": _memory_gib(),
        "OS": f"{_os_name()} (kernel {platform.release()})",
        "Python": f"{platform.python_version()} ({sys.executable})",
        "Python of the fleet play's modules": _python_version(module_python()),
        "ansible-core": _version("ansible-core"),
        "ansible (package)": _version("ansible"),
        "Ansible forks": _ansible_forks(),
        "community.hashi_vault": _collection_version("community", "hashi_vault"),
        "hvac": _version("hvac"),
        "httpx": _version("httpx"),
        "OpenBao": _bao_version(),
        "Load average at start (1/5/15 min)": load_average(),
    }
