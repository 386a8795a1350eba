"""credentials(): field handling and validation; VaultSession: memoised reads and one re-login on 403."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_auth
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_credentials as module
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_credentials import (
    CredentialError,
    FieldNames,
    VaultSession,
    credentials,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import VaultHTTPError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_kv import SecretVersion, VaultReadError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_token_cache import IssuedToken, TokenCache

CANARY = "Zq-LEAKCANARY-unit"


class FakeSession:
    def __init__(self, data: dict[str, Any] | Exception, version: int | None = 7) -> None:
        self.data = data
        self.version = version

    def read(self, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
        if isinstance(self.data, Exception):
            raise self.data
        return SecretVersion(dict(self.data), self.version)


def creds(data: dict[str, Any] | Exception, fields: FieldNames | None = None, **kw: Any) -> dict[str, Any]:
    session = FakeSession(data, **kw)
    return credentials(session, "kucoin/a", mount="secret", kv_version=2, version=None, fields=fields or FieldNames())  # type: ignore[arg-type]


FULL = {"api_key": "k", "api_secret": f"{CANARY}-s", "api_passphrase": f"{CANARY}-p"}


def test_full_result() -> None:
    result = creds({**FULL, "key_version": 3, "api": "futures"})
    assert result == {
        "api_key": "k",
        "api_secret": f"{CANARY}-s",
        "api_passphrase": f"{CANARY}-p",
        "key_version": 3,
        "api": "futures",
        "vault": {"mount": "secret", "path": "kucoin/a", "version": 7},
    }


def test_defaults_when_optional_fields_are_absent() -> None:
    result = creds(FULL, version=None)
    assert result["key_version"] == 2
    assert result["api"] == "spot"
    assert result["vault"]["version"] is None


@pytest.mark.parametrize(("raw", "expected"), [(1, 1), ("2", 2), (" 3 ", 3), (3.0, None), ("v2", None), (4, None)])
def test_key_version_validation(raw: Any, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(
            CredentialError, match=r"^secret 'kucoin/a' on mount 'secret': field key_version must be 1, 2 or 3$"
        ):
            creds({**FULL, "key_version": raw})
    else:
        assert creds({**FULL, "key_version": raw})["key_version"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("spot", "spot"), ("FUTURES", "futures"), (" futures\n", "futures"), ("", "spot"), ("margin", None)],
)
def test_api_validation(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(CredentialError, match=r"field api must be spot or futures$"):
            creds({**FULL, "api": raw})
    else:
        assert creds({**FULL, "api": raw})["api"] == expected


def test_missing_fields_are_named_with_the_present_names_only() -> None:
    with pytest.raises(CredentialError) as caught:
        creds({"api_key": "k", "note": f"{CANARY}-note", "api_secret_old": f"{CANARY}-old"})
    message = str(caught.value)
    assert message == (
        "secret 'kucoin/a' on mount 'secret' has no field(s) api_secret, api_passphrase "
        "(fields present: api_key, api_secret_old, note)"
    )
    assert CANARY not in message


def test_an_empty_secret() -> None:
    with pytest.raises(CredentialError, match=r"\(fields present: none\)$"):
        creds({})


def test_field_names_are_configurable() -> None:
    fields = FieldNames(api_key="k", api_secret="s", api_passphrase="p", key_version="v", api="a")
    result = creds({"k": "key", "s": "sec", "p": "pass", "v": "1", "a": "futures"}, fields=fields)
    assert (result["api_key"], result["api_secret"], result["api_passphrase"]) == ("key", "sec", "pass")
    assert (result["key_version"], result["api"]) == (1, "futures")
    with pytest.raises(CredentialError, match=r"has no field\(s\) s \(fields present: k, p\)"):
        creds({"k": "key", "p": "pass"}, fields=fields)


def test_read_errors_become_credential_errors() -> None:
    with pytest.raises(CredentialError, match=r"^boom$"):
        creds(VaultReadError("boom"))


def test_values_are_text() -> None:
    result = creds({"api_key": 12345, "api_secret": "s", "api_passphrase": 678})
    assert result["api_key"] == "12345"
    assert result["api_passphrase"] == "678"


# --- VaultSession with a fake Vault transport ------------------------------------------------------------


class FakeVault:
    """Stands in for VaultHTTP. Reads succeed only with the current token; lookup-self answers 403 for a dead one."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.valid: set[str] = set()
        self.reads = 0
        self.lookups = 0
        self.forbidden_paths: set[str] = set()
        self.url = "http://vault:8200"
        self.settings = VaultSettings(url=self.url)

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if path.startswith("sys/internal/ui/mounts/"):
            return {"data": {"type": "kv", "options": {"version": "2"}}}
        if path == "auth/token/lookup-self":
            self.lookups += 1
            if self.token not in self.valid:
                raise VaultHTTPError(403, ["permission denied"])
            return {"data": {}}
        self.reads += 1
        secret_path = path.split("/data/", 1)[1]
        if self.token not in self.valid or secret_path in self.forbidden_paths:
            raise VaultHTTPError(403, ["permission denied"])
        return {"data": {"data": dict(FULL), "metadata": {"version": 1}}}


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> FakeVault:
    fake = FakeVault()
    logins: list[str] = []

    def fake_log_in(settings: VaultSettings) -> IssuedToken:
        token = f"hvs.{len(logins) + 1}"
        logins.append(token)
        fake.valid.add(token)
        return IssuedToken(token, expires_at=0, renewable=False)

    def fake_transport(settings: VaultSettings, token: str | None = None) -> FakeVault:
        fake.token = token
        return fake

    monkeypatch.setattr(vault_auth, "log_in", fake_log_in)
    monkeypatch.setattr(module, "VaultHTTP", fake_transport)
    monkeypatch.setattr(module, "_READS", {})
    fake.logins = logins  # type: ignore[attr-defined]
    return fake


