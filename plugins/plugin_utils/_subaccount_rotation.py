# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tradebot.kucoin.subaccount_api_key's steps: one sub-account key at KuCoin and the strategy's secret in Vault.

Consistency rules every step keeps: Vault's current version names a key that exists at KuCoin; a key this run
made is either in Vault or deleted again (or named in the error); a new secret and passphrase exist only in
KuCoin's reply, the NewSubKey that holds them and the Vault write, never in a result or a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import iso_utc
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_diagnosis import (
    SUB_ACCOUNT_DIAGNOSES,
    diagnose,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_subaccount import (
    NewKeyRequest,
    NewSubKey,
    SubAccountApi,
    SubKey,
    generate_passphrase,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils._scrub import scrub, secret_forms
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import ErrorKind, KucoinCallError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._kucoin_credentials import FieldNames
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import SecretMetadata, VaultError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_session import VaultSession

MADE_BY = "tradebot.kucoin.subaccount_api_key"
# The secret's custom metadata this module writes (KV v2 keeps custom metadata per secret, not per version,
# so it names the version it describes).
META_PREFIX = "tradebot_"
# KuCoin answers that may come after it acted on the call: the key may exist although the add call failed.
AMBIGUOUS_KINDS = (ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.MALFORMED, ErrorKind.UNEXPECTED)


class RotationFailed(Exception):
    """A step failed; the message is one line saying what state it left, and `result` what was done."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class StrategySecret:
    """The strategy's KV v2 secret, and the Vault session that reaches it."""

    session: VaultSession
    mount: str
    path: str
    fields: FieldNames = field(default_factory=FieldNames)

    @property
    def where(self) -> str:
        return f"secret '{self.path}' on mount '{self.mount}'"


@dataclass
class VaultState:
    metadata: SecretMetadata
    current: dict[str, Any] | None = field(default=None, repr=False)  # data of the current version, if readable
    base: dict[str, Any] | None = field(default=None, repr=False)  # the newest readable version's data
    api_key_field: str = "api_key"

    @property
    def api_key(self) -> str | None:
        value = (self.current or {}).get(self.api_key_field)
        return str(value) if value else None


def read_vault_state(secret: StrategySecret) -> VaultState:
    metadata = secret.session.metadata(secret.mount, secret.path)
    state = VaultState(metadata, api_key_field=secret.fields.api_key)
    if metadata.readable:
        newest = metadata.readable[0]
        state.base = dict(secret.session.read_version(secret.mount, secret.path, newest).data)
        if newest == metadata.current_version:
            state.current = state.base
    return state


def _kucoin_line(error: KucoinCallError, api: SubAccountApi) -> str:
    return diagnose(error, timeout=api.http.timeout, key_version=api.master.key_version, advice=SUB_ACCOUNT_DIAGNOSES)


def _metadata(event: str, version: int, api_key: str, replaced: str | None, now_ms: int) -> dict[str, str]:
    custom = {
        f"{META_PREFIX}change": event,
        f"{META_PREFIX}changed_at": iso_utc(now_ms),
        f"{META_PREFIX}version": str(version),
        f"{META_PREFIX}api_key": api_key,
        f"{META_PREFIX}made_by": MADE_BY,
    }
    if replaced:  # Vault refuses an empty custom metadata value
        custom[f"{META_PREFIX}replaced_api_key"] = replaced
    return custom


def _record(secret: StrategySecret, custom: dict[str, str]) -> list[str]:
    """The custom metadata after a write; a failure here leaves the secret right, so it is a warning."""
    try:
        metadata = secret.session.metadata(secret.mount, secret.path)
        kept = {k: v for k, v in metadata.custom_metadata.items() if not k.startswith(META_PREFIX)}
        secret.session.set_custom_metadata(secret.mount, secret.path, metadata, {**kept, **custom})
    except VaultError as exc:
        return [f"the new version is written, but its custom metadata is not: {exc}"]
    return []


def _base_result(sub_name: str) -> dict[str, Any]:
    return {
        "changed": False,
        "sub_name": sub_name,
        "api_key": None,
        "previous_api_key": None,
        "created": False,
        "deleted": False,
        "rolled_back": False,
        "vault_version": None,
        "previous_vault_version": None,
        "key_age_days": None,
        "due": False,
        "keys": [],
        "warnings": [],
    }


# --- present -------------------------------------------------------------------------------------------------


def _why_create(
    state: VaultState, listed: SubKey | None, secret: StrategySecret, due: bool, max_age: float | None, rotate: bool
) -> str | None:
    if state.current is None:
        return f"Vault has no readable current version of {secret.where}"
    if state.api_key is None:
        return f"{secret.where} has no field {secret.fields.api_key}"
    if listed is None:
        return f"the key {state.api_key} that Vault names does not exist at KuCoin for this sub-account"
    if due:
        return f"the key {state.api_key} is older than max_age_days ({max_age:g})"
    if rotate:
        return "rotate is true"
    return None


def _remove_strays(api: SubAccountApi, sub_name: str, before: set[str], passphrase: str) -> str:
    """After an add call that failed in a way KuCoin may have acted on: delete keys that came with it.

    Only a key made by that call has this run's passphrase, so no one else's key can be deleted here."""
    try:
        strays = [key for key in api.list_keys(sub_name) if key.api_key not in before]
    except KucoinCallError as exc:
        return f"whether KuCoin made a key anyway could not be checked ({_kucoin_line(exc, api)}); list the keys"
    if not strays:
        return "KuCoin made no key"
    notes = []
    for key in strays:
        try:
            api.delete_key(sub_name, key.api_key, passphrase)
            notes.append(f"KuCoin had made key {key.api_key} anyway; it is deleted again")
        except KucoinCallError as exc:
            notes.append(f"key {key.api_key} appeared and could not be deleted ({_kucoin_line(exc, api)}): delete it")
    return "; ".join(notes)


def _written_anyway(secret: StrategySecret, new_key: str, cas: int) -> int | None:
    """After a failed write: whether Vault stored it all the same (a reply lost after the write, a retry
    refused by check-and-set)."""
    try:
        metadata = secret.session.metadata(secret.mount, secret.path)
        if metadata.current_version <= cas or not metadata.current_readable:
            return None
        data = secret.session.read_version(secret.mount, secret.path, metadata.current_version).data
    except VaultError:
        return None
    return metadata.current_version if str(data.get(secret.fields.api_key)) == new_key else None


def _store(secret: StrategySecret, state: VaultState, new: NewSubKey) -> dict[str, Any]:
    fields = secret.fields
    return {
        **(state.base or {}),
        fields.api_key: new.key.api_key,
        fields.api_secret: new.secret,
        fields.api_passphrase: new.passphrase,
        fields.key_version: new.key.api_version,
    }


def ensure_present(
    api: SubAccountApi,
    secret: StrategySecret,
    request: NewKeyRequest,
    *,
    max_age_days: float | None,
    rotate: bool,
    check_mode: bool,
    now_ms: int,
    passphrase_factory: Callable[[], str] = generate_passphrase,
) -> dict[str, Any]:
    result = _base_result(request.sub_name)
    state = read_vault_state(secret)
    try:
        keys = api.list_keys(request.sub_name)
    except KucoinCallError as exc:
        raise RotationFailed(
            f"listing the keys of sub-account {request.sub_name} failed: {_kucoin_line(exc, api)}", result
        ) from None
    listed = next((key for key in keys if key.api_key == state.api_key), None)
    age = listed.age_days(now_ms) if listed is not None else None
    due = max_age_days is not None and age is not None and age > max_age_days
    result.update(
        api_key=state.api_key,
        vault_version=state.metadata.current_version or None,
        key_age_days=int(age) if age is not None else None,
        due=due,
    )
    why = _why_create(state, listed, secret, due, max_age_days, rotate)
    if why is None:
        result["msg"] = f"Vault names key {state.api_key}, which exists at KuCoin; nothing to do"
        return result
    result["changed"] = True
    if check_mode:
        result["msg"] = f"would create a key for sub-account {request.sub_name}: {why}"
        return result

    passphrase = passphrase_factory()
    try:
        new = api.add_key(request, passphrase)
    except KucoinCallError as exc:
        cleanup = ""
        if exc.kind in AMBIGUOUS_KINDS or (exc.http_status or 0) >= 500:
            cleanup = "; " + _remove_strays(api, request.sub_name, {key.api_key for key in keys}, passphrase)
        result["changed"] = False
        raise RotationFailed(
            scrub(
                f"creating a key for sub-account {request.sub_name} failed, Vault is unchanged: "
                f"{_kucoin_line(exc, api)}{cleanup}",
                secret_forms([passphrase]),
            ),
            result,
        ) from None
    hidden = secret_forms([new.secret, new.passphrase])
    result.update(created=True, previous_api_key=state.api_key, previous_vault_version=result["vault_version"])
    cas = state.metadata.current_version
    try:
        version = secret.session.write(secret.mount, secret.path, _store(secret, state, new), cas)
    except VaultError as exc:
        version = _written_anyway(secret, new.key.api_key, cas)
        if version is None:
            raise RotationFailed(
                scrub(f"writing the new key to Vault failed: {exc}; {_undo_create(api, new, result)}", hidden),
                result,
            ) from None
    event = "rotated" if state.api_key else "created"
    result["warnings"] += [
        scrub(w, hidden) for w in _record(secret, _metadata(event, version, new.key.api_key, state.api_key, now_ms))
    ]
    result.update(api_key=new.key.api_key, vault_version=version, key_age_days=0, due=False)
    result["msg"] = (
        f"created key {new.key.api_key} for sub-account {request.sub_name} ({why}) and wrote it to Vault as "
        f"version {version} of {secret.where}"
    )
    return result


def _undo_create(api: SubAccountApi, new: NewSubKey, result: dict[str, Any]) -> str:
    try:
        api.delete_key(new.key.sub_name or result["sub_name"], new.key.api_key, new.passphrase)
    except KucoinCallError as exc:
        result["api_key"] = None
        return (
            f"the new key {new.key.api_key} could not be deleted again ({_kucoin_line(exc, api)}) and is not in "
            "Vault: delete it on KuCoin's API management page"
        )
    result.update(deleted=True, changed=False)
    return f"the new key {new.key.api_key} is deleted again at KuCoin and Vault is unchanged"


# --- absent --------------------------------------------------------------------------------------------------


@dataclass
class _VaultFindings:
    passphrase: str | None = field(default=None, repr=False)
    names_it: bool = False  # the current version names the key
    rollback_version: int | None = None
    rollback_data: dict[str, Any] | None = field(default=None, repr=False)
    rollback_key: str | None = None
    current_version: int = 0
    metadata: SecretMetadata = field(default_factory=SecretMetadata)


def _find_in_vault(secret: StrategySecret, api_key: str) -> _VaultFindings:
    metadata = secret.session.metadata(secret.mount, secret.path)
    found = _VaultFindings(current_version=metadata.current_version, metadata=metadata)
    field_key, field_pass = secret.fields.api_key, secret.fields.api_passphrase
    for version in metadata.readable:
        data = secret.session.read_version(secret.mount, secret.path, version).data
        holds = str(data.get(field_key) or "") == api_key
        if version == metadata.current_version:
            found.names_it = holds
        if holds and found.passphrase is None and data.get(field_pass):
            found.passphrase = str(data[field_pass])
        if found.names_it and not holds and version < metadata.current_version and data.get(field_key):
            found.rollback_version, found.rollback_data = version, dict(data)
            found.rollback_key = str(data[field_key])
        if found.passphrase is not None and (not found.names_it or found.rollback_version is not None):
            break
    return found


def ensure_absent(
    api: SubAccountApi,
    secret: StrategySecret | None,
    sub_name: str,
    api_key: str,
    *,
    passphrase: str | None,
    check_mode: bool,
    now_ms: int,
) -> dict[str, Any]:
    result = _base_result(sub_name)
    result["previous_api_key"] = api_key
    found = _find_in_vault(secret, api_key) if secret is not None else _VaultFindings()
    passphrase = passphrase or found.passphrase
    hidden = secret_forms([passphrase or ""])
    try:
        listed = next((key for key in api.list_keys(sub_name) if key.api_key == api_key), None)
    except KucoinCallError as exc:
        raise RotationFailed(
            f"listing the keys of sub-account {sub_name} failed: {_kucoin_line(exc, api)}", result
        ) from None
    result["vault_version"] = found.current_version or None
    if listed is not None and not passphrase:
        raise RotationFailed(
            f"key {api_key} exists at KuCoin, and deleting it needs its passphrase: give passphrase, or vault with "
            "a secret whose versions hold the key",
            result,
        )
    actions = []  # (what would be done, what was done)
    if found.names_it and found.rollback_version is not None and secret is not None:
        back = f"version {found.rollback_version} (key {found.rollback_key}) of {secret.where} back as its newest"
        actions.append((f"write {back}", f"wrote {back}"))
    if listed is not None:
        actions.append((f"delete key {api_key} at KuCoin", f"deleted key {api_key} at KuCoin"))
    result["changed"] = listed is not None or (found.names_it and found.rollback_version is not None)
    if not result["changed"]:
        result["msg"] = f"key {api_key} of sub-account {sub_name} does not exist at KuCoin and Vault does not name it"
        return result
    if check_mode:
        result["msg"] = "would " + " and ".join(would for would, _did in actions)
        return result

    if found.names_it and secret is not None and found.rollback_data is not None:
        # Vault first: should the delete fail, Vault names the previous key and the key to delete still works.
        try:
            version = secret.session.write(secret.mount, secret.path, found.rollback_data, found.current_version)
        except VaultError as exc:
            result["changed"] = False
            raise RotationFailed(
                scrub(f"rolling {secret.where} back failed, nothing was deleted: {exc}", hidden), result
            ) from None
        result.update(rolled_back=True, vault_version=version, previous_vault_version=found.current_version)
        result["api_key"] = found.rollback_key
        custom = _metadata("rolled_back", version, found.rollback_key or "", api_key, now_ms)
        result["warnings"] += [scrub(w, hidden) for w in _record(secret, custom)]
    elif found.names_it:
        result["warnings"].append(
            f"Vault's current version of {secret.where if secret else 'the secret'} names key {api_key}, and no "
            "earlier version holds another key to roll back to: write the working key to Vault"
        )
    if listed is not None:
        try:
            api.delete_key(sub_name, api_key, passphrase or "")
        except KucoinCallError as exc:
            done = " (Vault is rolled back already)" if result["rolled_back"] else ""
            raise RotationFailed(
                scrub(f"deleting key {api_key} failed{done}: {_kucoin_line(exc, api)}", hidden), result
            ) from None
        result["deleted"] = True
    result["msg"] = " and ".join(did for _would, did in actions)
    return result


# --- info ----------------------------------------------------------------------------------------------------


def key_info(
    api: SubAccountApi,
    secret: StrategySecret | None,
    sub_name: str,
    *,
    max_age_days: float | None,
    now_ms: int,
) -> dict[str, Any]:
    result = _base_result(sub_name)
    try:
        keys = api.list_keys(sub_name)
    except KucoinCallError as exc:
        raise RotationFailed(
            f"listing the keys of sub-account {sub_name} failed: {_kucoin_line(exc, api)}", result
        ) from None
    result["keys"] = [key.as_result(now_ms) for key in keys]
    if secret is not None:
        state = read_vault_state(secret)
        listed = next((key for key in keys if key.api_key == state.api_key), None)
        age = listed.age_days(now_ms) if listed is not None else None
        result.update(
            api_key=state.api_key,
            vault_version=state.metadata.current_version or None,
            key_age_days=int(age) if age is not None else None,
            due=max_age_days is not None and age is not None and age > max_age_days,
        )
        if state.api_key and listed is None:
            result["warnings"].append(f"Vault names key {state.api_key}, which does not exist at KuCoin")
    result["msg"] = f"sub-account {sub_name} has {len(keys)} API key(s)"
    return result
