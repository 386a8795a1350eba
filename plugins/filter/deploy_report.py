# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters bot_host_outcomes and deploy_summary (documented in their .yml files); logic in _deploy_report."""

from __future__ import annotations

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._deploy_report import (
    fleet_summary,
    halted,
    host_report,
)


def bot_host_outcomes(facts):
    """One host's report from the facts the bot_host role registered."""
    return host_report(facts)


def deploy_summary(hostvars, hosts, check_mode=False):
    """The summary of many hosts, with the hosts of a fully failed serial batch under C(halted)."""
    summary = fleet_summary(hostvars, list(hosts), bool(check_mode))
    summary["halted"] = halted(hostvars, list(hosts))
    return summary


class FilterModule:
    def filters(self):
        return {"bot_host_outcomes": bot_host_outcomes, "deploy_summary": deploy_summary}
