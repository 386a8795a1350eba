# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter tradebot.kucoin.chrony_state; documented in chrony_state.yml, logic in plugin_utils/_chrony.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._chrony import parse_chrony


def chrony_state(text, servers=None, pools=None, stale_polls=4):
    """chronyc's reports (as the bot_host role's probe prints them) as a dict of facts and readable lines."""
    if not isinstance(text, str):
        raise AnsibleFilterError(f"chrony_state expects chronyc's output as text, not {type(text).__name__}")
    try:
        polls = float(stale_polls)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"chrony_state: stale_polls must be a number, not {stale_polls!r}") from None
    return parse_chrony(text, servers or [], pools or [], polls).as_dict()


class FilterModule:
    def filters(self):
        return {"chrony_state": chrony_state}
