"""The benchmark's audit-log window, its table writer and its report arithmetic, without running anything."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from bench import config
from bench.audit import AuditWindow, traffic
from bench.config import FULL, QUICK, module_python
from bench.deploy import judge
from bench.report import (
    duration_summary,
    fleet_query_rows,
    fleet_query_summary,
    lookup_rows,
    lookup_verdict,
    render,
)
from bench.results import PartResult, Sample
from bench.tables import markdown_table, samples_csv


def audit_line(kind: str, path: str, *, auth: bool = False) -> str:
    entry: dict[str, object] = {"type": kind, "request": {"path": path, "operation": "update"}}
    if kind == "response":
        entry["response"] = {"auth": {"client_token": "hmac-sha256:abc"}} if auth else {"data": {}}
    return json.dumps(entry) + "\n"


def login(mount: str = "approle") -> list[str]:
    return [audit_line("request", f"auth/{mount}/login"), audit_line("response", f"auth/{mount}/login", auth=True)]


def read(path: str = "secret/data/kucoin/bot-001") -> list[str]:
    return [audit_line("request", path), audit_line("response", path)]


def test_traffic_counts_logins_that_issued_a_token_and_every_request() -> None:
    failed_login = [audit_line("request", "auth/approle/login"), audit_line("response", "auth/approle/login")]
    lines = [*login(), *read(), *read(), *failed_login, *login("userpass"), "\n"]
    counted = traffic(lines, "approle")
    assert counted.logins == 1
    assert counted.requests == 5


def test_audit_window_sees_only_lines_written_after_mark(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("".join(login() + read()))
    window = AuditWindow(log)
    window.mark()
    assert window.read().requests == 0
    with log.open("a") as handle:
        handle.write("".join(read() + read()))
    assert window.read() == traffic(read() + read())
    window.mark()
    assert window.read().requests == 0


def test_audit_window_leaves_a_half_written_line_for_later(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    window = AuditWindow(log)
    window.mark()  # before the file exists
    assert window.read().requests == 0
    whole = "".join(login())
    log.write_text(whole + '{"type": "request", "requ')
    assert window.read().logins == 1
    assert window.read().requests == 1


def test_markdown_table_pads_aligns_and_escapes() -> None:
    table = markdown_table(["N", "lookup", "s"], [["10", "a|b", "1.50"], ["200", "ours", "12.00"]], "rlr")
    lines = table.splitlines()
    assert lines[0] == "|   N | lookup |     s |"
    assert lines[1] == "| --: | ------ | ----: |"
    assert lines[2] == "|  10 | a\\|b   |  1.50 |"
    assert lines[3] == "| 200 | ours   | 12.00 |"
    assert len({len(line) for line in lines}) == 1


def test_markdown_table_rejects_a_short_row() -> None:
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a", "b", "c"], [["1", "2"]])


def fleet(
    variant: str, size: int, seconds: list[float], logins: int, requests: int, ok: bool = True, cpu: float = 1.0
) -> list[Sample]:
    return [
        Sample("lookups", variant, size, rep, value, cpu_seconds=cpu, logins=logins, vault_requests=requests, ok=ok)
        for rep, value in enumerate(seconds, start=1)
    ]


def test_lookup_rows_give_medians_ratios_and_audit_counts() -> None:
    part = PartResult("lookups", "1. Vault lookups at fleet size")
    part.samples += fleet("tradebot", 200, [60.0, 58.0, 99.0], 1, 201, cpu=101.0)
    part.samples += fleet("hashi_vault", 200, [70.0, 71.0, 69.0], 200, 400, cpu=120.0)
    part.samples += fleet("plain", 200, [56.0, 55.0, 57.0], 0, 0, cpu=100.0)
    rows = {row[1]: row for row in lookup_rows(part, [200])}
    ours = rows["tradebot.kucoin.vault_credentials"]
    assert ours[2:] == ["60.00", "58.00-99.00", "3", "0.86x", "1.07x", "4.00", "101.00", "1.00", "1", "201"]
    anchor = rows["community.hashi_vault.vault_kv2_get"]
    assert anchor[5] == "1.00x"
    assert anchor[7] == "14.00"
    assert anchor[8:] == ["120.00", "20.00", "200", "400"]
    floor = rows["plain variables (floor)"]
    assert floor[6] == "1.00x"
    assert floor[9:] == ["0.00", "-", "-"]
    verdict = "\n".join(lookup_verdict(part, 200))
    assert "**1** login(s)" in verdict
    assert "**200**" in verdict
    # By CPU: 1 s over the floor against 20 s; by wall time 4 s against 14 s.
    assert "ours 1.00 s, the anchor 20.00 s: **0.05x** the anchor's (within the target of at most 0.50x)" in verdict
    assert "**0.29x**" in verdict


def test_a_failed_run_shows_as_failed_not_as_a_figure() -> None:
    part = PartResult("lookups", "1. Vault lookups at fleet size")
    part.samples += fleet("tradebot", 10, [3.0], 1, 11)
    part.samples += fleet("hashi_vault", 10, [4.0], 10, 20, ok=False)
    part.samples += fleet("plain", 10, [2.0], 0, 0)
    part.failures.append("community.hashi_vault.vault_kv2_get at N=10, run 1: ansible-playbook exited 2")
    rows = {row[1]: row for row in lookup_rows(part, [10])}
    assert rows["community.hashi_vault.vault_kv2_get"][2] == "FAILED"
    assert rows["tradebot.kucoin.vault_credentials"][5] == "-"  # no anchor, no ratio to it
    assert "FAILED" in lookup_verdict(part, 10)[0]
    text = render(QUICK, {"CPU": "test"}, [part], "2026-01-01 00:00 UTC", elapsed=60.0)
    assert "**FAILED in this run:** 1. Vault lookups at fleet size" in text
    assert "ansible-playbook exited 2" in text
    assert "QUICK=1" in text


@pytest.mark.parametrize(("minutes", "verdict"), [(19.5, "within"), (20.5, "OVER")])
def test_the_report_says_whether_the_whole_run_kept_its_time_budget(minutes: float, verdict: str) -> None:
    lookups, deploy = PartResult("lookups", "1. x"), PartResult("deploy", "3. y")
    lookups.seconds_spent, deploy.seconds_spent = (minutes - 6) * 60, 5 * 60
    # The minute outside the parts (starting and seeding OpenBao) counts against the budget too.
    line = duration_summary(FULL, [lookups, deploy], elapsed=minutes * 60)
    expected = f"took {minutes:.1f} min (setup 1.0, lookups {minutes - 6:.1f}, deploy 5.0): {verdict} the 20 min"
    assert expected in line


def test_the_report_says_how_long_the_timed_fleet_plays_alone_took() -> None:
    lookups = PartResult("lookups", "1. x")
    lookups.samples += fleet("plain", 10, [30.0, 60.0], 0, 0) + fleet("tradebot", 10, [90.0], 1, 11)
    lookups.seconds_spent = 200.0
    line = duration_summary(FULL, [lookups], elapsed=240.0)
    assert line.endswith("Its 3 timed fleet plays alone took 3.0 min.")


def test_csv_has_one_row_per_sample_and_one_per_part_failure() -> None:
    samples = fleet("plain", 10, [1.5, 2.25], 0, 0)
    text = samples_csv(samples, [("deploy", "ModuleNotFoundError: No module named 'harness.demo'")])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["seconds"] for row in rows[:2]] == ["1.500000", "2.250000"]
    assert rows[0]["ok"] == "true"
    assert rows[2]["part"] == "deploy"
    assert rows[2]["variant"] == "FAILED"
    assert rows[2]["ok"] == "false"
    assert "harness.demo" in rows[2]["note"]


COUNTS = {
    "bench-bot1": {"ok": 41, "changed": 0, "unreachable": 0, "failed": 0},
    "bench-bot2": {"ok": 40, "changed": 3, "unreachable": 0, "failed": 0},
}


def test_deploy_judge_requires_every_host_and_an_unchanged_second_run() -> None:
    hosts = ["bench-bot1", "bench-bot2"]
    assert judge(COUNTS, 0, hosts, unchanged=False) is None
    assert judge(COUNTS, 0, hosts, unchanged=True) == "second run was not unchanged: bench-bot2 changed=3"
    assert judge(COUNTS, 2, hosts, unchanged=False) == "ansible-playbook exited 2"
    assert judge(COUNTS, 0, [*hosts, "bench-bot3"], unchanged=False) == "no PLAY RECAP line for bench-bot3"
    unreachable = {**COUNTS, "bench-bot1": {**COUNTS["bench-bot1"], "unreachable": 1}}
    assert judge(unreachable, 0, hosts, unchanged=False) == "failed or unreachable: bench-bot1"


def test_the_fleet_play_modules_run_with_the_system_python_where_there_is_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system_python = tmp_path / "python3"
    monkeypatch.setattr(config, "SYSTEM_PYTHON", system_python)
    assert module_python() == sys.executable
    system_python.touch()
    assert module_python() == str(system_python)


def test_the_cpu_verdict_says_when_the_target_is_missed() -> None:
    part = PartResult("lookups", "1. Vault lookups at fleet size")
    part.samples += fleet("tradebot", 10, [3.0], 1, 11, cpu=16.0)
    part.samples += fleet("hashi_vault", 10, [4.0], 10, 20, cpu=20.0)
    part.samples += fleet("plain", 10, [2.0], 0, 0, cpu=10.0)
    assert "**0.60x** the anchor's (NOT within the target of at most 0.50x)" in "\n".join(lookup_verdict(part, 10))


def test_the_fleet_query_is_reported_with_its_logins_and_requests() -> None:
    micro = PartResult("micro", "4. x")
    micro.samples += [
        Sample("micro", "tradebot_fleet_query", 200, rep, seconds, cpu_seconds=cpu, logins=1, vault_requests=201)
        for rep, (seconds, cpu) in enumerate([(2.0, 1.0), (3.0, 1.2), (2.5, 1.1)], start=1)
    ]
    assert fleet_query_rows(micro) == [["200", "3", "2.50", "1.10", "5.50", "1", "201"]]
    line = fleet_query_summary(micro)
    assert "one query of 200 strategies" in line
    assert "**1** login(s) and 201 Vault requests" in line
    assert "FAILED" in fleet_query_summary(PartResult("micro", "4. x"))
    text = render(QUICK, {"CPU": "test"}, [micro], "2026-01-01 00:00 UTC", elapsed=60.0)
    assert line in text
