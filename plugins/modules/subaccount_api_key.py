#!/usr/bin/python
# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: subaccount_api_key
author: tradebot.kucoin contributors (@tradebot)
short_description: Create, rotate, delete and list a KuCoin sub-account's API key, keeping it in Vault
version_added: 0.1.0
description:
  - Manages the API key of one KuCoin sub-account with the master account's key, and keeps the strategy's
    secret in HashiCorp Vault or OpenBao (KV v2) naming a key that exists.
  - Runs on the controller (an action plugin), whatever host the task is for, so neither the master key nor a
    new key's secret ever travels to a managed host.
  - "O(state=present): makes sure the secret at the C(path) of O(vault) names a key that exists at KuCoin for
    O(sub_name). A new key is created when Vault has no readable current version or no api_key field, when
    the key it names no longer exists at KuCoin, when that key is older than O(max_age_days), or with
    O(rotate=true). The new key gets O(permissions), the whitelist O(ip_whitelist) and O(expire_days), and a
    generated passphrase (32 letters and digits; KuCoin takes 7 to 32 characters without spaces). Its secret
    and passphrase go from KuCoin's reply straight into Vault as a new version of the secret (a check-and-set
    write on the version read, keeping the secret's other fields), and the secret's custom metadata records
    the change. If that write fails, the new key is deleted at KuCoin before the task fails. The key the
    secret named before is not deleted: delete it with O(state=absent) once the bot runs on the new one."
  - "O(state=absent): deletes the key O(api_key) of O(sub_name) at KuCoin (a key that is gone already is
    fine). Deleting needs the key's passphrase: taken from the newest version of the secret in O(vault)
    that holds this key, or from O(passphrase). When Vault's current version names the key, the newest
    earlier version holding another key is first written back as a new version, so that Vault never names a
    deleted key; if deleting then fails, Vault names that working key and the key to delete is still there."
  - "O(state=info): lists the sub-account's keys (never a secret) with their age; with O(vault), also which
    key Vault names and whether it is due."
  - KuCoin calls are signed with the master key, bounded by O(timeout) per attempt and 3 x O(timeout) per
    call, and retried after rate-limit answers; the create call is never retried after a server error,
    since KuCoin may have made the key already. After a create call that failed that way, keys that came
    with it are deleted again.
  - The new secret and passphrase never appear in the task's result, a warning, an error or a log line, at
    any verbosity; no file is written except by Vault.
requirements:
  - httpx >= 0.23 and hvac >= 1.2.0 (Python libraries on the controller)
extends_documentation_fragment:
  - tradebot.kucoin.kucoin_http
