#!/usr/bin/python
# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: key_check
author: tradebot.kucoin contributors (@tradebot)
short_description: Prove that a KuCoin API key works before a trading bot uses it
version_added: 0.1.0
description:
  - Makes a signed, read-only call to KuCoin with the given API key and reports what the key may do, or says in
    one line what is wrong and what to do about it.
  - "Calls, run side by side: the server time (C(GET /api/v1/timestamp) on O(base_url)) to measure this
    host's clock offset against the midpoint of the round trip; the service status of the key's API
    (C(GET /api/v1/status) on O(base_url): spot and futures each have their own); the key information
    (C(GET /api/v1/user/api-key) on O(key_info_url)); and, with O(api=futures), the futures account overview
    (C(GET /api/v1/account-overview?currency=USDT) on O(base_url))."
  - "The result is then checked against a policy: permissions, IP whitelist, sub-account, key age, clock offset
    and service status."
  - "The permission policy is safe by default: the key must have the trade permission of its API (V(Spot) for
    O(api=spot), V(Futures) for O(api=futures), and V(Margin) with O(margin=true)); V(General) alone never
    passes. A key with V(Transfer) (KuCoin's withdrawal right), V(InnerTransfer) (moving funds between
    accounts) or V(Withdrawal) fails unless O(allowed_permissions) names it. A permission name this module does
    not know gives a warning."
  - Calls that answer HTTP 429 (rate limited) are retried after the time KuCoin's C(gw-ratelimit-reset) header
    gives (at most O(timeout) seconds), and HTTP 5xx answers after a short back-off; at most three retries.
    Authentication errors, timeouts and connection errors are never retried.
  - "Time bounds: each attempt of each call, as a whole (connect, TLS, send and receive, however slowly the
    server trickles its answer), is bounded by O(timeout); the check as a whole, retries and their waits
    included, ends within 3 x O(timeout) seconds (plus the moment the module needs to report)."
  - Runs wherever Ansible runs it. Run it on the bot host itself to prove that host's IP address is on the key's
    whitelist.
  - The secret, the passphrase and its HMAC form never appear in the module's output, at any verbosity.
requirements:
  - httpx >= 0.23 (Python library on the host that runs the module)
extends_documentation_fragment:
  - tradebot.kucoin.kucoin_http
