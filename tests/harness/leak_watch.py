"""Watching directories for secrets while a run goes on, on a bot host over SSH or on this machine.

A short-lived file (a secret Ansible stages for one task and deletes when the task ends) escapes a scan made
before or after the task, so the watcher polls the directories where temporary files go for the whole run,
reading every file that is new or changed since the last poll. The secrets to look for reach it on its
standard input, never in its arguments. It also notes which files were created or replaced (a new inode)
after it started: the proof that it was watching when those files were written.
"""

from __future__ import annotations

import contextlib
import json
import select
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Runs with `python3 -c` wherever it watches: standard library only, no secret in it.
WATCHER = r"""
import json, os, stat, sys, threading, time
config = json.loads(sys.stdin.readline())
probes = [p.encode() for p in config["probes"]]
roots = [os.path.expanduser(r) for r in config["roots"]]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
seen, first_inode, found, written = {}, {}, set(), set()

def scan(baseline=False):
    for root in roots:
        for directory, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if baseline:
                    first_inode[path] = st.st_ino
                elif first_inode.get(path) != st.st_ino:
                    written.add(path)
                signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                if seen.get(path) == signature:
                    continue
                seen[path] = signature
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue
                found.update((path, p.decode()) for p in probes if p in data)

scan(baseline=True)
print("ready", flush=True)
polls, deadline = 1, time.monotonic() + config["timeout"]
while not stop.is_set() and time.monotonic() < deadline:
    stop.wait(config["interval"])
    scan()
    polls += 1
print(json.dumps({"found": sorted(found), "written": sorted(written), "seen": len(seen), "polls": polls,
                  "timed_out": not stop.is_set()}), flush=True)
"""


@dataclass
class WatchReport:
    found: list[tuple[str, str]]  # (absolute path, the secret's probe it held)
    written: list[str]  # files created or replaced (a new inode) while watched
    seen: int  # how many files it saw
    polls: int
    timed_out: bool


class LeakWatch:
    """One watcher process, started by `argv` (see `here` and `over_ssh`)."""

    @classmethod
    def here(cls, roots: Sequence[str], probes: Sequence[str], **options: float) -> LeakWatch:
        return cls([sys.executable, "-c", WATCHER], roots, probes, **options)

    @classmethod
    def over_ssh(cls, ssh: Sequence[str], roots: Sequence[str], probes: Sequence[str], **options: float) -> LeakWatch:
        """`ssh`: the ssh command line up to the destination; the host's python3 runs the watcher."""
        return cls([*ssh, shlex.join(["python3", "-c", WATCHER])], roots, probes, **options)

    def __init__(
        self,
        argv: Sequence[str],
        roots: Sequence[str],
        probes: Sequence[str],
        *,
        interval: float = 0.02,
        timeout: float = 900,
        ready_timeout: float = 60,
    ) -> None:
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        config = {"probes": list(probes), "roots": list(roots), "interval": interval, "timeout": timeout}
        self.process.stdin.write(json.dumps(config) + "\n")
        self.process.stdin.flush()
        # Ready once the first scan has noted every file as it is before the run.
        readable = select.select([self.process.stdout], [], [], ready_timeout)[0]
        line = self.process.stdout.readline() if readable else ""
        if line.strip() != "ready":
            self.process.kill()
            raise RuntimeError(f"the leak watcher did not start within {ready_timeout:.0f}s: {line!r}")

    def stop(self, timeout: float = 120) -> WatchReport:
        """Stop after one last poll; the report of everything seen."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a watcher past its own deadline has gone already
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
        out = self.process.communicate(timeout=timeout)[0]
        if self.process.returncode != 0 or not out.strip():
            raise RuntimeError(f"the leak watcher failed (exit {self.process.returncode})")
        report = json.loads(out.strip().splitlines()[-1])
        return WatchReport(
            found=[tuple(hit) for hit in report["found"]],
            written=report["written"],
            seen=report["seen"],
            polls=report["polls"],
            timed_out=report["timed_out"],
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def controller_temp_env(directory: Path) -> dict[str, str]:
    """Environment that puts ansible-playbook's temporary files (Ansible's and Python's) under `directory`,
    so that a watcher knows where to look."""
    ansible_tmp, tmp = directory / "ansible", directory / "tmp"
    ansible_tmp.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    return {"ANSIBLE_LOCAL_TEMP": str(ansible_tmp), "TMPDIR": str(tmp)}
