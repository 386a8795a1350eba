"""The collection as users install it, end to end on Debian 13: `ansible-galaxy collection build` and
`install` into an empty directory, then `ansible-playbook tradebot.kucoin.deploy_bot -i <inventory>` from there
deploys the demo's three bots to trixie hosts (real OpenBao, the KuCoin sandbox, real chronyd), each of which
makes its signed call.

The role's own integration tests run on bookworm; this is the smaller deploy that shows Debian 13 works, and
that nothing of the checkout is needed: Ansible runs in an empty directory whose collections path holds only
the installed copy, and the example bot is named relative to the installed role's files/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.ansible import run_playbook
from harness.demo import (
    bot_group_vars,
    demo_strategies,
    recap,
    seed_strategies,
    vault_env,
    wait_for_bot_line,
    write_bot_inventory,
)
from harness.galaxy import build_and_install
from harness.hosts import BotHostFleet
from harness.hosts_fixtures import require_hosts
from harness.kucoin_sandbox import KucoinSandbox
from harness.ntp import NtpServer
from harness.openbao import OpenBao

pytestmark = [pytest.mark.hosts, pytest.mark.vault, pytest.mark.sandbox]


def test_installed_collection_deploys_the_demo_bots_on_debian_13(
    openbao: OpenBao, sandbox: KucoinSandbox, ntp_server: NtpServer, tmp_path: Path
) -> None:
    require_hosts()
    installed = build_and_install(tmp_path / "galaxy")
    strategies = demo_strategies()
    for strategy in strategies:
        sandbox.add_key(strategy.key)
    token = seed_strategies(openbao, strategies)
    with BotHostFleet(tmp_path / "hosts", [s.host for s in strategies], suite="trixie") as fleet:
        inventory = write_bot_inventory(
            fleet, installed.workdir / "inventory.yml", strategies, bot_group_vars(sandbox, ntp_server)
        )
        run = run_playbook(
            "tradebot.kucoin.deploy_bot",
            inventory=inventory,
            env={**vault_env(openbao, token, tmp_path / "vault-cache"), **installed.env()},
            cwd=installed.workdir,
        )
        (tmp_path / "deploy.log").write_text(str(run))
        assert run.returncode == 0, run
        assert {host: counts["failed"] for host, counts in recap(run).items()} == {s.host: 0 for s in strategies}
        for strategy in strategies:
            assert fleet.run(strategy.host, "cat /etc/debian_version").stdout.startswith("13")
            line = wait_for_bot_line(fleet, strategy.host, strategy.name)
            assert "succeeded" in line, line
        for value in [token, *(v for s in strategies for v in (s.key.secret, s.key.passphrase))]:
            assert value not in run.output
