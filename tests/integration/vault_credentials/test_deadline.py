"""`timeout` bounds a whole request, and retries stop at the bound the lookup's docs state."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import worst_case_seconds
from harness.http_fixtures import Trickler

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault

# What a shut-down connection takes to be noticed by the trickler (it sends a byte every 0.2 s), with room for
# scheduling delays on a loaded machine.
SLACK = 1.0


def test_timeout_bounds_a_request_to_a_server_that_trickles_bytes(seeded_vault: SeededVault, tmp_path: Path) -> None:
    with Trickler(interval=0.2) as trickler:
        cases = [
            {
                "name": "read",
                "term": "kucoin/alpha",
                "options": {"url": trickler.url, "token": seeded_vault.token, "timeout": 2, "retries": 0},
            },
            {
                "name": "login, retried once",
                "term": "kucoin/alpha",
                "options": seeded_vault.approle(url=trickler.url, timeout=2, retries=1),
            },
        ]
        outcomes = run_cases(cases, tmp_path, env={"NO_PROXY": "127.0.0.1"})
        connections = list(trickler.connections)
    assert len(connections) == 3, connections  # one read, then a login and its retry
    assert all(c.closed is not None for c in connections)

    # Bytes kept arriving well within each socket timeout, yet each request ended at its 2 s deadline.
    read, login, retry = connections
    assert read.lasted is not None
    assert 1.5 < read.lasted <= worst_case_seconds(2, 0) + SLACK
    assert retry.closed is not None
    assert retry.closed - login.opened <= worst_case_seconds(2, 1) + SLACK

    for name, outcome in outcomes.items():
        assert outcome.failed, name
        assert f"Vault at {trickler.url} did not answer within the 2 s timeout" in outcome.msg, outcome.msg
        assert seeded_vault.token not in outcome.msg
        assert seeded_vault.secret_id not in outcome.msg
