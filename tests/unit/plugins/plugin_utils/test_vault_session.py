"""VaultSession: one login per run through the cache, memoised reads, one re-login after a revocation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils import _vault_session
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import (
    SecretVersion,
    VaultClient,
    VaultError,
    VaultPermissionDenied,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_session import VaultSession
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import IssuedToken, TokenCache

APPROLE = VaultSettings(url="http://vault:8200", auth_method="approle", role_id="r", secret_id="s")


class FakeClient:
    """Stands in for VaultClient. Reads succeed only with a valid token; token_alive is False for a dead one."""

    def __init__(self) -> None:
        self.token = ""
        self.valid: set[str] = set()
        self.reads = 0
        self.lookups = 0
        self.logins: list[str] = []
        self.forbidden_paths: set[str] = set()

    def login(self) -> IssuedToken:
        token = f"hvs.{len(self.logins) + 1}"
        self.logins.append(token)
        self.valid.add(token)
        return IssuedToken(token, expires_at=0, renewable=False)

    def token_alive(self) -> bool:
        self.lookups += 1
        return self.token in self.valid

    def read_secret(self, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
        self.reads += 1
        if self.token not in self.valid or path in self.forbidden_paths:
            raise VaultPermissionDenied(f"permission denied reading secret '{path}'")
        return SecretVersion({"api_key": "k"}, 1)


@pytest.fixture(autouse=True)
def no_memo() -> None:
    _vault_session.forget_reads()


@pytest.fixture
def vault() -> FakeClient:
    return FakeClient()


def session(vault: FakeClient, settings: VaultSettings = APPROLE, cache: TokenCache | None = None) -> VaultSession:
    if settings.token:
        vault.token = settings.token
    return VaultSession(settings, cache, client=vault)  # type: ignore[arg-type]


def test_reads_are_memoised_per_worker(vault: FakeClient) -> None:
    first = session(vault).read("secret", "kucoin/a", 2, None)
    assert session(vault).read("secret", "kucoin/a", 2, None) is first
    assert vault.reads == 1
    assert vault.logins == ["hvs.1"]


def test_a_revoked_cached_token_costs_exactly_one_new_login(vault: FakeClient, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    one = session(vault, cache=cache)
    cache.store(one.identity, IssuedToken("hvs.revoked", expires_at=0, renewable=False))
    assert one.read("secret", "kucoin/a", 2, None).version == 1
    assert vault.logins == ["hvs.1"]
    assert cache.load(one.identity).token == "hvs.1"


def test_a_policy_denial_does_not_log_in_again(vault: FakeClient) -> None:
    vault.forbidden_paths.add("kucoin/forbidden")
    with pytest.raises(VaultPermissionDenied, match=r"permission denied reading secret 'kucoin/forbidden'"):
        session(vault).read("secret", "kucoin/forbidden", 2, None)
    assert vault.logins == ["hvs.1"]
    assert vault.lookups == 1


def test_a_usable_cached_token_means_no_login(vault: FakeClient, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    one = session(vault, cache=cache)
    vault.valid.add("hvs.cached")
    cache.store(one.identity, IssuedToken("hvs.cached", expires_at=0, renewable=False))
    one.read("secret", "kucoin/a", 2, None)
    assert vault.logins == []


def test_an_expired_cached_token_is_replaced(vault: FakeClient, tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    one = session(vault, cache=cache)
    vault.valid.add("hvs.old")
    cache.store(one.identity, IssuedToken("hvs.old", expires_at=1.0, renewable=False, ttl=60))
    one.read("secret", "kucoin/a", 2, None)
    assert vault.logins == ["hvs.1"]


def test_token_auth_never_logs_in(vault: FakeClient) -> None:
    with pytest.raises(VaultPermissionDenied):
        session(vault, VaultSettings(url="http://vault:8200", token="hvs.given")).read("secret", "kucoin/a", 2, None)
    assert vault.logins == []


def test_reads_with_another_token_are_not_served_from_the_memo(vault: FakeClient) -> None:
    vault.valid.add("hvs.allowed")
    session(vault, VaultSettings(url="http://vault:8200", token="hvs.allowed")).read("secret", "kucoin/a", 2, None)
    with pytest.raises(VaultPermissionDenied):
        session(vault, VaultSettings(url="http://vault:8200", token="hvs.other")).read("secret", "kucoin/a", 2, None)
    assert vault.reads == 2


def test_an_unreachable_vault_during_renewal_keeps_the_cached_token(tmp_path: Path) -> None:
    # The real client against a closed loopback port.
    cache = TokenCache(tmp_path)
    settings = VaultSettings(url="http://127.0.0.1:9", auth_method="approle", role_id="r", secret_id="s", retries=0)
    one = VaultSession(settings, cache, client=VaultClient(settings))
    due = IssuedToken("hvs.due", expires_at=time.time() + 600, renewable=True, ttl=3600)
    assert due.due_for_renewal()
    cache.store(one.identity, due)
    with pytest.raises(VaultError, match=r"^Vault at http://127.0.0.1:9 is unreachable"):
        one.read("secret", "kucoin/a", 2, None)  # the renewal failed quietly; the read says why
    assert cache.load(one.identity) == due


def test_a_missing_client_certificate_during_login_is_one_line() -> None:
    settings = VaultSettings(url="https://127.0.0.1:9", auth_method="cert", client_cert="/nonexistent/c.pem", retries=0)
    with pytest.raises(VaultError, match=r"^cannot connect to Vault at .*/nonexistent/c.pem"):
        VaultSession(settings, None).read("secret", "kucoin/a", 2, None)
