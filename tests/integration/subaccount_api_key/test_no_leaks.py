"""Neither a new key's secret and passphrase nor the old key's appear in -vvvv output, Ansible's log or any file
the run leaves on the controller, on success and on a failed Vault write."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.kucoin_sandbox import SandboxKey

from .conftest import Rotation

pytestmark = [pytest.mark.sandbox, pytest.mark.vault]
SCAN_LIMIT = 8 * 1024 * 1024  # bytes read per file


def files_changed_since(roots: list[Path], since: float) -> list[Path]:
    """Regular files under `roots` changed since `since`; other processes' files may vanish while walking."""
    found = []
    for root in roots:
        for directory, _dirs, names in os.walk(root, onerror=lambda _error: None):
            for name in names:
                path = Path(directory, name)
                try:
                    if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since:
                        found.append(path)
                except OSError:
                    continue
    return found


def test_no_secret_in_verbose_output_or_controller_files(rotation: Rotation, tmp_path: Path) -> None:
    made: list[SandboxKey] = []
    add_key = rotation.sandbox.add_key

    def recording_add_key(key: SandboxKey) -> SandboxKey:
        made.append(key)
        return add_key(key)

    rotation.sandbox.add_key = recording_add_key  # type: ignore[method-assign]  # the sandbox runs in this process
    started = time.time() - 1
    old = rotation.seed(age_days=85)
    runs = [rotation.run("-vvvv")]
    new_key = runs[0].result["api_key"]
    runs.append(rotation.run("-vvvv", state="absent", api_key=old.api_key))
    runs.append(rotation.run("-vvvv", rotate=True, vault=rotation.vault(token=rotation.reader_token)))
    runs.append(rotation.run("-vvvv", state="info"))
    assert [run.failed for run in runs] == [False, False, True, False], runs
    assert runs[1].result["deleted"]
    assert len(made) == 3  # the seeded key, the rotation's, and the one the failed write deleted again

    secrets = {old.secret, old.passphrase}
    for key in made[1:]:
        secrets |= {key.secret, key.passphrase}
    assert rotation.current()[1]["api_secret"] == rotation.sandbox.keys[new_key].secret  # the values really moved
    output = "\n".join(run.playbook.output for run in runs)
    assert "TASK [Manage the sub-account key]" in output
    for value in secrets:
        assert value not in output

    # Every run's TMPDIR is in tmp_path (Rotation.run), so the files Ansible and Python make in temp are here too.
    roots = [tmp_path, Path.home() / ".ansible", Path.home() / ".cache" / "tradebot.kucoin", rotation.bao.workdir]
    scanned = files_changed_since(roots, started)
    assert tmp_path / "ansible.log" in scanned
    for path in scanned:
        try:
            with path.open("rb") as handle:
                content = handle.read(SCAN_LIMIT)
        except OSError:
            continue
        for value in secrets:
            assert value.encode() not in content, f"{path} holds a key's secret or passphrase"
