"""The bot-state tool the role installs on each host: what a bot started with against what is on disk."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[4] / "roles" / "bot_host" / "files" / "bot-state"


def load_tool() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("bot_state", str(TOOL))
    spec = importlib.util.spec_from_loader("bot_state", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def tool() -> ModuleType:
    return load_tool()


@pytest.fixture
def host(tmp_path: Path) -> dict:
    """A host's files for strategy grid (environment file, drop-in, unit, a program file) and one config."""
    (tmp_path / "units" / "kucoin-bot@grid.service.d").mkdir(parents=True)
    (tmp_path / "units" / "kucoin-bot@.service").write_text("[Service]\n")
    (tmp_path / "units" / "kucoin-bot@grid.service.d" / "exec.conf").write_text("ExecStart=/bin/bot\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "grid.env").write_text("KUCOIN_API_KEY=old\n")
    (tmp_path / "bot.py").write_text("print()\n")
    config = {
        "config_dir": str(tmp_path / "etc"),
        "unit_dir": str(tmp_path / "units"),
        "program_files": [str(tmp_path / "bot.py")],
        "record_dir": str(tmp_path / "run" / "state"),
        "loaded_credentials_dir": str(tmp_path / "run" / "credentials"),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return config


def running(tool: ModuleType, monkeypatch: pytest.MonkeyPatch, state: str = "active", reload: str = "no") -> None:
    monkeypatch.setattr(
        tool, "_units", lambda names, _props: [{"ActiveState": state, "NeedDaemonReload": reload}] * len(names)
    )


@pytest.mark.parametrize(
    "change",
    [
        "etc/grid.env",
        "units/kucoin-bot@.service",
        "units/kucoin-bot@grid.service.d/exec.conf",
        "units/kucoin-bot@grid.service.d/new.conf",
        "etc/credentials/grid/KUCOIN_SECRET_KEY",
        "bot.py",
    ],
)
def test_any_changed_or_new_input_makes_a_running_bot_stale(
    tool: ModuleType, host: dict, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    running(tool, monkeypatch)
    tool.record(host, "grid")
    assert tool.status(host, ["grid"]) == {"reload": False, "stale": {}}
    path = Path(host["config_dir"]).parent / change
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("changed\n")
    assert tool.status(host, ["grid"])["stale"] == {"grid": "started with other files than those on disk"}


def test_a_start_that_was_not_recorded_counts_as_stale(
    tool: ModuleType, host: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(tool, monkeypatch)
    assert tool.status(host, ["grid"])["stale"] == {"grid": "start not recorded"}


def test_a_bot_that_is_not_running_is_left_to_be_started(
    tool: ModuleType, host: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(tool, monkeypatch, state="failed", reload="yes")
    assert tool.status(host, ["grid"]) == {"reload": True, "stale": {}}


def test_credentials_are_compared_with_the_copy_the_running_bot_has(
    tool: ModuleType, host: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(tool, monkeypatch)
    source = Path(host["config_dir"]) / "credentials" / "grid"
    source.mkdir(parents=True)
    (source / "KUCOIN_SECRET_KEY").write_text("new")
    tool.record(host, "grid")  # recorded after the file changed, while the bot got the old one (a race)
    loaded = Path(host["loaded_credentials_dir"]) / "kucoin-bot@grid.service"
    loaded.mkdir(parents=True)
    (loaded / "KUCOIN_SECRET_KEY").write_text("old")
    assert tool.status(host, ["grid"])["stale"] == {"grid": "runs with other credentials than those on disk"}
    (loaded / "KUCOIN_SECRET_KEY").write_text("new")
    assert tool.status(host, ["grid"])["stale"] == {}


def test_the_record_is_root_only_and_replaced_whole(tool: ModuleType, host: dict) -> None:
    tool.record(host, "grid")
    record_dir = Path(host["record_dir"])
    assert oct(record_dir.stat().st_mode & 0o777) == "0o700"
    first = (record_dir / "grid").read_text()
    Path(host["config_dir"], "grid.env").write_text("KUCOIN_API_KEY=new\n")
    tool.record(host, "grid")
    assert (record_dir / "grid").read_text() != first
    assert sorted(p.name for p in record_dir.iterdir()) == ["grid"]


def test_command_line(tool: ModuleType, host: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    running(tool, monkeypatch)
    config = str(tmp_path / "config.json")
    assert tool.main([config, "record", "grid"]) == 0
    assert tool.main([config, "status", "grid"]) == 0
    assert json.loads(capsys.readouterr().out) == {"reload": False, "stale": {}}
    assert tool.main([config, "bogus"]) == 2
    # The settings may come inline (as the role passes them): a dry run judges by this run's settings.
    Path(host["program_files"][0]).write_text("changed\n")
    assert tool.main([json.dumps({**host, "program_files": []}), "status", "grid"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] == {"grid": "started with other files than those on disk"}