options:
  state:
    description: What to do; see the description.
    type: str
    choices: [present, absent, info]
    default: present
  sub_name:
    description: The KuCoin sub-account whose key this is.
    type: str
    required: true
  master:
    description:
      - The master account's API key, which must have the General permission; a sub-account's key may not
        manage keys. The result of P(tradebot.kucoin.vault_credentials#lookup) for the master key's own Vault
        path can be given as it is.
    type: dict
    required: true
    suboptions:
      api_key:
        description: The master API key.
        type: str
        required: true
      api_secret:
        description: Its secret.
        type: str
        required: true
        aliases: [secret]
      api_passphrase:
        description: Its passphrase.
        type: str
        required: true
        aliases: [passphrase]
      key_version:
        description: Its key version as KuCoin shows it.
        type: int
        choices: [1, 2, 3]
        default: 3
      api:
        description: Ignored (the lookup returns it).
        type: str
      vault:
        description: Ignored (the lookup returns it).
        type: dict
  vault:
    description:
      - The strategy's secret and how to reach Vault. Required for O(state=present).
      - "C(path) (required): the secret's path relative to the KV v2 engine mount, for example
        C(kucoin/grid-btc). Every other key is an option of P(tradebot.kucoin.vault_credentials#lookup) with the
        same name and meaning (C(url), C(auth_method), C(token), C(role_id), C(secret_id), C(engine_mount_point),
        C(api_key_field), ...), except C(version); what is not given here comes from the same variables
        (C(tradebot_vault_*)), environment variables, C(ansible.cfg) sections and Vault CLI fallbacks
        (C(VAULT_ADDR), C(VAULT_TOKEN), ...) as for the lookup."
      - The token needs C(read), C(create) and C(update) on C(<mount>/data/<path>), and C(read) and C(update)
        on C(<mount>/metadata/<path>).
    type: dict
  base_url:
    description: KuCoin's REST endpoint, without a path.
    type: str
    default: https://api.kucoin.com
  timeout:
    description:
      - Seconds each attempt of a KuCoin call may take as a whole; a call with its retries ends within 3 times this.
    type: float
    default: 10
  permissions:
    description:
      - The new key's permissions, as KuCoin names them (case-insensitive); V(General) is always added.
      - V(Spot), V(Futures) and V(Margin) may be added. V(Transfer) (withdrawals), V(InnerTransfer) (moving
        funds between accounts) and V(Withdrawal) are refused, as P(tradebot.kucoin.key_check#module) refuses
        keys that have them.
    type: list
    elements: str
    default: [General, Spot]
  ip_whitelist:
    description:
      - The addresses the new key may be used from (at most 20), normally the bot host's public address.
      - Required unless O(allow_any_ip=true).
    type: list
    elements: str
    default: []
  allow_any_ip:
    description: Allow a new key without an IP whitelist, usable from anywhere.
    type: bool
    default: false
  expire_days:
    description: After how many days KuCoin expires the new key; V(-1) never.
    type: int
    choices: [-1, 30, 90, 180, 360]
    default: 90
  remark:
    description: The new key's remark at KuCoin (1 to 24 characters).
    type: str
    default: tradebot.kucoin
  max_age_days:
    description:
      - With O(state=present), a key older than this many days is replaced. Unset, age never does.
      - With O(state=info), sets RV(due).
    type: float
  rotate:
    description: With O(state=present), replace the key whatever its age.
    type: bool
    default: false
  api_key:
    description: With O(state=absent), the key to delete.
    type: str
  passphrase:
    description:
      - With O(state=absent), the passphrase of O(api_key), when no version of the secret in O(vault) holds it.
    type: str
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Reads Vault and KuCoin's key list only, and reports what would change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - O(master) and O(passphrase) are C(no_log), like the lookup's credentials in O(vault).
  - "The secret's custom metadata after a change: C(tradebot_change) (V(created), V(rotated) or
    V(rolled_back)), C(tradebot_changed_at) (UTC, ISO 8601), C(tradebot_version) (the version it describes;
    KV v2 keeps custom metadata per secret, not per version), C(tradebot_api_key), C(tradebot_replaced_api_key)
    (left out when none) and C(tradebot_made_by). Other custom metadata is kept."
  - A KuCoin key's passphrase cannot be read back; the one in Vault is the only copy.
seealso:
  - plugin: tradebot.kucoin.vault_credentials
    plugin_type: lookup
  - module: tradebot.kucoin.key_check
  - name: KuCoin sub-account API keys
    description: The add, list, modify and delete calls this module uses.
    link: https://www.kucoin.com/docs-new/rest/account-info/sub-account/add-subaccount-api
"""

EXAMPLES = r"""
- name: Make sure grid-btc's secret names a live key, replacing one older than 80 days
  tradebot.kucoin.subaccount_api_key:
    sub_name: gridbtc01
    master: "{{ lookup('tradebot.kucoin.vault_credentials', 'kucoin-master/main') }}"
    vault:
      path: kucoin/grid-btc
    permissions: [General, Spot]
    ip_whitelist: [203.0.113.154]
    max_age_days: 80
  register: key

- name: Delete the key it replaced, once the bot runs on the new one
  tradebot.kucoin.subaccount_api_key:
    state: absent
    sub_name: gridbtc01
    master: "{{ lookup('tradebot.kucoin.vault_credentials', 'kucoin-master/main') }}"
    vault:
      path: kucoin/grid-btc
    api_key: "{{ key.previous_api_key }}"
  when: key.created and key.previous_api_key

- name: List the sub-account's keys and whether Vault's is due
  tradebot.kucoin.subaccount_api_key:
    state: info
    sub_name: gridbtc01
    master: "{{ master_key }}"
    vault:
      path: kucoin/grid-btc
      url: https://vault.example.com:8200
      auth_method: approle
      role_id: "{{ rotator_role_id }}"
      secret_id: "{{ rotator_secret_id }}"
    max_age_days: 80
"""

RETURN = r"""
error:
  description:
    - The failure's one-line message, the same as RV(msg), set only when the task failed.
    - >-
      It survives C(failed_when: false), which clears C(failed), so a playbook that reads every outcome
      (as tradebot.kucoin.rotate_keys does) can still tell a failure.
  type: str
  returned: failure
  sample: "deleting key 673e…e4 failed: KuCoin code 500000 (HTTP 500)"
api_key:
  description: The key Vault names now (after O(state=absent) with a roll-back, the key written back).
  type: str
  returned: success
  sample: 673eab2a955ebf000195d7e4
previous_api_key:
  description: The key Vault named before a new key was made; with O(state=absent), the deleted key. Null if none.
  type: str
  returned: success
created:
  description: Whether a new key was made (and written to Vault).
  type: bool
  returned: always
deleted:
  description: Whether a key was deleted at KuCoin (with O(state=present), the new key after a failed Vault write).
  type: bool
  returned: always
rolled_back:
  description: Whether an earlier version of the secret was written back as its newest version.
  type: bool
  returned: always
vault_version:
  description: The secret's current version in Vault after the task.
  type: int
  returned: when O(vault) is given
previous_vault_version:
  description: The version that was current before this task wrote one.
  type: int
  returned: when a version was written
key_age_days:
  description: Age in whole days of the key Vault names.
  type: int
  returned: when O(vault) is given and the key exists
due:
  description: Whether the key Vault named was older than O(max_age_days).
  type: bool
  returned: always
keys:
  description: With O(state=info), the sub-account's keys as KuCoin lists them (the whitelist masked by KuCoin).
  type: list
  elements: dict
  returned: always
  contains:
    api_key:
      description: The key.
      type: str
    sub_name:
      description: Its sub-account.
      type: str
    remark:
      description: Its remark.
      type: str
    permissions:
      description: Its permissions.
      type: list
      elements: str
    ip_whitelist:
      description: Its whitelist, as KuCoin shows it.
      type: list
      elements: str
    created_at:
      description: When it was made (UTC, ISO 8601).
      type: str
    age_days:
      description: Its age in whole days.
      type: int
    api_version:
      description: Its key version.
      type: int
sub_name:
  description: The sub-account.
  type: str
  returned: always
rotation_warnings:
  description: Warnings, also shown as Ansible warnings (for example custom metadata that could not be written).
  type: list
  elements: str
  returned: always
msg:
  description: What was done, would be done (check mode) or went wrong, in one line.
  type: str
  returned: always
"""
