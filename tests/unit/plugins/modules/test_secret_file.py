"""The secret_file module and its action plugin: documented options, check mode, diff, and never unpipelined."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import become_loader, connection_loader

from ansible_collections.tradebot.kucoin.plugins.action.secret_file import NOT_PIPELINED, ActionModule
from ansible_collections.tradebot.kucoin.plugins.modules import secret_file
from unit.plugins.modules.runner import run_module

SECRET = "Zq-MODULE-SECRET-77c2a1"


def run(monkeypatch: pytest.MonkeyPatch, capsys: Any, **args: Any) -> dict:
    return run_module(monkeypatch, capsys, secret_file.main, args)


def test_documented_options_match_the_argument_spec() -> None:
    documented = yaml.safe_load(secret_file.DOCUMENTATION)["options"]
    assert set(documented) == set(secret_file.ARGUMENT_SPEC)
    for name, spec in secret_file.ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
        assert documented[name].get("aliases") == spec.get("aliases"), name
    assert [n for n, s in secret_file.ARGUMENT_SPEC.items() if s.get("no_log")] == ["content"]
    for section in ("EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(secret_file, section))


def test_writes_then_reports_no_change_and_never_returns_the_content(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    target = tmp_path / "bot.env"
    first = run(monkeypatch, capsys, path=str(target), content=f"KEY={SECRET}\n", mode="0400", _ansible_diff=True)
    second = run(monkeypatch, capsys, path=str(target), content=f"KEY={SECRET}\n", mode="0400", _ansible_diff=True)

    assert target.read_text() == f"KEY={SECRET}\n"
    assert oct(target.stat().st_mode & 0o7777) == "0o400"
    assert first["changed"] is True
    assert first["content_changed"] is True
    assert first["mode"] == "0400"
    assert first["file"] == str(target)
    assert "(secret, not shown) changes" in first["diff"]["after"]
    assert second["changed"] is False
    assert "diff" not in second
    for result in (first, second):
        assert "size" not in result  # a credential file's size is its secret's length
        assert SECRET not in json.dumps(result)


def test_check_mode_writes_nothing_and_counts_a_missing_directory_as_a_change(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    target = tmp_path / "later" / "bot.env"
    dry = run(monkeypatch, capsys, path=str(target), content=SECRET, _ansible_check_mode=True)
    assert dry["changed"] is True
    assert not target.parent.exists()

    real = run(monkeypatch, capsys, path=str(target), content=SECRET)
    assert real["failed"] is True
    assert real["msg"] == f"the directory {target.parent} does not exist; create it before writing {target}"


def test_a_wrong_mode_fails_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path) -> None:
    out = run(monkeypatch, capsys, path=str(tmp_path / "x"), content=SECRET, mode="u=rw")
    assert out["failed"] is True
    assert out["msg"] == "mode 'u=rw' is not an octal mode; write it like '0600'"
    assert not (tmp_path / "x").exists()


def action(connection_name: str, become: str | None = None, **task_args: Any) -> tuple[ActionModule, list]:
    """The action plugin on a real connection plugin whose pipelining the inventory turned off."""
    play_context = PlayContext()
    connection = connection_loader.get(connection_name, play_context, os.devnull)
    connection.set_options(var_options={"ansible_pipelining": False})
    if become:
        connection.set_become_plugin(become_loader.get(become))

    class Task:
        args = task_args
        async_val = 0
        check_mode = False
        diff = False
        action = "tradebot.kucoin.secret_file"

    plugin = ActionModule(Task(), connection, play_context, loader=None, templar=None, shared_loader_obj=None)
    calls: list = []
    plugin._execute_module = lambda **kwargs: calls.append(kwargs) or {"changed": True}  # type: ignore[method-assign]
    return plugin, calls


def test_the_action_runs_the_module_pipelined_whatever_the_inventory_says() -> None:
    plugin, calls = action("ssh", path="/etc/x", content=SECRET)
    result = plugin.run(task_vars={})
    assert result.get("failed") is not True, result
    assert plugin._connection.get_option("pipelining") is True
    assert [c["module_name"] for c in calls] == ["tradebot.kucoin.secret_file"]


def test_the_action_refuses_to_run_where_it_cannot_pipeline() -> None:
    plugin, calls = action("ssh", become="su", path="/etc/x", content=SECRET)
    result = plugin.run(task_vars={})
    assert result["failed"] is True
    assert result["msg"] == NOT_PIPELINED
    assert calls == []