options:
  api_key:
    description: The KuCoin API key. Only a masked form is returned.
    type: str
    required: true
  api_secret:
    description: The API key's secret.
    type: str
    required: true
  api_passphrase:
    description: The passphrase chosen when the key was created.
    type: str
    required: true
  key_version:
    description:
      - The key's version as KuCoin shows it. Version 1 keys send the passphrase as is, versions 2 and 3 send
        its HMAC-SHA256 with the secret.
      - KuCoin creates version 3 keys and accepts header 2 or 3 for keys of version 2 and 3 alike, so only
        version 1 keys need setting.
    type: int
    choices: [1, 2, 3]
    default: 3
  api:
    description:
      - Which KuCoin API the bot trades on. V(futures) adds the futures account overview call, which needs the
        key's Futures permission.
    type: str
    choices: [spot, futures]
    default: spot
  base_url:
    description:
      - The KuCoin REST endpoint for O(api), without a path.
      - Defaults to C(https://api.kucoin.com) for O(api=spot) and C(https://api-futures.kucoin.com) for
        O(api=futures).
    type: str
  key_info_url:
    description:
      - Where the key information call goes; KuCoin serves it on the spot host only.
      - Defaults to O(base_url) for O(api=spot) and C(https://api.kucoin.com) for O(api=futures).
    type: str
  timeout:
    description:
      - Seconds each call may take as a whole (connect, TLS, send, receive). The whole check, retries included,
        ends within 3 times this.
    type: float
    default: 10
  required_permissions:
    description:
      - Permissions the key must have besides the trade permission of O(api) (and V(Margin) with O(margin)),
        which are always required. Names as KuCoin reports them, case-insensitive.
    type: list
    elements: str
    default: []
  margin:
    description: The bot trades on margin, so the key must also have V(Margin).
    type: bool
    default: false
  forbidden_permissions:
    description:
      - Permissions the key must not have. Case-insensitive.
      - The default refuses every permission that moves money off the trading account. KuCoin reports the
        withdrawal right as V(Transfer) and FlexTransfer as V(InnerTransfer); V(Withdrawal) stays in the list
        in case KuCoin ever reports it.
    type: list
    elements: str
    default: [Transfer, InnerTransfer, Withdrawal]
  allowed_permissions:
    description:
      - Permissions taken out of O(forbidden_permissions) for this key, for a bot that really must move funds.
        Allowing one is an explicit choice; the key check never relaxes on its own.
    type: list
    elements: str
    default: []
  max_key_age_days:
    description: A key older than this many days gives a warning, or fails the task with O(fail_on_old_key).
    type: int
    default: 90
  fail_on_old_key:
    description: Fail instead of warning when the key is older than O(max_key_age_days).
    type: bool
    default: false
  require_ip_whitelist:
    description: Fail when the key has no IP whitelist, that is when it can be used from any address.
    type: bool
    default: false
  whitelist_addresses:
    description:
      - Addresses the key's IP whitelist must cover, for example every host that may run the bot.
      - KuCoin shows whitelist entries masked (C(203.**.154)); a masked entry covers an address with the same
        first and last octet (for IPv6, group), which is all the mask lets anyone check. KuCoin itself still
        refuses calls from other addresses (code 400006).
    type: list
    elements: str
    default: []
  require_service_open:
    description:
      - Fail, instead of warning, when KuCoin's service status for O(api) is not V(open) (V(close) during
        maintenance, V(cancelonly) when orders can only be cancelled) or cannot be read.
    type: bool
    default: false
  expected_sub_account:
    description: The sub-account the key must belong to. When unset, master and sub-account keys both pass.
    type: str
  max_clock_skew:
    description:
      - Seconds this host's clock may differ from KuCoin's. Beyond it the task fails; beyond half of it a warning
        is given.
      - KuCoin rejects requests whose timestamp is more than 5 seconds off, so the default leaves room for drift.
    type: float
    default: 2.0
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads, so it does the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - O(api_key), O(api_secret) and O(api_passphrase) are C(no_log); keep them in Ansible Vault or read them with
    P(tradebot.kucoin.vault_credentials#lookup).
  - C(changed) is always false.
seealso:
  - plugin: tradebot.kucoin.vault_credentials
    plugin_type: lookup
  - name: KuCoin API authentication
    description: How KuCoin signs REST requests.
    link: https://www.kucoin.com/docs-new/authentication
"""

EXAMPLES = r"""
- name: Check a spot bot's key from the bot host, forbidding withdrawals
  tradebot.kucoin.key_check:
    api_key: "{{ creds.api_key }}"
    api_secret: "{{ creds.api_secret }}"
    api_passphrase: "{{ creds.api_passphrase }}"
    require_ip_whitelist: true
    whitelist_addresses: [203.0.113.154]

- name: Check a futures key that must belong to a sub-account, failing on keys older than 30 days
  tradebot.kucoin.key_check:
    api_key: "{{ creds.api_key }}"
    api_secret: "{{ creds.api_secret }}"
    api_passphrase: "{{ creds.api_passphrase }}"
    api: futures
    expected_sub_account: grid-bots
    max_key_age_days: 30
    fail_on_old_key: true
  register: key

- name: Show what the key may do
  ansible.builtin.debug:
    msg: "{{ key.api_key }}: {{ key.permissions | join(', ') }}, clock offset {{ key.clock_skew_ms }} ms"
"""

RETURN = r"""
valid:
  description: Whether every call succeeded and the key passed the policy.
  returned: always
  type: bool
  sample: true
api_key:
  description: The API key, masked (first four and last two characters).
  returned: always
  type: str
  sample: "6582…9f"
key_version:
  description: The key version used to sign.
  returned: always
  type: int
  sample: 2
api:
  description: The API checked.
  returned: always
  type: str
  sample: spot
permissions:
  description: The key's permissions as KuCoin reports them.
  returned: always
  type: list
  elements: str
  sample: [General, Spot]
ip_whitelist:
  description: The addresses the key may be used from; empty when it may be used from anywhere.
  returned: always
  type: list
  elements: str
  sample: ["203.**.154", "103.**.34"]
service_status:
  description:
    - KuCoin's status of the API's service, V(open), V(close) (maintenance) or V(cancelonly); null when it could
      not be read.
  returned: always
  type: str
  sample: open
is_master:
  description: Whether the key belongs to the master account; null when the key information call failed.
  returned: always
  type: bool
  sample: false
sub_account:
  description: The sub-account the key belongs to; null for a master-account key.
  returned: always
  type: str
  sample: grid-bots
created_at:
  description: When the key was created, ISO 8601 in UTC.
  returned: always
  type: str
  sample: "2026-09-01T08:00:00.000Z"
age_days:
  description: Whole days since the key was created.
  returned: always
  type: int
  sample: 84
clock_skew_ms:
  description:
    - KuCoin's clock minus this host's, in milliseconds, measured at the midpoint of the round trip; positive
      when this host is behind. Null when the server time call failed.
  returned: always
  type: int
  sample: -37
server_time:
  description: KuCoin's server time, ISO 8601 in UTC.
  returned: always
  type: str
  sample: "2026-11-24T20:41:07.512Z"
round_trip_ms:
  description: Duration of the server time call, in milliseconds.
  returned: always
  type: int
  sample: 48
policy_warnings:
  description:
    - Findings that do not fail the task (old key, clock offset over half the limit, a version 1 mismatch, an
      unknown permission name, a service status other than V(open)).
    - Each is also given as an Ansible warning, so a single task's result has them in C(warnings) too; in a loop
      some ansible-core versions move C(warnings) out of the item's result, C(policy_warnings) stays.
  returned: always
  type: list
  elements: str
  sample: ["the key is 120 days old, older than max_key_age_days (90); rotate it"]
kucoin_code:
  description: KuCoin's code from the failed call's body; null when no KuCoin answer was read or a policy failed.
  returned: failure
  type: str
  sample: "400005"
http_status:
  description: The failed call's HTTP status; null when no answer arrived; 200 when the key failed the policy.
  returned: failure
  type: int
  sample: 401
diagnosis:
  description: One line in plain words with the likely cause and what to do; also the task's C(msg).
  returned: failure
  type: str
  sample: "KuCoin code 400005 (HTTP 401) from https://api.kucoin.com/api/v1/user/api-key: KuCoin rejected ..."
"""

import traceback
from typing import Any
from urllib.parse import unquote, urlsplit

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_policy import DEFAULT_FORBIDDEN, Policy
from ansible_collections.tradebot.kucoin.plugins.module_utils._scrub import scrub, secret_forms
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import (
    CheckRequest,
    run_key_check,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import HTTPX_IMPORT_ERROR, HttpSettings
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import (
    DEFAULT_KEY_VERSION,
    KEY_VERSIONS,
    Credentials,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "api_key": {"type": "str", "required": True, "no_log": True},
    "api_secret": {"type": "str", "required": True, "no_log": True},
    "api_passphrase": {"type": "str", "required": True, "no_log": True},
    "key_version": {"type": "int", "choices": list(KEY_VERSIONS), "default": DEFAULT_KEY_VERSION},
    "api": {"type": "str", "choices": ["spot", "futures"], "default": "spot"},
    "base_url": {"type": "str"},
    "key_info_url": {"type": "str", "no_log": False},  # a URL, not a key (validate-modules guesses by name)
    "timeout": {"type": "float", "default": 10},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "proxy": {"type": "str"},
    "required_permissions": {"type": "list", "elements": "str", "default": []},
    "margin": {"type": "bool", "default": False},
    "forbidden_permissions": {"type": "list", "elements": "str", "default": list(DEFAULT_FORBIDDEN)},
    "allowed_permissions": {"type": "list", "elements": "str", "default": []},
    "max_key_age_days": {"type": "int", "default": 90, "no_log": False},
    "fail_on_old_key": {"type": "bool", "default": False},
    "require_ip_whitelist": {"type": "bool", "default": False},
    "whitelist_addresses": {"type": "list", "elements": "str", "default": []},
    "require_service_open": {"type": "bool", "default": False},
    "expected_sub_account": {"type": "str"},
    "max_clock_skew": {"type": "float", "default": 2.0},
}


def build_request(params: dict[str, Any]) -> CheckRequest:
    return CheckRequest(
        credentials=Credentials(
            api_key=params["api_key"],
            api_secret=params["api_secret"],
            api_passphrase=params["api_passphrase"],
            key_version=params["key_version"],
        ),
        api=params["api"],
        base_url=params["base_url"],
        key_info_url=params["key_info_url"],
        http=HttpSettings(
            timeout=params["timeout"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            proxy=params["proxy"],
        ),
        require_service_open=params["require_service_open"],
        policy=Policy(
            api=params["api"],
            margin=params["margin"],
            required_permissions=tuple(params["required_permissions"] or ()),
            forbidden_permissions=tuple(params["forbidden_permissions"] or ()),
            allowed_permissions=tuple(params["allowed_permissions"] or ()),
            whitelist_addresses=tuple(params["whitelist_addresses"] or ()),
            max_key_age_days=params["max_key_age_days"],
            fail_on_old_key=params["fail_on_old_key"],
            require_ip_whitelist=params["require_ip_whitelist"],
            expected_sub_account=params["expected_sub_account"],
            max_clock_skew=params["max_clock_skew"],
        ),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if HTTPX_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params["timeout"] <= 0 or module.params["max_clock_skew"] <= 0:
        module.fail_json(msg="timeout and max_clock_skew must be greater than 0")

    request = build_request(module.params)
    creds = request.credentials
    # Ansible masks the option values as given; the passphrase's HMAC form is derived here, and error texts may
    # show a value escaped or trimmed, so mask those forms too.
    values = [creds.api_secret, creds.api_passphrase, creds.passphrase_header, creds.api_key]
    if request.http.proxy:
        # A password in the proxy URL could surface in a connection error's text.
        proxy_password = urlsplit(request.http.proxy).password or ""
        values += [proxy_password, unquote(proxy_password)]
    secrets = secret_forms(v for v in values if v)
    module.no_log_values.update(secrets)

    try:
        outcome = run_key_check(request)
    except Exception as exc:  # a traceback could show request internals: report one scrubbed line instead
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {where.name}:{where.lineno}" if where else ""
        module.fail_json(msg=scrub(f"key_check failed unexpectedly: {type(exc).__name__}: {exc}{at}", secrets))

    result = outcome.result
    if result.get("diagnosis"):
        result["diagnosis"] = scrub(result["diagnosis"], secrets)
    # Shown as Ansible warnings, and kept in `policy_warnings`: Ansible owns `warnings` and, in a loop, moves
    # it out of the item's result on some versions (passing `warnings` to exit_json is deprecated from 2.19).
    result["policy_warnings"] = [scrub(w, secrets) for w in result.pop("warnings")]
    for warning in result["policy_warnings"]:
        module.warn(warning)
    if outcome.failed:
        module.fail_json(msg=result["diagnosis"], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
