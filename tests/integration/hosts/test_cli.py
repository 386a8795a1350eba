"""`python -m harness hosts` and `python -m harness ntp` start the pieces by hand and stop them on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ntp import query
from harness.procs import REPO_ROOT, tcp_open

pytestmark = pytest.mark.hosts


def _start(args: list[str], workdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args, "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # ends at EOF if the CLI dies; the pytest timeout of the run bounds it
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    return "".join(lines)


def _interrupt(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_hosts_cli_boots_prints_inventory_and_ssh_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    from harness.hosts_fixtures import require_hosts

    require_hosts()
    process = _start(["hosts", "-n", "2"], tmp_path)
    output = _read_until_ready(process)
    try:
        assert "inventory: " in output, output
        inventory = Path(re.search(r"inventory: (\S+)", output).group(1))  # type: ignore[union-attr]
        assert "kucoin_bots" in inventory.read_text()
        ssh_lines = re.findall(r"^  (bot\d): (ssh .*)$", output, flags=re.MULTILINE)
        assert [name for name, _command in ssh_lines] == ["bot1", "bot2"]
        name, command = ssh_lines[1]
        result = subprocess.run([*command.split(), "hostname"], capture_output=True, text=True, timeout=30, check=True)
        assert result.stdout.strip() == name
    finally:
        assert _interrupt(process) == 0
    port = int(re.search(r"-p (\d+)", command).group(1))  # type: ignore[union-attr]
    assert not tcp_open("127.0.0.1", port), f"sshd on port {port} still listens after Ctrl-C"


def test_ntp_cli_serves_shifted_time_until_ctrl_c(tmp_path: Path) -> None:
    from harness.hosts_fixtures import require_chronyd

    require_chronyd()
    process = _start(["ntp", "--offset", "2"], tmp_path)
    output = _read_until_ready(process)
    try:
        match = re.search(r"NTP server: 127\.0\.0\.1:(\d+)", output)
        assert match, output
        port = int(match.group(1))
        assert query("127.0.0.1", port).offset == pytest.approx(2.0, abs=0.05)
    finally:
        assert _interrupt(process) == 0
    with pytest.raises((ConnectionRefusedError, TimeoutError)):
        query("127.0.0.1", port, timeout=0.3)
