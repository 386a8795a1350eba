# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter tradebot.kucoin.chrony_tracking; documented in chrony_tracking.yml, logic in plugin_utils/_chrony.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._chrony import parse_tracking


def chrony_tracking(lines):
    """chronyc -c tracking + sourcestats lines (or their text) as {synced, source, offset}."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    if not isinstance(lines, (list, tuple)):
        raise AnsibleFilterError("chrony_tracking expects the lines of chronyc -c tracking and sourcestats")
    return parse_tracking(str(line) for line in lines).as_dict()


class FilterModule:
    def filters(self):
        return {"chrony_tracking": chrony_tracking}
