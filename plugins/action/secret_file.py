# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs tradebot.kucoin.secret_file pipelined, or not at all: its arguments hold a secret, which Ansible would
otherwise write to a file under the remote user's ~/.ansible/tmp for the task's duration."""

from __future__ import annotations

import contextlib
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

NOT_PIPELINED = (
    "tradebot.kucoin.secret_file runs only pipelined, so that its secret content is never written to a file on"
    " the host, and this task cannot be: it needs a connection with pipelining (ssh, local), no"
    " become_method su, no ANSIBLE_KEEP_REMOTE_FILES and no async"
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        # A connection without the option keeps its own setting: the check below decides.
        with contextlib.suppress(AnsibleError, KeyError, AttributeError):
            self._connection.set_option("pipelining", True)
        if not self._is_pipelining_enabled("new", wrap_async=bool(self._task.async_val)):
            result.update(failed=True, msg=NOT_PIPELINED)
            return result
        result.update(
            self._execute_module(
                module_name="tradebot.kucoin.secret_file", module_args=self._task.args, task_vars=task_vars
            )
        )
        return result
