"""Running the real ansible-playbook of the interpreter that runs the tests, against this collection."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.procs import OUTPUT_DIR, REPO_ROOT

COLLECTIONS_DIR = OUTPUT_DIR / "collections"
COLLECTION_LINK = COLLECTIONS_DIR / "ansible_collections" / "tradebot" / "kucoin"
BIN_DIR = Path(sys.executable).parent


def ensure_collection_link() -> Path:
    """Make `tradebot.kucoin` importable from this checkout (same link as `make collection`)."""
    COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
    if not COLLECTION_LINK.is_symlink() or COLLECTION_LINK.resolve() != REPO_ROOT:
        tmp = COLLECTION_LINK.with_name(".kucoin.tmp")
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(REPO_ROOT)
        tmp.replace(COLLECTION_LINK)
    return COLLECTIONS_DIR


def ansible_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(ensure_collection_link()),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "PATH": f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if extra:
        env.update(extra)
    return env


# For plays against localhost: no SSH, and modules run by the interpreter that has the test's libraries.
LOCAL = ("-c", "local", "-e", f"ansible_python_interpreter={sys.executable}")


def write_local_inventory(path: Path, hosts: Sequence[str], group: str = "fleet", **group_vars: object) -> Path:
    """An inventory of `hosts` that all run locally; group_vars become the group's vars."""
    import json

    inventory = {
        group: {
            "hosts": dict.fromkeys(hosts),
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **group_vars},
        }
    }
    path.write_text(json.dumps(inventory))  # JSON is valid YAML
    return path


@dataclass
class PlaybookRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\nrc={self.returncode}\n{self.output[-6000:]}"


def _playbook_argv(playbook: Path | str, inventory: Path | str | None, args: Sequence[str]) -> list[str]:
    argv = [str(BIN_DIR / "ansible-playbook"), str(playbook)]
    if inventory is not None:
        argv += ["-i", str(inventory)]
    return argv + list(args)


def run_playbook(
    playbook: Path | str,
    *,
    inventory: Path | str | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
) -> PlaybookRun:
    argv = _playbook_argv(playbook, inventory, args)
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=ansible_env(env),
        cwd=cwd or REPO_ROOT,
        timeout=timeout,
        check=False,
    )
    return PlaybookRun(argv, proc.returncode, proc.stdout, proc.stderr)


def start_playbook(
    playbook: Path | str,
    *,
    log: Path,
    inventory: Path | str | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """ansible-playbook in the background, in a session of its own (so a test can kill the whole run),
    its output going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            _playbook_argv(playbook, inventory, args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ansible_env(env),
            cwd=REPO_ROOT,
            start_new_session=True,
        )
