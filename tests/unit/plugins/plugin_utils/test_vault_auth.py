"""identity(), IssuedToken timing, and login()'s error lines (fake hvac client, real hvac exceptions)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hvac.exceptions
import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_auth import (
    IssuedToken,
    VaultLoginError,
    identity,
    login,
    token_from_auth,
    vault_reason,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings

SECRET_ID = "Zq-LEAKCANARY-unit-secret-id"
APPROLE = VaultSettings(url="http://vault:8200", auth_method="approle", role_id="role-a", secret_id=SECRET_ID)


def test_identity_is_stable_and_a_hash() -> None:
    assert identity(APPROLE) == identity(dataclasses.replace(APPROLE))
    assert len(identity(APPROLE)) == 64
    int(identity(APPROLE), 16)


@pytest.mark.parametrize(
    "change",
    [
        {"role_id": "role-b"},
        {"secret_id": "another-secret-id"},
        {"url": "http://other:8200"},
        {"namespace": "team"},
        {"mount_point": "ci-approle"},
    ],
)
def test_identity_differs_per_role_secret_and_server(change: dict[str, str]) -> None:
    assert identity(dataclasses.replace(APPROLE, **change)) != identity(APPROLE)


def test_identity_separates_methods_and_users() -> None:
    alice = VaultSettings(url="u", auth_method="userpass", username="alice", password="pw")
    bob = dataclasses.replace(alice, username="bob")
    rotated = dataclasses.replace(alice, password="pw2")
    jwt_a = VaultSettings(url="u", auth_method="jwt", role="r", jwt="a.b.c")
    jwt_b = dataclasses.replace(jwt_a, jwt="a.b.d")
    k8s_a = VaultSettings(url="u", auth_method="kubernetes", role="r", kubernetes_token_path="/a")
    k8s_b = dataclasses.replace(k8s_a, role="s")
    cert_a = VaultSettings(url="u", auth_method="cert", client_cert="/a.pem")
    cert_b = dataclasses.replace(cert_a, client_cert="/b.pem")
    keys = [identity(s) for s in (alice, bob, rotated, jwt_a, jwt_b, k8s_a, k8s_b, cert_a, cert_b)]
    assert len(set(keys)) == len(keys)


def test_identity_differs_per_token() -> None:
    # Tokens are never cached on disk, but the identity also keys the per-worker read memo.
    one = VaultSettings(url="u", token="hvs.one")
    assert identity(one) != identity(dataclasses.replace(one, token="hvs.two"))
    assert "hvs.one" not in identity(one)


def test_identity_holds_no_secret_in_clear() -> None:
    key = identity(APPROLE)
    assert SECRET_ID not in key
    assert "role-a" not in key


def test_issued_token_usable_until_the_margin() -> None:
    now = 1_000_000.0
    assert IssuedToken("t", expires_at=0, renewable=False).usable(now)  # never expires
    assert IssuedToken("t", expires_at=now + 31, renewable=False).usable(now)
    assert not IssuedToken("t", expires_at=now + 29, renewable=False).usable(now)
    assert not IssuedToken("t", expires_at=now - 1, renewable=False).usable(now)


def test_due_for_renewal_after_half_its_life() -> None:
    now = 1_000_000.0
    assert not IssuedToken("t", expires_at=now + 3000, renewable=True, ttl=3600).due_for_renewal(now)
    assert IssuedToken("t", expires_at=now + 1000, renewable=True, ttl=3600).due_for_renewal(now)
    assert not IssuedToken("t", expires_at=0, renewable=True, ttl=3600).due_for_renewal(now)
    assert not IssuedToken("t", expires_at=now + 10, renewable=True, ttl=0).due_for_renewal(now)


def test_issued_token_repr_hides_the_token() -> None:
    assert "hvs.secret" not in repr(IssuedToken("hvs.secret", expires_at=0, renewable=False))


def test_token_from_auth() -> None:
    issued = token_from_auth({"client_token": "t", "lease_duration": 600, "renewable": True}, now=100.0)
    assert (issued.token, issued.expires_at, issued.renewable, issued.ttl) == ("t", 700.0, True, 600)
    forever = token_from_auth({"client_token": "t", "lease_duration": 0}, now=100.0)
    assert forever.expires_at == 0
    assert not forever.renewable


class FakeMethod:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def approle_client(outcome: Any) -> tuple[Any, FakeMethod]:
    method = FakeMethod(outcome)
    return SimpleNamespace(auth=SimpleNamespace(approle=SimpleNamespace(login=method))), method


def test_approle_login_uses_the_mount_and_returns_the_token() -> None:
    client, method = approle_client({"auth": {"client_token": "hvs.new", "lease_duration": 60, "renewable": True}})
    issued = login(client, dataclasses.replace(APPROLE, mount_point="ci/approle"))
    assert issued.token == "hvs.new"
    assert method.calls == [{"role_id": "role-a", "secret_id": SECRET_ID, "mount_point": "ci/approle"}]


def test_refused_login_names_method_and_mount_but_no_credential() -> None:
    client, _method = approle_client(
        hvac.exceptions.InvalidRequest("invalid role or secret ID", errors=["invalid role or secret ID"])
    )
    with pytest.raises(VaultLoginError) as caught:
        login(client, APPROLE)
    message = str(caught.value)
    assert message == "login with auth method approle at auth/approle failed: invalid role or secret ID"
    assert SECRET_ID not in message


def test_sealed_vault_during_login() -> None:
    client, _method = approle_client(hvac.exceptions.VaultDown("Vault is sealed", errors=["Vault is sealed"]))
    with pytest.raises(
        VaultLoginError, match=r"^Vault at http://vault:8200 is sealed \(login with auth method approle\)$"
    ):
        login(client, APPROLE)


def test_unknown_namespace_during_login() -> None:
    client, _method = approle_client(hvac.exceptions.InvalidPath("namespace not found", errors=["namespace not found"]))
    with pytest.raises(VaultLoginError, match=r"^unknown Vault namespace 'nope' \(login with auth method approle\)$"):
        login(client, dataclasses.replace(APPROLE, namespace="nope"))


def test_login_without_a_token_in_the_reply() -> None:
    client, _method = approle_client({"auth": None})
    with pytest.raises(VaultLoginError, match=r"returned no token"):
        login(client, APPROLE)


def test_token_and_none_do_not_log_in() -> None:
    with pytest.raises(VaultLoginError, match=r"auth method none does not log in"):
        login(SimpleNamespace(auth=None), VaultSettings(url="u", auth_method="none"))


def test_kubernetes_login_reads_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sa.jwt.value\n")
    method = FakeMethod({"auth": {"client_token": "hvs.k8s", "lease_duration": 0}})
    client = SimpleNamespace(auth=SimpleNamespace(kubernetes=SimpleNamespace(login=method)))
    settings = VaultSettings(url="u", auth_method="kubernetes", role="bot", kubernetes_token_path=str(token_file))
    assert login(client, settings).token == "hvs.k8s"
    assert method.calls == [{"role": "bot", "jwt": "sa.jwt.value", "mount_point": "kubernetes"}]


def test_kubernetes_login_without_the_token_file(tmp_path: Path) -> None:
    settings = VaultSettings(url="u", auth_method="kubernetes", role="bot", kubernetes_token_path=str(tmp_path / "x"))
    with pytest.raises(VaultLoginError, match=r"cannot read the service-account token file .*/x: No such file"):
        login(SimpleNamespace(auth=None), settings)


def test_cert_login_posts_the_role_name() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def write_data(path: str, data: dict[str, Any]) -> dict[str, Any]:
        calls.append((path, data))
        return {"auth": {"client_token": "hvs.cert", "lease_duration": 0}}

    settings = VaultSettings(url="u", auth_method="cert", role="bot", client_cert="/c.pem")
    assert login(SimpleNamespace(write_data=write_data, auth=None), settings).token == "hvs.cert"
    assert calls == [("auth/cert/login", {"name": "bot"})]


def test_vault_reason_is_one_line() -> None:
    multi = hvac.exceptions.Forbidden(errors=["1 error occurred:\n\t* permission denied\n\n"])
    assert vault_reason(multi) == "permission denied"
    two = hvac.exceptions.InvalidRequest(errors=["2 errors occurred:\n\t* a\n\t* b\n\n"])
    assert vault_reason(two) == "a; b"
    assert vault_reason(hvac.exceptions.InternalServerError("boom, on get http://x/v1/y")) == "boom"
    assert vault_reason(hvac.exceptions.InternalServerError()) == "InternalServerError"
    assert vault_reason(hvac.exceptions.InvalidPath(None, url="http://x/v1/y", method="get")) == "InvalidPath"


def test_vault_reason_of_a_whole_html_page_is_bounded() -> None:
    page = "<html><body>" + "<p>bad gateway</p>\n" * 100 + "</body></html>"
    reason = vault_reason(hvac.exceptions.BadGateway(page, url="http://x/v1/y", method="get"))
    assert reason.startswith("<html><body><p>bad gateway</p>; <p>bad gateway</p>")
    assert len(reason) == 300
