"""Without hvac the lookup fails with Ansible's own missing-library message, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault


def test_missing_hvac_uses_the_missing_library_message(seeded_vault: SeededVault, tmp_path: Path) -> None:
    # A real ansible-playbook run whose Python cannot import hvac: a module earlier on PYTHONPATH refuses.
    shadow = tmp_path / "shadow" / "hvac"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'hvac'\")\n")
    cases = [{"name": "no hvac", "term": "kucoin/alpha", "options": {"url": seeded_vault.bao.url, "token": "t"}}]
    outcome = run_cases(cases, tmp_path, env={"PYTHONPATH": str(shadow.parent)})["no hvac"]
    assert outcome.failed
    assert "Failed to import the required Python library (hvac) on " in outcome.msg
    assert "Traceback" not in outcome.msg
