#!/usr/bin/python
# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: secret_file
author: tradebot.kucoin contributors (@tradebot)
short_description: Write a file that holds a secret, with no other copy of the secret on either machine
version_added: 0.1.0
description:
  - Writes O(content) to O(path) with the given owner, group and mode, for files such as a bot's environment
    file or a systemd credential.
  - "Unlike M(ansible.builtin.copy) with C(content), no other file ever holds the secret: C(copy) writes the
    content to a temporary file on the controller and transfers it to a staged file under the remote user's
    C(~/.ansible/tmp), where it stays if the connection dies. This module receives the content as a C(no_log)
    module argument and always runs pipelined, so it reaches the host over the connection's standard input
    only, whatever the inventory's pipelining setting. Where pipelining is impossible (C(become_method=su),
    C(ANSIBLE_KEEP_REMOTE_FILES), a connection without pipelining, C(async)) the task fails and writes nothing."
  - The file is replaced atomically. The new content goes to a temporary file in the same directory that has
    the final owner and mode before its first byte is written, and is then renamed over O(path); a reader sees
    the old file or the new one, never a mixture.
  - The existing file is compared by SHA-256 digest, owner, group and mode; an identical file is left alone.
  - The content is never returned, logged or shown in a diff, nor is its digest or size.
options:
  path:
    description: Absolute path of the file. Its directory must exist.
    type: path
    required: true
    aliases: [dest]
  content:
    description: What the file holds, written as UTF-8.
    type: str
    required: true
  owner:
    description:
      - User name or numeric ID that owns the file.
      - When unset, an existing file keeps its owner and a new one belongs to the user running the module.
    type: str
  group:
    description:
      - Group name or numeric ID of the file.
      - When unset, an existing file keeps its group and a new one gets the running user's group.
    type: str
  mode:
    description:
      - The file's permissions as an octal number, for example V('0600') (quote it in YAML). Symbolic modes
        are not accepted.
      - Unlike M(ansible.builtin.copy), the default is owner-only, whatever the umask.
    type: raw
    default: '0600'
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: A file whose directory does not exist yet (an earlier task of the same dry run would create it)
      counts as changed.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: partial
    details: The diff shows owner, group and mode, and whether the content changes; never the content.
  action:
    description: Has a corresponding action plugin, which runs on the controller.
    support: full
    details: The action plugin forces pipelining, or fails the task when pipelining is impossible.
  async:
    description: Supports being used with the C(async) keyword.
    support: none
notes:
  - A temporary file that an interrupted earlier write left beside O(path) (C(.<name>.*.tmp)) is removed on the
    next run.
  - With C(become), pipelining needs sudo without C(requiretty) (Debian's default); C(become_method=su) cannot
    pipeline, so the task fails there.
seealso:
  - module: ansible.builtin.copy
    description: For files that hold no secret.
"""

EXAMPLES = r"""
- name: Write a bot's credential file, readable by root only
  tradebot.kucoin.secret_file:
    path: /etc/kucoin-bot/credentials/grid-btc/KUCOIN_SECRET_KEY
    content: "{{ creds.api_secret }}"
    owner: root
    group: root
    mode: "0400"
  no_log: true
  diff: false

- name: Write an environment file, owner-only by default
  tradebot.kucoin.secret_file:
    path: /etc/myapp/secrets.env
    content: |
      API_TOKEN={{ api_token }}
  no_log: true
"""

RETURN = r"""
file:
  description:
    - The file written or checked.
    - Named C(file), not C(path) or C(dest), because Ansible adds the size of the file those name to the result,
      and the size of a credential file is the length of its secret.
  returned: always
  type: str
  sample: /etc/kucoin-bot/grid-btc.env
owner:
  description: The file's owner (what it is, or would be in check mode).
  returned: always
  type: str
  sample: root
group:
  description: The file's group.
  returned: always
  type: str
  sample: root
uid:
  description: The owner's numeric ID.
  returned: always
  type: int
  sample: 0
gid:
  description: The group's numeric ID.
  returned: always
  type: int
  sample: 0
mode:
  description: The file's permissions, octal.
  returned: always
  type: str
  sample: "0600"
content_changed:
  description: Whether the content was (or in check mode would be) replaced; false when only owner, group or
    mode changed.
  returned: always
  type: bool
  sample: true
"""

import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tradebot.kucoin.plugins.module_utils._secret_file import (
    DEFAULT_MODE,
    Plan,
    SecretFileError,
    apply,
    group_name,
    plan,
    user_name,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "path": {"type": "path", "required": True, "aliases": ["dest"]},
    "content": {"type": "str", "required": True, "no_log": True},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "raw", "default": DEFAULT_MODE},
}


def _state(attrs: Any) -> str:
    if attrs is None:
        return "absent\n"
    return f"owner: {user_name(attrs.uid)}\ngroup: {group_name(attrs.gid)}\nmode: '{attrs.mode:04o}'\n"


def diff(found: Plan) -> dict[str, str]:
    """Attributes and whether the content changes; the content itself never."""
    after = _state(found.wanted) + ("content: (secret, not shown) changes\n" if found.content_differs else "")
    return {"before_header": found.path, "after_header": found.path, "before": _state(found.before), "after": after}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    path = params["path"]
    content = params["content"].encode("utf-8", errors="surrogateescape")
    try:
        found = plan(path, content, params["owner"], params["group"], params["mode"])
    except SecretFileError as exc:
        module.fail_json(msg=str(exc), file=path)

    if found.changed and not module.check_mode:
        try:
            apply(found, content, lambda src, dest: module.atomic_move(src, dest, keep_dest_attrs=False))
        except SecretFileError as exc:
            module.fail_json(msg=str(exc), file=path)
        except Exception as exc:  # atomic_move's own errors name paths only
            module.fail_json(msg=f"cannot replace {path}: {exc}", file=path, exception=traceback.format_exc())

    result: dict[str, Any] = {
        "changed": found.changed,
        "file": path,
        "owner": user_name(found.wanted.uid),
        "group": group_name(found.wanted.gid),
        "uid": found.wanted.uid,
        "gid": found.wanted.gid,
        "mode": f"{found.wanted.mode:04o}",
        "content_changed": found.content_differs,
    }
    if module._diff and found.changed:
        result["diff"] = diff(found)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
