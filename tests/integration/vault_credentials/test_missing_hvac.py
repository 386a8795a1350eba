"""Without hvac the lookup fails with Ansible's own missing-library message, not a traceback: hvac carries
every Vault call, token auth included, whether it is not installed or installed but broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault


def test_missing_hvac_uses_the_missing_library_message(seeded_vault: SeededVault, tmp_path: Path) -> None:
    # A real ansible-playbook run whose Python does not have hvac: `None` in sys.modules is how Python spells
    # "not installed" for both `import hvac` and importlib.util.find_spec("hvac").
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text("import sys\n\nsys.modules['hvac'] = None\n")
    cases = [{"name": "no hvac", "term": "kucoin/alpha", "options": {"url": seeded_vault.bao.url, "token": "t"}}]
    outcome = run_cases(cases, tmp_path, env={"PYTHONPATH": str(hidden)})["no hvac"]
    assert outcome.failed
    assert "Failed to import the required Python library (hvac) on " in outcome.msg
    assert "Traceback" not in outcome.msg


def test_an_unimportable_hvac_fails_with_the_same_message(seeded_vault: SeededVault, tmp_path: Path) -> None:
    # hvac is found on the path, but a module earlier on PYTHONPATH refuses to import; no token is cached yet.
    shadow = tmp_path / "shadow" / "hvac"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'hvac'\")\n")
    cases = [{"name": "broken hvac", "term": "kucoin/alpha", "options": seeded_vault.approle()}]
    outcome = run_cases(cases, tmp_path, env={"PYTHONPATH": str(shadow.parent)})["broken hvac"]
    assert outcome.failed
    assert "Failed to import the required Python library (hvac) on " in outcome.msg
    assert "Traceback" not in outcome.msg
