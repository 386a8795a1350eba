"""The collection as users get it: `ansible-galaxy collection build` and `install` into an empty directory.

The build runs on a copy of the tracked tree to which the local-only files of a developer's checkout are added
(virtualenvs, caches, test and benchmark output, a local inventory, an earlier tarball), so a test of the
tarball's contents also proves that galaxy.yml's build_ignore keeps them out. Ansible then runs from an empty
directory with only the installed copy on its collections path: nothing of the checkout is in reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.ansible import BIN_DIR
from harness.procs import REPO_ROOT

NAMESPACE, NAME = "tradebot", "kucoin"
# What a user's tarball holds: these files and the tracked files under these directories, nothing else.
SHIPPED_FILES = ("README.md", "LICENSE", "requirements.txt")
SHIPPED_DIRS = ("changelogs", "docs", "examples", "meta", "playbooks", "plugins", "roles")
# Metadata ansible-galaxy writes into every tarball.
GALAXY_FILES = ("MANIFEST.json", "FILES.json")
# Files that appear in a developer's checkout and must never ship.
LOCAL_ONLY = (
    ".ansible/collections/ansible_collections/community/general/MANIFEST.json",
    ".venv/bin/python",
    ".venv-2.21/pyvenv.cfg",
    ".pytest_cache/README.md",
    ".ruff_cache/CACHEDIR.TAG",
    ".mypy_cache/CACHEDIR.TAG",
    "tests/output/junit-tiers/unit-venv.xml",
    "bench/output/results.json",
    "inventory/hosts.yml",
    "changelogs/.plugin-cache.yaml",
    "plugins/filter/__pycache__/strategies.cpython-311.pyc",
    "plugins/module_utils/kucoin_signing.pyc",
    "roles/bot_host/tasks/.main.yml.swp",
    f"{NAMESPACE}-{NAME}-0.0.1.tar.gz",
)
# Plugin types whose files are plugins (module_utils, plugin_utils and doc_fragments are not).
PLUGIN_TYPES = {
    "modules": "module",
    "lookup": "lookup",
    "filter": "filter",
    "test": "test",
    "inventory": "inventory",
    "callback": "callback",
    "connection": "connection",
    "action": None,
}


def tracked_files(root: Path = REPO_ROOT) -> list[str]:
    """The checkout's tracked files (symbolic links included) that exist in the work tree."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True, text=True
    ).stdout.split("\0")
    return sorted(path for path in listed if path and os.path.lexists(root / path))


def shipped(paths: Sequence[str]) -> set[str]:
    """Of `paths`, those a user's tarball must hold."""
    return {p for p in paths if p in SHIPPED_FILES or p.split("/", 1)[0] in SHIPPED_DIRS}


def checkout_copy(dest: Path, root: Path = REPO_ROOT) -> Path:
    """A copy of the tracked tree with the local-only files added; links stay links."""
    for path in tracked_files(root):
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, target, follow_symlinks=False)
    for path in LOCAL_ONLY:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("local only\n")
    return dest


def galaxy(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(BIN_DIR / "ansible-galaxy"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env or os.environ),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-galaxy {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def build(source: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    galaxy("collection", "build", "--output-path", str(out_dir), str(source), cwd=out_dir)
    (tarball,) = out_dir.glob(f"{NAMESPACE}-{NAME}-*.tar.gz")
    return tarball


def tar_members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    """The tarball's files and links by path (directories left out)."""
    with tarfile.open(tarball) as tar:
        return {member.name: member for member in tar.getmembers() if not member.isdir()}


@dataclass(frozen=True)
class InstalledCollection:
    """tradebot.kucoin installed from `tarball` under `collections`, and a working directory beside it."""

    tarball: Path
    collections: Path
    workdir: Path

    @property
    def path(self) -> Path:
        return self.collections / "ansible_collections" / NAMESPACE / NAME

    def env(self) -> dict[str, str]:
        """Settings that point Ansible at the installed copy only (merged over harness.ansible.ansible_env)."""
        return {
            "ANSIBLE_CONFIG": str(self.workdir / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
            "ANSIBLE_ROLES_PATH": str(self.workdir / "roles"),
        }

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        from harness.ansible import ansible_env

        return subprocess.run(
            [str(BIN_DIR / tool), *args],
            capture_output=True,
            text=True,
            cwd=self.workdir,
            env=ansible_env(self.env()),
            check=False,
        )


def install(tarball: Path, dest: Path) -> InstalledCollection:
    """Install `tarball` into the empty directory `dest`/collections; `dest`/work is where Ansible runs."""
    collections, workdir = dest / "collections", dest / "work"
    collections.mkdir(parents=True)
    workdir.mkdir(parents=True)
    # A user's own ansible.cfg, nothing from the checkout.
    (workdir / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\nretry_files_enabled = False\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg")}
    galaxy("collection", "install", "--offline", "-p", str(collections), str(tarball), cwd=workdir, env=env)
    return InstalledCollection(tarball, collections, workdir)


def build_and_install(dest: Path, root: Path = REPO_ROOT) -> InstalledCollection:
    """Build from a copy of `root` with local-only files added, and install into `dest`."""
    return install(build(checkout_copy(dest / "checkout", root), dest / "dist"), dest / "installed")


def plugin_names(collection: Path) -> dict[str, list[str]]:
    """ansible-doc type -> the collection's plugin names, read from its files (filter and test docs are .yml)."""
    found: dict[str, list[str]] = {}
    for directory, kind in PLUGIN_TYPES.items():
        base = collection / "plugins" / directory
        if kind is None or not base.is_dir():
            continue
        suffix = ".yml" if kind in ("filter", "test") else ".py"
        names = sorted(p.stem for p in base.glob(f"*{suffix}") if not p.name.startswith("_"))
        if names:
            found[kind] = names
    return found
