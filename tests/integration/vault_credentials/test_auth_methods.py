"""Every auth method logs in against the real OpenBao server and reads the same strategy."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault


def test_each_auth_method_reads_the_strategy(seeded_vault: SeededVault, tmp_path: Path) -> None:
    vault = seeded_vault
    bao = vault.bao
    cases = [
        {"name": "token", "term": "kucoin/alpha", "options": {"url": bao.url, "token": vault.token}},
        {"name": "approle", "term": "kucoin/alpha", "options": vault.approle()},
        {
            "name": "userpass",
            "term": "kucoin/alpha",
            "options": {
                "url": bao.url,
                "auth_method": "userpass",
                "username": "deployer",
                "password": vault.userpass_password,
            },
        },
        {
            "name": "jwt",
            "term": "kucoin/alpha",
            "options": {"url": bao.url, "auth_method": "jwt", "role": "deployer", "jwt": vault.jwt_issuer.token("ci")},
        },
        {
            "name": "cert",
            "term": "kucoin/alpha",
            "options": {
                "url": bao.tls_url,
                "auth_method": "cert",
                "role": "deployer",
                "ca_cert": str(bao.ca_cert),
                "client_cert": str(vault.client_cert),
                "client_key": str(vault.client_key),
            },
        },
        {
            "name": "kubernetes",
            "term": "kucoin/alpha",
            "options": {
                "url": bao.url,
                "auth_method": "kubernetes",
                "role": "deployer",
                "kubernetes_token_path": str(vault.k8s_token_file),
            },
        },
        {"name": "none (agent)", "term": "kucoin/alpha", "options": {"url": vault.agent_url, "auth_method": "none"}},
    ]
    logins_before = {m: bao.count_logins(m) for m in ("userpass", "jwt", "cert", "kubernetes")}
    outcomes = run_cases(cases, tmp_path)
    for name, outcome in outcomes.items():
        assert not outcome.failed, f"{name}: {outcome.msg}"
        assert outcome.value is not None
        assert outcome.value["api_key"] == "key-alpha-4", name
        assert outcome.value["api_secret"] == "secret-alpha-4", name
        assert outcome.value["vault"] == {"mount": "secret", "path": "kucoin/alpha", "version": 4}, name
    for method, before in logins_before.items():
        assert bao.count_logins(method) == before + 1, f"{method} did not log in exactly once"


def test_vault_cli_environment_is_honoured(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    token_dir = tmp_path / "home"
    token_dir.mkdir()
    (token_dir / ".vault-token").write_text(seeded_vault.token + "\n")
    cases = [
        {"name": "VAULT_ADDR+VAULT_TOKEN", "term": "kucoin/alpha", "options": {}},
        {"name": "token file", "term": "kucoin/alpha", "options": {"token_path": str(token_dir), "token": ""}},
    ]
    outcomes = run_cases(cases, tmp_path, env={"VAULT_ADDR": bao.url, "VAULT_TOKEN": seeded_vault.token})
    assert outcomes["VAULT_ADDR+VAULT_TOKEN"].value["api_key"] == "key-alpha-4"
    assert outcomes["token file"].value["api_key"] == "key-alpha-4", outcomes["token file"].msg


def test_vault_cacert_and_skip_verify(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    base = {"url": bao.tls_url, "token": seeded_vault.token}
    outcomes = run_cases(
        [{"name": "cacert from env", "term": "kucoin/alpha", "options": base}],
        tmp_path,
        env={"VAULT_CACERT": str(bao.ca_cert)},
    )
    assert outcomes["cacert from env"].value["api_key"] == "key-alpha-4", outcomes["cacert from env"].msg
    outcomes = run_cases(
        [{"name": "skip verify", "term": "kucoin/alpha", "options": base}], tmp_path, env={"VAULT_SKIP_VERIFY": "1"}
    )
    assert outcomes["skip verify"].value["api_key"] == "key-alpha-4", outcomes["skip verify"].msg
