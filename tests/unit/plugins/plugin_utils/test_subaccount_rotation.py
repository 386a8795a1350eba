"""The rotation steps against an in-memory KuCoin (httpx MockTransport) and an in-memory KV v2 secret.

The real sandbox and OpenBao are in tests/integration/subaccount_api_key; these cover the order of steps and
every failure point quickly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_subaccount import NewKeyRequest, SubAccountApi
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import HttpSettings, make_client
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._subaccount_rotation import (
    RotationFailed,
    StrategySecret,
    ensure_absent,
    ensure_present,
    key_info,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import (
    SecretMetadata,
    SecretVersion,
    VaultError,
)

DAY_MS = 86_400_000
NEW_SECRET = "Zq-NEWSECRET-" + "5d1e"
NEW_PASS = "ZqNewPass" + "9c3b77"
NOW = int(time.time() * 1000)
MASTER = Credentials("master-key-0001", "master-secret-xyz", "master-pass-xyz")


@dataclass
class FakeKucoin:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # api_key -> listing + secret/passphrase
    fail: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # call -> [(http, code)] to answer next
    made_then_failed: bool = False  # the add call makes the key, then answers HTTP 500
    calls: list[str] = field(default_factory=list)
    counter: int = 0

    def add(self, sub: str, api_key: str, passphrase: str, age_days: float = 0, **extra: Any) -> None:
        self.keys[api_key] = {
            "subName": sub,
            "apiKey": api_key,
            "passphrase": passphrase,
            "apiVersion": 3,
            "permission": "General,Spot",
            "createdAt": int(NOW - age_days * DAY_MS),
            **extra,
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        name = {"POST": "add", "GET": "list", "DELETE": "delete"}[request.method]
        self.calls.append(name)
        if self.fail.get(name):
            status, code = self.fail[name].pop(0)
            if name == "add" and self.made_then_failed:
                body = json.loads(request.content)
                self.add(body["subName"], f"stray{len(self.keys)}", body["passphrase"])
            return httpx.Response(status, json={"code": code, "msg": "injected"})
        if name == "list":
            data = [
                {k: v for k, v in key.items() if k != "passphrase"}
                for key in self.keys.values()
                if key["subName"] == params["subName"]
            ]
            return httpx.Response(200, json={"code": "200000", "data": data})
        if name == "add":
            body = json.loads(request.content)
            self.counter += 1
            api_key = f"newkey{self.counter:018d}"
            self.add(body["subName"], api_key, body["passphrase"], permission=body["permission"])
            reply = {**self.keys[api_key], "apiSecret": NEW_SECRET}
            return httpx.Response(200, json={"code": "200000", "data": reply})
        key = self.keys.get(params["apiKey"])
        if key is None or key["passphrase"] != params["passphrase"]:
            return httpx.Response(400, json={"code": "400100", "msg": "apiKey or passphrase wrong"})
        del self.keys[params["apiKey"]]
        return httpx.Response(
            200, json={"code": "200000", "data": {"subName": key["subName"], "apiKey": key["apiKey"]}}
        )

    def api(self) -> SubAccountApi:
        transport = httpx.MockTransport(self.handler)
        return SubAccountApi(
            MASTER,
            "https://kucoin.test",
            HttpSettings(timeout=2),
            client_factory=lambda settings: make_client(settings, transport=transport),
            sleep=lambda s: None,
        )


@dataclass
class FakeVault:
    versions: list[dict[str, Any] | None] = field(default_factory=list)  # index+1 = version; None = deleted
    custom: dict[str, str] = field(default_factory=dict)
    fail_writes: int = 0
    write_lands_then_fails: bool = False

    def metadata(self, mount: str, path: str) -> SecretMetadata:
        readable = tuple(n for n in range(len(self.versions), 0, -1) if self.versions[n - 1] is not None)
        return SecretMetadata(len(self.versions), readable, dict(self.custom), "0s")

    def read_version(self, mount: str, path: str, version: int) -> SecretVersion:
        data = self.versions[version - 1]
        assert data is not None
        return SecretVersion(dict(data), version)

    def write(self, mount: str, path: str, data: dict[str, Any], cas: int) -> int:
        if self.fail_writes:
            self.fail_writes -= 1
            if self.write_lands_then_fails:
                self.versions.append(dict(data))
            raise VaultError("Vault at https://vault.test is unavailable (injected)")
        if cas != len(self.versions):
            raise VaultError("check-and-set")
        self.versions.append(dict(data))
        return len(self.versions)

    def set_custom_metadata(self, mount: str, path: str, metadata: SecretMetadata, custom: dict[str, str]) -> None:
        self.custom = dict(custom)

    @property
    def current(self) -> dict[str, Any] | None:
        return self.versions[-1] if self.versions else None


def secret_of(vault: FakeVault) -> StrategySecret:
    return StrategySecret(vault, "secret", "kucoin/grid")  # type: ignore[arg-type]


REQUEST = NewKeyRequest("grid01", ("General", "Spot"), ("203.0.113.7",), 90)


def present(kucoin: FakeKucoin, vault: FakeVault, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"max_age_days": 80, "rotate": False, "check_mode": False, "now_ms": NOW}
    options.update(kwargs)
    return ensure_present(kucoin.api(), secret_of(vault), REQUEST, passphrase_factory=lambda: NEW_PASS, **options)


def no_new_secret(result: dict[str, Any] | str) -> None:
    text = json.dumps(result) if not isinstance(result, str) else result
    assert NEW_SECRET not in text
    assert NEW_PASS not in text


def seeded(age_days: float = 1) -> tuple[FakeKucoin, FakeVault]:
    kucoin, vault = FakeKucoin(), FakeVault()
    kucoin.add("grid01", "oldkey000000000000001", "old-pass-1", age_days=age_days)
    vault.versions.append(
        {"api_key": "oldkey000000000000001", "api_secret": "s1", "api_passphrase": "old-pass-1", "api": "futures"}
    )
    return kucoin, vault


def test_creates_a_key_when_vault_has_none_and_writes_secret_passphrase_and_metadata() -> None:
    kucoin, vault = FakeKucoin(), FakeVault()
    result = present(kucoin, vault)
    assert result["changed"]
    assert result["created"]
    assert vault.current is not None
    assert vault.current["api_key"] == result["api_key"]
    assert result["api_key"] in kucoin.keys
    assert vault.current["api_secret"] == NEW_SECRET
    assert vault.current["api_passphrase"] == NEW_PASS
    assert vault.current["key_version"] == 3
    assert vault.custom["tradebot_change"] == "created"
    assert vault.custom["tradebot_version"] == "1"
    assert result["vault_version"] == 1
    assert result["previous_vault_version"] is None
    no_new_secret(result)


def test_a_key_that_is_not_due_is_left_alone() -> None:
    kucoin, vault = seeded(age_days=10)
    result = present(kucoin, vault)
    assert not result["changed"]
    assert not result["created"]
    assert result["key_age_days"] == 10
    assert kucoin.calls == ["list"]
    assert len(vault.versions) == 1


def test_a_due_key_is_replaced_and_the_old_one_kept_with_other_fields() -> None:
    kucoin, vault = seeded(age_days=85)
    result = present(kucoin, vault)
    assert result["created"]
    assert result["due"] is False
    assert result["previous_api_key"] == "oldkey000000000000001"
    assert "oldkey000000000000001" in kucoin.keys  # deleting it is the playbook's step, after the deploy
    assert vault.current is not None
    assert vault.current["api"] == "futures"
    assert vault.custom["tradebot_change"] == "rotated"
    assert vault.custom["tradebot_replaced_api_key"] == "oldkey000000000000001"
    assert result["previous_vault_version"] == 1
    assert result["vault_version"] == 2


def test_check_mode_reads_only() -> None:
    kucoin, vault = seeded(age_days=85)
    result = present(kucoin, vault, check_mode=True)
    assert result["changed"]
    assert not result["created"]
    assert "would create" in result["msg"]
    assert kucoin.calls == ["list"]
    assert len(vault.versions) == 1


def test_a_key_gone_at_kucoin_is_replaced() -> None:
    kucoin, vault = seeded()
    kucoin.keys.clear()
    assert present(kucoin, vault)["created"]


def test_a_failed_vault_write_deletes_the_new_key() -> None:
    kucoin, vault = seeded(age_days=85)
    vault.fail_writes = 1
    with pytest.raises(RotationFailed) as failed:
        present(kucoin, vault)
    assert set(kucoin.keys) == {"oldkey000000000000001"}
    assert failed.value.result["deleted"]
    assert not failed.value.result["changed"]
    assert "deleted again" in str(failed.value)
    assert len(vault.versions) == 1
    no_new_secret(str(failed.value))
    no_new_secret(failed.value.result)


def test_a_write_that_landed_although_it_failed_is_kept() -> None:
    kucoin, vault = seeded(age_days=85)
    vault.fail_writes, vault.write_lands_then_fails = 1, True
    result = present(kucoin, vault)
    assert result["created"]
    assert result["api_key"] in kucoin.keys
    assert vault.current is not None
    assert vault.current["api_key"] == result["api_key"]


def test_a_failed_delete_after_a_failed_write_names_the_key_left() -> None:
    kucoin, vault = seeded(age_days=85)
    vault.fail_writes = 1
    kucoin.fail["delete"] = [(400, "400100")]
    with pytest.raises(RotationFailed) as failed:
        present(kucoin, vault)
    stray = next(k for k in kucoin.keys if k.startswith("newkey"))
    assert stray in str(failed.value)
    assert "delete it" in str(failed.value)
    no_new_secret(str(failed.value))


def test_a_create_that_failed_after_kucoin_made_the_key_is_cleaned_up() -> None:
    kucoin, vault = seeded(age_days=85)
    kucoin.fail["add"] = [(500, "500000")]
    kucoin.made_then_failed = True
    with pytest.raises(RotationFailed) as failed:
        present(kucoin, vault)
    assert set(kucoin.keys) == {"oldkey000000000000001"}
    assert kucoin.calls.count("add") == 1  # never retried
    assert "deleted again" in str(failed.value)
    assert len(vault.versions) == 1


def test_a_refused_create_changes_nothing() -> None:
    kucoin, vault = seeded(age_days=85)
    kucoin.fail["add"] = [(400, "400007")]
    with pytest.raises(RotationFailed) as failed:
        present(kucoin, vault)
    assert "General" in str(failed.value)
    assert len(vault.versions) == 1
    assert len(kucoin.keys) == 1


def absent(kucoin: FakeKucoin, vault: FakeVault | None, api_key: str, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"passphrase": None, "check_mode": False, "now_ms": NOW}
    options.update(kwargs)
    secret = secret_of(vault) if vault is not None else None
    return ensure_absent(kucoin.api(), secret, "grid01", api_key, **options)


def test_absent_on_the_new_key_rolls_vault_back_then_deletes() -> None:
    kucoin, vault = seeded(age_days=85)
    new_key = present(kucoin, vault)["api_key"]
    result = absent(kucoin, vault, new_key)
    assert result["deleted"]
    assert result["rolled_back"]
    assert result["api_key"] == "oldkey000000000000001"
    assert new_key not in kucoin.keys
    assert vault.current is not None
    assert vault.current["api_key"] == "oldkey000000000000001"
    assert vault.custom["tradebot_change"] == "rolled_back"
    assert len(vault.versions) == 3
    again = absent(kucoin, vault, new_key)
    assert not again["changed"]


def test_absent_on_the_old_key_after_a_rotation_leaves_vault_alone() -> None:
    kucoin, vault = seeded(age_days=85)
    present(kucoin, vault)
    result = absent(kucoin, vault, "oldkey000000000000001")
    assert result["deleted"]
    assert not result["rolled_back"]
    assert len(vault.versions) == 2


def test_absent_check_mode_changes_nothing() -> None:
    kucoin, vault = seeded(age_days=85)
    new_key = present(kucoin, vault)["api_key"]
    calls = len(kucoin.calls)
    result = absent(kucoin, vault, new_key, check_mode=True)
    assert result["changed"]
    assert new_key in kucoin.keys
    assert len(vault.versions) == 2
    assert kucoin.calls[calls:] == ["list"]


def test_absent_without_a_passphrase_fails_saying_what_to_give() -> None:
    kucoin, _vault = seeded()
    with pytest.raises(RotationFailed, match="needs its passphrase"):
        absent(kucoin, None, "oldkey000000000000001")
    assert absent(kucoin, None, "oldkey000000000000001", passphrase="old-pass-1")["deleted"]


def test_a_failed_delete_leaves_vault_on_the_working_key() -> None:
    kucoin, vault = seeded(age_days=85)
    new_key = present(kucoin, vault)["api_key"]
    kucoin.fail["delete"] = [(500, "500000")] * 4
    with pytest.raises(RotationFailed) as failed:
        absent(kucoin, vault, new_key)
    assert failed.value.result["rolled_back"]
    assert new_key in kucoin.keys
    assert vault.current is not None
    assert vault.current["api_key"] == "oldkey000000000000001"
    no_new_secret(str(failed.value))


def test_info_lists_keys_without_secrets_and_says_whether_vaults_key_is_due() -> None:
    kucoin, vault = seeded(age_days=85)
    result = key_info(kucoin.api(), secret_of(vault), "grid01", max_age_days=80, now_ms=NOW)
    assert [k["api_key"] for k in result["keys"]] == ["oldkey000000000000001"]
    assert result["due"]
    assert result["key_age_days"] == 85
    assert not result["changed"]
    assert "old-pass-1" not in json.dumps(result)