APPROLE = VaultSettings(url="http://vault:8200", auth_method="approle", role_id="r", secret_id="s")


def test_reads_are_memoised_per_worker(vault: FakeVault) -> None:
    session = VaultSession(APPROLE, None)
    first = session.read("secret", "kucoin/a", 2, None)
    assert session.read("secret", "kucoin/a", 2, None) is first
    assert VaultSession(APPROLE, None).read("secret", "kucoin/a", 2, None) is first
    assert vault.reads == 1
    assert vault.logins == ["hvs.1"]  # type: ignore[attr-defined]


def test_a_revoked_cached_token_costs_exactly_one_new_login(vault: FakeVault, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    session = VaultSession(APPROLE, cache)
    cache.store(session.identity, IssuedToken("hvs.revoked", expires_at=0, renewable=False))
    secret = session.read("secret", "kucoin/a", 2, None)
    assert secret.version == 1
    assert vault.logins == ["hvs.1"]  # type: ignore[attr-defined]
    assert cache.load(session.identity).token == "hvs.1"


def test_a_policy_denial_does_not_log_in_again(vault: FakeVault) -> None:
    vault.forbidden_paths.add("kucoin/forbidden")
    session = VaultSession(APPROLE, None)
    with pytest.raises(VaultReadError, match=r"permission denied reading secret 'kucoin/forbidden'"):
        session.read("secret", "kucoin/forbidden", 2, None)
    assert vault.logins == ["hvs.1"]  # type: ignore[attr-defined]
    assert vault.lookups == 1


def test_a_usable_cached_token_means_no_login(vault: FakeVault, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    session = VaultSession(APPROLE, cache)
    vault.valid.add("hvs.cached")
    cache.store(session.identity, IssuedToken("hvs.cached", expires_at=0, renewable=False))
    session.read("secret", "kucoin/a", 2, None)
    assert vault.logins == []  # type: ignore[attr-defined]


def test_an_expired_cached_token_is_replaced(vault: FakeVault, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    session = VaultSession(APPROLE, cache)
    vault.valid.add("hvs.old")
    cache.store(session.identity, IssuedToken("hvs.old", expires_at=1.0, renewable=False, ttl=60))
    session.read("secret", "kucoin/a", 2, None)
    assert vault.logins == ["hvs.1"]  # type: ignore[attr-defined]


def test_token_auth_never_logs_in(vault: FakeVault) -> None:
    session = VaultSession(VaultSettings(url="http://vault:8200", token="hvs.given"), None)
    vault.token = "hvs.given"
    with pytest.raises(VaultReadError, match=r"permission denied"):
        session.read("secret", "kucoin/a", 2, None)
    assert vault.logins == []  # type: ignore[attr-defined]


def test_reads_with_another_token_are_not_served_from_the_memo(vault: FakeVault) -> None:
    allowed = VaultSession(VaultSettings(url="http://vault:8200", token="hvs.allowed"), None)
    vault.valid.add("hvs.allowed")
    vault.token = "hvs.allowed"
    allowed.read("secret", "kucoin/a", 2, None)
    denied = VaultSession(VaultSettings(url="http://vault:8200", token="hvs.other"), None)
    vault.token = "hvs.other"
    with pytest.raises(VaultReadError, match=r"permission denied"):
        denied.read("secret", "kucoin/a", 2, None)
    assert vault.reads == 2


def test_a_token_that_cannot_be_a_header_never_reaches_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings built directly keep the newline that settings_from_options strips: http.client would then refuse
    # the header before connecting, with an error that quotes it.
    monkeypatch.setattr(module, "_READS", {})
    settings = VaultSettings(url="http://127.0.0.1:9", token=f"hvs.{CANARY}\n", retries=0)
    session = VaultSession(settings, None)
    with pytest.raises(CredentialError) as caught:
        credentials(session, "kucoin/a", mount="secret", kv_version=2, version=None, fields=FieldNames())
    assert CANARY not in str(caught.value)
    assert "request header for Vault at http://127.0.0.1:9 is invalid" in str(caught.value)


def test_an_unreachable_vault_during_renewal_keeps_the_cached_token(tmp_path: Path) -> None:
    # The real transport against a closed loopback port.
    cache = TokenCache(tmp_path)
    session = VaultSession(APPROLE.replace(url="http://127.0.0.1:9", retries=0), cache)
    due = IssuedToken("hvs.due", expires_at=time.time() + 600, renewable=True, ttl=3600)
    assert due.due_for_renewal()
    assert session._renew_if_due(due) is due
    assert cache.load(session.identity) is None  # nothing stored


@pytest.mark.parametrize(
    ("tls", "words"),
    [
        ({"ca_cert": "/nonexistent/ca.pem"}, "TLS CA certificate bundle, invalid path: /nonexistent/ca.pem"),
        ({"client_cert": "/nonexistent/c.pem"}, "TLS certificate file, invalid path: /nonexistent/c.pem"),
    ],
)
def test_a_missing_tls_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tls: dict[str, str], words: str) -> None:
    # Found missing before connecting (vault_tls checks the paths); one line, never a traceback.
    monkeypatch.setattr(module, "_READS", {})
    settings = VaultSettings(url="https://127.0.0.1:9", token="hvs.t", retries=0, **tls)
    with pytest.raises(CredentialError) as caught:
        credentials(
            VaultSession(settings, None), "kucoin/a", mount="secret", kv_version=2, version=None, fields=FieldNames()
        )
    assert str(caught.value).startswith("cannot connect to Vault at https://127.0.0.1:9: Could not find")
    assert words in str(caught.value)


def test_a_missing_client_certificate_during_login_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "_READS", {})
    settings = VaultSettings(url="https://127.0.0.1:9", auth_method="cert", client_cert="/nonexistent/c.pem", retries=0)
    with pytest.raises(CredentialError, match=r"^cannot connect to Vault at .*invalid path: /nonexistent/c.pem"):
        VaultSession(settings, None).read("secret", "kucoin/a", 2, None)
