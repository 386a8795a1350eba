"""deploy_bot.yml's preflight against real OpenBao: every host's strategy list goes through the one strategy
model, whichever variable holds it, and a shared API key is refused before any host is contacted.

The hosts point at a closed local SSH port: a preflight that let a run through would end in "unreachable"
instead of the refusal these tests expect, and nothing on this machine is touched either way.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.ansible import PlaybookRun, run_playbook
from harness.demo import PLAYBOOK, DemoStrategy, seed_strategies, vault_env
from harness.openbao import OpenBao

pytestmark = [pytest.mark.vault]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_inventory(path: Path, hostvars: dict[str, dict[str, Any]]) -> Path:
    port = closed_port()
    hosts = {
        name: {"ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "nobody", **values}
        for name, values in hostvars.items()
    }
    path.write_text(json.dumps({"all": {"children": {"kucoin_bots": {"hosts": hosts}}}}))
    return path


@pytest.fixture(scope="module")
def vault(openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    shared = DemoStrategy("a", "pf-shared")
    others = [DemoStrategy("b", "pf-copy", key=shared.key), DemoStrategy("c", "pf-own")]
    token = seed_strategies(openbao, [shared, *others])
    return vault_env(openbao, token, tmp_path_factory.mktemp("preflight-cache"))


def entry(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "vault_path": f"kucoin/{name}", **extra}


def deploy(tmp_path: Path, vault: dict[str, str], hostvars: dict[str, dict[str, Any]], *args: str) -> PlaybookRun:
    run = run_playbook(PLAYBOOK, inventory=write_inventory(tmp_path / "inventory.json", hostvars), args=args, env=vault)
    (tmp_path / "run.log").write_text(str(run))
    return run


def assert_refused_before_any_host(run: PlaybookRun, needle: str) -> None:
    assert run.returncode != 0, run
    assert needle in run.output, run
    assert "TASK [tradebot.kucoin.bot_host" not in run.stdout, run
    assert "UNREACHABLE" not in run.stdout, run


def test_shared_key_under_the_role_variable_only_is_refused(tmp_path: Path, vault: dict[str, str]) -> None:
    run = deploy(
        tmp_path,
        vault,
        {"a": {"bot_host_strategies": [entry("pf-shared")]}, "b": {"bot_host_strategies": [entry("pf-copy")]}},
    )
    assert_refused_before_any_host(run, "these share a key: a/pf-shared and b/pf-copy")


def test_shared_key_across_the_old_and_the_new_name_is_refused(tmp_path: Path, vault: dict[str, str]) -> None:
    run = deploy(
        tmp_path,
        vault,
        {"a": {"kucoin_strategies": [entry("pf-shared")]}, "b": {"bot_host_strategies": [entry("pf-copy")]}},
    )
    assert_refused_before_any_host(run, "these share a key: a/pf-shared and b/pf-copy")
    assert "kucoin_strategies is the old name of bot_host_strategies" in run.output


def test_a_host_outside_the_limit_still_counts(tmp_path: Path, vault: dict[str, str]) -> None:
    run = deploy(
        tmp_path,
        vault,
        {"a": {"bot_host_strategies": [entry("pf-shared")]}, "b": {"bot_host_strategies": [entry("pf-copy")]}},
        "--limit",
        "a",
    )
    assert_refused_before_any_host(run, "these share a key: a/pf-shared and b/pf-copy")


@pytest.mark.parametrize(
    ("hostvars", "needle"),
    [
        (
            {"c": {"bot_host_strategies": [entry("pf-own"), {"name": "no-path"}]}},
            "host c: bot_host_strategies[1] (no-path): a present strategy needs a vault_path",
        ),
        (
            {"c": {"bot_host_strategies": [entry("pf-own", vault_pth="x")]}},
            "host c: bot_host_strategies[0] (pf-own): unknown keys vault_pth",
        ),
        (
            {"c": {"bot_host_strategies": [entry("pf-own")], "kucoin_strategies": [entry("pf-shared")]}},
            "host c: both bot_host_strategies and kucoin_strategies are set; keep only bot_host_strategies",
        ),
    ],
)
def test_lists_the_model_refuses_stop_the_run(tmp_path: Path, vault: dict[str, str], hostvars, needle) -> None:
    assert_refused_before_any_host(deploy(tmp_path, vault, hostvars), needle)
