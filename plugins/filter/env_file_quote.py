# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter tradebot.kucoin.env_file_quote; documented in env_file_quote.yml, logic in plugin_utils/env_file.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.env_file import (
    EnvFileError,
    quote_value,
    render_env_file,
)


def env_file_quote(data, name=None, header=""):
    """Quote one value, or render a mapping of variables as a whole environment file."""
    try:
        if isinstance(data, Mapping):
            return render_env_file(data, header=header or "")
        return quote_value(data, name or "value")
    except (EnvFileError, ValueError) as exc:
        # `from None`: the chained exception would carry nothing more, and the message never holds a value.
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"env_file_quote": env_file_quote}
