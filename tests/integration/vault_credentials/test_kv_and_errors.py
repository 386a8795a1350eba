"""KV v1/v2 reads and every error line the lookup promises, against the real OpenBao (one playbook run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.openbao import OpenBao
from harness.procs import free_port, wait_for

from .conftest import SeededVault, run_cases, strategy

pytestmark = pytest.mark.vault


@pytest.fixture
def sealed_openbao(tmp_path: Path) -> Iterator[OpenBao]:
    """A throwaway server, sealed: the session's server must stay unsealed for every other test."""
    with OpenBao(tmp_path / "sealed-openbao") as bao:
        bao.client().sys.seal()
        assert bao.client().sys.read_seal_status()["sealed"]
        yield bao


def test_reads_and_error_lines(
    seeded_vault: SeededVault, sealed_openbao: OpenBao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A developer's own Vault CLI environment must not change the outcomes (no CA, no skip-verify, no address).
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_CACERT", "VAULT_SKIP_VERIFY", "VAULT_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    vault = seeded_vault
    bao = vault.bao
    token: dict[str, Any] = {"url": bao.url, "token": vault.token}
    # OpenBao's dev server has namespaces: one for a team, with its own KV v2 engine and strategy.
    root = bao.client()
    if "trading/" not in (root.list("sys/namespaces") or {}).get("data", {}).get("keys", []):
        root.write_data("sys/namespaces/trading", data={})
    in_namespace = bao.client(namespace="trading")
    if "secret/" not in in_namespace.sys.list_mounted_secrets_engines()["data"]:
        in_namespace.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    wait_for(
        lambda: in_namespace.secrets.kv.v2.create_or_update_secret(
            path="kucoin/team", secret=strategy("team"), mount_point="secret"
        ),
        timeout=30,
        what="KV v2 in namespace trading",
    )
    closed_port = free_port()
    cases = [
        # reads
        {"name": "kv2 latest", "term": "kucoin/alpha", "options": token},
        {"name": "kv2 pinned", "term": "kucoin/alpha", "options": {**token, "version": 1}},
        {"name": "kv1", "term": "kucoin/beta", "options": {**token, "engine_mount_point": "kv1", "kv_version": 1}},
        {"name": "futures", "term": "/kucoin/futures/", "options": token},
        {
            "name": "renamed fields",
            "term": "kucoin/renamed",
            "options": {
                **token,
                "api_key_field": "k",
                "api_secret_field": "s",
                "api_passphrase_field": "p",
                "key_version_field": "v",
            },
        },
        # version errors
        {"name": "deleted", "term": "kucoin/alpha", "options": {**token, "version": 2}},
        {"name": "destroyed", "term": "kucoin/alpha", "options": {**token, "version": 3}},
        {"name": "no such version", "term": "kucoin/alpha", "options": {**token, "version": 99}},
        # engine mismatch, both ways, with a least-privilege policy (Vault answers 403, not 404)
        {"name": "v1 on v2", "term": "kucoin/alpha", "options": {**token, "kv_version": 1}},
        {"name": "v2 on v1", "term": "kucoin/beta", "options": {**token, "engine_mount_point": "kv1"}},
        # missing things
        {"name": "path missing", "term": "kucoin/nope", "options": token},
        {"name": "field missing", "term": "kucoin/partial", "options": token},
        # authorisation: approle, so a denial must not trigger a fresh login
        {"name": "permission denied", "term": "kucoin/forbidden", "options": vault.approle()},
        {"name": "approle ok", "term": "kucoin/alpha", "options": vault.approle()},
        {
            "name": "login failed",
            "term": "kucoin/alpha",
            "options": vault.approle(secret_id="00000000-0000-0000-0000-000000000000"),
        },
        # transport and server state
        {
            "name": "unreachable",
            "term": "kucoin/alpha",
            "options": {**token, "url": f"http://127.0.0.1:{closed_port}", "retries": 0},
        },
        {"name": "tls failure", "term": "kucoin/alpha", "options": {**token, "url": bao.tls_url, "retries": 0}},
        {
            "name": "sealed",
            "term": "kucoin/alpha",
            "options": {"url": sealed_openbao.url, "token": sealed_openbao.root_token, "retries": 0},
        },
        {
            "name": "sealed login",
            "term": "kucoin/alpha",
            "options": vault.approle(url=sealed_openbao.url, retries=0),
        },
        {
            "name": "namespace",
            "term": "kucoin/team",
            "options": {"url": bao.url, "token": bao.root_token, "namespace": "trading"},
        },
        {"name": "unknown namespace", "term": "kucoin/alpha", "options": {**token, "namespace": "no-such-team"}},
        {
            "name": "unknown namespace login",
            "term": "kucoin/alpha",
            "options": vault.approle(namespace="no-such-team"),
        },
        # configuration
        {"name": "no url", "term": "kucoin/alpha", "options": {"url": "", "token": vault.token}},
        {
            "name": "approle without secret_id",
            "term": "kucoin/alpha",
            "options": {"url": bao.url, "auth_method": "approle", "role_id": vault.role_id},
        },
    ]
    approle_logins = bao.count_logins("approle")
    outcomes = run_cases(cases, tmp_path)

    def value(name: str) -> dict[str, Any]:
        outcome = outcomes[name]
        assert not outcome.failed, f"{name}: {outcome.msg}"
        assert outcome.value is not None
        return outcome.value

    def error(name: str) -> str:
        outcome = outcomes[name]
        assert outcome.failed, f"{name} unexpectedly succeeded: {outcome.value}"
        assert "\n" not in outcome.msg.strip(), f"{name}: not one line: {outcome.msg!r}"
        assert "Traceback" not in outcome.msg
        return outcome.msg

    latest = value("kv2 latest")
    assert (latest["api_key"], latest["api_secret"], latest["api_passphrase"]) == (
        "key-alpha-4",
        "secret-alpha-4",
        "pass-alpha-4",
    )
    assert latest["key_version"] == 2  # stored as 4 % 3 + 1
    assert latest["api"] == "spot"
    assert latest["vault"] == {"mount": "secret", "path": "kucoin/alpha", "version": 4}

    pinned = value("kv2 pinned")
    assert pinned["api_key"] == "key-alpha-1"
    assert pinned["vault"]["version"] == 1

    v1 = value("kv1")
    assert v1["api_key"] == "key-beta"
    assert v1["vault"] == {"mount": "kv1", "path": "kucoin/beta", "version": None}

    futures = value("futures")
    assert (futures["api"], futures["key_version"], futures["vault"]["path"]) == ("futures", 3, "kucoin/futures")

    renamed = value("renamed fields")
    assert (renamed["api_key"], renamed["api_secret"], renamed["api_passphrase"], renamed["key_version"]) == (
        "key-r",
        "secret-r",
        "pass-r",
        1,
    )

    assert "secret 'kucoin/alpha' on mount 'secret': version 2 was deleted" in error("deleted")
    assert "secret 'kucoin/alpha' on mount 'secret': version 3 was destroyed" in error("destroyed")
    assert "secret 'kucoin/alpha' on mount 'secret': version 99 does not exist" in error("no such version")

    assert "KV version mismatch: mount 'secret' is KV v2 but the lookup was told kv_version=1" in error("v1 on v2")
    assert "KV version mismatch: mount 'kv1' is KV v1 but the lookup was told kv_version=2" in error("v2 on v1")

    assert "secret 'kucoin/nope' on mount 'secret' does not exist" in error("path missing")
    missing = error("field missing")
    assert (
        "secret 'kucoin/partial' on mount 'secret' has no field(s) api_secret, api_passphrase "
        "(fields present: api_key, note)"
    ) in missing
    assert "no secret here" not in missing
    assert "key-p" not in missing

    denied = error("permission denied")
    assert "permission denied reading secret 'kucoin/forbidden' on mount 'secret'" in denied
    assert value("approle ok")["api_key"] == "key-alpha-4"
    # One login serves both approle reads; the policy denial was recognised as such, not as a dead token.
    assert bao.count_logins("approle") == approle_logins + 1

    login_failed = error("login failed")
    assert "login with auth method approle at auth/approle failed: invalid role or secret ID" in login_failed
    assert "00000000-0000-0000-0000-000000000000" not in login_failed

    assert f"Vault at http://127.0.0.1:{closed_port} is unreachable: [Errno 111] Connection refused" in error(
        "unreachable"
    )
    tls = error("tls failure")
    assert f"TLS failure talking to Vault at {bao.tls_url}: " in tls
    assert "certificate verify failed" in tls

    assert f"Vault at {sealed_openbao.url} is sealed while reading secret 'kucoin/alpha'" in error("sealed")
    assert f"Vault at {sealed_openbao.url} is sealed (login with auth method approle)" in error("sealed login")

    assert value("namespace")["api_key"] == "key-team"
    assert "unknown Vault namespace 'no-such-team' while reading secret 'kucoin/alpha'" in error("unknown namespace")
    assert "unknown Vault namespace 'no-such-team' (login with auth method approle)" in error("unknown namespace login")

    assert "vault_credentials: no Vault address: set the url option or VAULT_ADDR" in error("no url")
    assert "auth_method approle needs the option(s) secret_id" in error("approle without secret_id")

    for outcome in outcomes.values():
        for secret in (vault.secret_id, vault.token, vault.bao.root_token):
            assert secret not in outcome.msg, f"{outcome.name} leaks a credential"
