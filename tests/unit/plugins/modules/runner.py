"""Running a module's main() in-process, as Ansible would, and reading its JSON result."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from ansible.module_utils import basic


def run_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], main: Callable[[], None], args: dict[str, Any]
) -> dict:
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
    except ImportError:
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
        with pytest.raises(SystemExit):
            main()
    else:
        with patch_module_args(args), pytest.raises(SystemExit):
            main()
    return json.loads(capsys.readouterr().out)
