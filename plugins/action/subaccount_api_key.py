# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tradebot.kucoin.subaccount_api_key runs here, on the controller: the master key and a new key's secret
never travel to a managed host. The steps live in plugin_utils/_subaccount_rotation.py."""

from __future__ import annotations

import time
import traceback
from typing import Any
from urllib.parse import unquote, urlsplit

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import missing_required_lib
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_subaccount import (
    EXPIRE_DAYS,
    KeyRequestError,
    NewKeyRequest,
    SubAccountApi,
    checked_whitelist,
    grantable_permissions,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils._scrub import scrub, secret_forms
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import HTTPX_IMPORT_ERROR, HttpSettings
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import (
    DEFAULT_KEY_VERSION,
    KEY_VERSIONS,
    Credentials,
    unsendable_fields,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._kucoin_credentials import location_from_options
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._subaccount_rotation import (
    RotationFailed,
    StrategySecret,
    ensure_absent,
    ensure_present,
    key_info,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import IMPORT_ERROR, VaultError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import CREDENTIAL_FIELDS, VaultConfigError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import TokenCacheError

VAULT_LOOKUP = "tradebot.kucoin.vault_credentials"
# Lookup options that make no sense for the one secret this module writes.
VAULT_NOT_HERE = ("_terms", "version")

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent", "info"]},
    "sub_name": {"type": "str", "required": True},
    "master": {
        "type": "dict",
        "required": True,
        "no_log": True,
        "options": {
            "api_key": {"type": "str", "required": True, "no_log": False},
            "api_secret": {"type": "str", "required": True, "no_log": True, "aliases": ["secret"]},
            "api_passphrase": {"type": "str", "required": True, "no_log": True, "aliases": ["passphrase"]},
            "key_version": {"type": "int", "default": DEFAULT_KEY_VERSION, "choices": list(KEY_VERSIONS)},
            # What the vault_credentials lookup returns besides, so its result can be passed as it is.
            "api": {"type": "str"},
            "vault": {"type": "dict"},
        },
    },
    "vault": {"type": "dict"},
    "base_url": {"type": "str", "default": "https://api.kucoin.com"},
    "timeout": {"type": "float", "default": 10.0},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "proxy": {"type": "str"},
    "permissions": {"type": "list", "elements": "str", "default": ["General", "Spot"]},
    "ip_whitelist": {"type": "list", "elements": "str", "default": []},
    "allow_any_ip": {"type": "bool", "default": False},
    "expire_days": {"type": "int", "default": 90, "choices": list(EXPIRE_DAYS)},
    "remark": {"type": "str", "default": "tradebot.kucoin"},
    "max_age_days": {"type": "float"},
    "rotate": {"type": "bool", "default": False},
    "api_key": {"type": "str"},
    "passphrase": {"type": "str", "no_log": True},
}
REQUIRED_IF = [("state", "absent", ["api_key"])]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if HTTPX_IMPORT_ERROR is not None:
            raise AnsibleActionFail(missing_required_lib("httpx") + " (on the controller)")
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
        hidden: list[str] = self._secret_values(args)
        try:
            outcome = self._run(args, task_vars, hidden)
        except RotationFailed as exc:
            outcome = {**exc.result, "failed": True, "msg": str(exc)}
        except AnsibleActionFail as exc:
            outcome = {"failed": True, "changed": False, "msg": exc.message}
        except (KeyRequestError, VaultError, VaultConfigError, TokenCacheError) as exc:
            outcome = {"failed": True, "changed": False, "msg": str(exc)}
        except Exception as exc:  # a traceback could show request internals: one scrubbed line instead
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            at = f" at {where.name}:{where.lineno}" if where else ""
            outcome = {"failed": True, "changed": False, "msg": f"failed unexpectedly: {type(exc).__name__}{at}"}
        forms = secret_forms(hidden)
        outcome["msg"] = scrub(str(outcome.get("msg", "")), forms)
        warnings = [scrub(w, forms) for w in outcome.pop("warnings", [])]
        for warning in warnings:
            self._display.warning(warning)
        if outcome.get("failed"):
            outcome["error"] = outcome["msg"]
        result.update(outcome)
        result["rotation_warnings"] = warnings
        return result

    # --- options -------------------------------------------------------------------------------------------

    @staticmethod
    def _secret_values(args: dict[str, Any]) -> list[str]:
        master = args["master"]
        values = [master["api_secret"], master["api_passphrase"], args.get("passphrase") or ""]
        vault = args.get("vault") or {}
        values += [str(vault[name]) for name in CREDENTIAL_FIELDS if vault.get(name)]
        if args.get("proxy"):
            password = urlsplit(args["proxy"]).password or ""
            values += [password, unquote(password)]
        return [v for v in values if v]

    def _strategy_secret(self, vault: dict[str, Any], task_vars: dict[str, Any], hidden: list[str]) -> StrategySecret:
        """The vault option resolved as the vault_credentials lookup resolves its options: the same names,
        variables, environment variables, ansible.cfg sections and fallbacks (the lookup's own definitions)."""
        if IMPORT_ERROR is not None:
            raise AnsibleActionFail(missing_required_lib("hvac") + " (on the controller)")
        options = dict(vault)
        path = str(options.pop("path", "") or "").strip("/")
        if not path:
            raise AnsibleActionFail("vault.path is required: the strategy's secret path, e.g. kucoin/grid-btc")
        lookup = lookup_loader.get(VAULT_LOOKUP, loader=self._loader, templar=self._templar)
        definitions = C.config.get_configuration_definitions("lookup", lookup._load_name)
        known = {name for name in definitions if name not in VAULT_NOT_HERE}
        known |= {alias for name in known for alias in definitions[name].get("aliases", [])}
        unknown = sorted(set(options) - known)
        if unknown:
            raise AnsibleActionFail(
                f"vault: unknown option(s) {', '.join(unknown)}; vault takes path and the options of the "
                f"{VAULT_LOOKUP} lookup except version"
            )
        var_names = {entry["name"] for spec in definitions.values() for entry in spec.get("vars", [])}
        variables = {name: self._templar.template(task_vars[name]) for name in var_names if name in task_vars}
        lookup.set_options(var_options=variables, direct=options)
        location = location_from_options(lookup.get_option)
        hidden += location.session.settings.credentials()
        if location.kv_version != 2:
            raise AnsibleActionFail("vault: kv_version must be 2: this module writes new versions of the secret")
        return StrategySecret(location.session, location.mount, path, location.fields)

    def _run(self, args: dict[str, Any], task_vars: dict[str, Any], hidden: list[str]) -> dict[str, Any]:
        master = args["master"]
        credentials = Credentials(
            api_key=master["api_key"],
            api_secret=master["api_secret"],
            api_passphrase=master["api_passphrase"],
            key_version=master["key_version"],
        )
        unsendable = unsendable_fields(credentials)
        if unsendable:
            raise AnsibleActionFail(
                f"master: {' and '.join(unsendable)} cannot be sent in an HTTP header (a space, line break or "
                "non-ASCII character came with it); store it again without them"
            )
        if args["timeout"] <= 0:
            raise AnsibleActionFail("timeout must be greater than 0")
        state = args["state"]
        request = None
        if state == "present":
            if args["vault"] is None:
                raise AnsibleActionFail("state present needs vault: the new key goes straight into Vault")
            request = NewKeyRequest(
                sub_name=args["sub_name"],
                permissions=grantable_permissions(args["permissions"]),
                ip_whitelist=checked_whitelist(args["ip_whitelist"], args["allow_any_ip"]),
                expire_days=args["expire_days"],
                remark=args["remark"],
            )
        secret = self._strategy_secret(args["vault"], task_vars, hidden) if args["vault"] is not None else None
        http = HttpSettings(
            timeout=args["timeout"],
            validate_certs=args["validate_certs"],
            ca_path=args["ca_path"],
            proxy=args["proxy"],
        )
        try:
            api = SubAccountApi(credentials, args["base_url"], http)
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail(
                f"the HTTP client could not be set up ({type(exc).__name__}: {exc}); check that ca_path is a "
                "readable PEM file of CA certificates and that proxy is a valid URL"
            ) from None
        now_ms = int(time.time() * 1000)
        check_mode = bool(self._play_context.check_mode)
        try:
            if state == "present" and secret is not None and request is not None:
                return ensure_present(
                    api,
                    secret,
                    request,
                    max_age_days=args["max_age_days"],
                    rotate=args["rotate"],
                    check_mode=check_mode,
                    now_ms=now_ms,
                )
            if state == "absent":
                return ensure_absent(
                    api,
                    secret,
                    args["sub_name"],
                    args["api_key"],
                    passphrase=args["passphrase"],
                    check_mode=check_mode,
                    now_ms=now_ms,
                )
            return key_info(api, secret, args["sub_name"], max_age_days=args["max_age_days"], now_ms=now_ms)
        finally:
            api.close()
