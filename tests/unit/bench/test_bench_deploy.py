"""Part 3's comparison of deploy_bot.yml with a plain playbook: the ratios, the report and the plain playbook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.config import QUICK
from bench.deploy import PLAIN_PLAYBOOK, RATIO_GOAL, ratios
from bench.report import deploy_section, deploy_summary
from bench.results import PartResult, Sample


def part_with(first: float, second: float, plain_first: float, plain_second: float, *, ok: bool = True) -> PartResult:
    part = PartResult("deploy", "3. Deploy")
    for variant, seconds in (
        ("first", first),
        ("second", second),
        ("plain_first", plain_first),
        ("plain_second", plain_second),
    ):
        part.add(Sample("deploy", variant, 1, 1, seconds, ok=ok or not variant.startswith("plain")))
    return part


def test_ratio_is_ours_over_the_plain_playbook_per_run() -> None:
    part = part_with(60.0, 12.0, 50.0, 10.0)
    assert ratios(part, 1) == pytest.approx({"first": 1.2, "second": 1.2})
    assert ratios(part, 3) == {"first": None, "second": None}


def test_report_shows_both_playbooks_and_the_ratio_against_the_goal() -> None:
    within = deploy_summary(part_with(55.0, 11.0, 50.0, 10.0), QUICK)
    assert f"1.10x (first run) and 1.10x (second run), within the {RATIO_GOAL:g}x goal" in within
    over = deploy_summary(part_with(90.0, 30.0, 50.0, 10.0), QUICK)
    assert "1.80x (first run) and 3.00x (second run), over the 1.2x goal" in over
    table = deploy_section(part_with(55.0, 11.0, 50.0, 10.0), QUICK)
    row = next(line for line in table.splitlines() if line.startswith("|") and "55.00" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        "1",
        "55.00",
        "50.00",
        "1.10x",
        "11.00",
        "10.00",
        "1.10x",
    ]
    assert "deploy_plain.yml" in table


def test_a_failed_plain_run_shows_as_failed_and_gives_no_ratio() -> None:
    part = part_with(55.0, 11.0, 50.0, 10.0, ok=False)
    assert ratios(part, 1) == {"first": None, "second": None}
    assert "FAILED" in deploy_section(part, QUICK)
    assert "Against the plain playbook" not in deploy_summary(part, QUICK)


def test_the_plain_playbook_is_what_the_comparison_says() -> None:
    play = yaml.safe_load(PLAIN_PLAYBOOK.read_text())[0]
    modules = {next(k for k in task if k.startswith("ansible.builtin.")) for task in play["tasks"]}
    assert "tradebot.kucoin" not in PLAIN_PLAYBOOK.read_text()  # no key check, no clock check, no role
    assert "community.hashi_vault.vault_kv2_get" in PLAIN_PLAYBOOK.read_text()
    # The same inventory as deploy_bot.yml's (harness.demo writes each host's bot_host_strategies).
    assert '"{{ bot_host_strategies }}"' in PLAIN_PLAYBOOK.read_text()
    assert {"ansible.builtin.template", "ansible.builtin.systemd_service", "ansible.builtin.apt"} <= modules
    for task in play["tasks"]:
        src = task.get("ansible.builtin.template", {}).get("src")
        if src:
            assert (PLAIN_PLAYBOOK.parent / src).is_file(), src


def test_the_plain_playbook_passes_ansible_syntax_check(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("kucoin_bots:\n  hosts:\n    h1:\n")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(inventory),
            str(PLAIN_PLAYBOOK),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
