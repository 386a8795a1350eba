"""login()'s error lines (fake hvac client, real hvac exceptions), the hvac client, and requests' errors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hvac.exceptions
import pytest
import requests.exceptions
import urllib3.exceptions

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_auth import (
    VaultLoginError,
    build_client,
    describe_transport_error,
    log_in,
    login,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings

URL = "http://vault:8200"
SECRET_ID = "Zq-LEAKCANARY-unit-secret-id"
APPROLE = VaultSettings(url="http://vault:8200", auth_method="approle", role_id="role-a", secret_id=SECRET_ID)


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
    issued = login(client, APPROLE.replace(mount_point="ci/approle"))
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
        login(client, APPROLE.replace(namespace="nope"))


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


def test_client_ignores_vault_token_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # hvac reads VAULT_TOKEN and ~/.vault-token when given None; the plugin decides that itself.
    monkeypatch.setenv("VAULT_TOKEN", "hvs.env-token")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text("hvs.file-token")
    client = build_client(VaultSettings(url="http://127.0.0.1:1", auth_method="approle"))
    assert client.token in ("", None)
    assert build_client(VaultSettings(url="http://127.0.0.1:1"), token="hvs.given").token == "hvs.given"


def test_client_session_carries_tls_settings_and_retries() -> None:
    settings = VaultSettings(
        url="https://vault:8200",
        ca_cert="/ca.pem",
        client_cert="/c.pem",
        client_key="/k.pem",
        retries=4,
        namespace="team",
    )
    client = build_client(settings)
    session = client.session
    assert session.verify == "/ca.pem"
    assert session.cert == ("/c.pem", "/k.pem")
    retry = session.get_adapter("https://vault:8200").max_retries
    assert retry.total == 4
    assert set(retry.status_forcelist) == {412, 500, 502, 503}
    assert client.adapter.namespace == "team"


def test_no_retries_means_no_retry_adapter() -> None:
    client = build_client(VaultSettings(url="http://vault:8200", retries=0))
    assert client.session.get_adapter("http://vault:8200").max_retries.total == 0


def _wrapped(reason: BaseException, outer: type[requests.exceptions.RequestException]) -> BaseException:
    """Shaped like requests' own errors: outer(MaxRetryError(reason))."""
    return outer(urllib3.exceptions.MaxRetryError(None, "/v1/secret/data/x", reason))


def test_describe_refused_connection() -> None:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")
    reason.__cause__ = ConnectionRefusedError(111, "Connection refused")
    message = describe_transport_error(_wrapped(reason, requests.exceptions.ConnectionError), URL)
    assert message == f"Vault at {URL} is unreachable: [Errno 111] Connection refused"


def test_describe_tls_failure() -> None:
    reason = urllib3.exceptions.SSLError("certificate verify failed: self-signed certificate in certificate chain")
    message = describe_transport_error(_wrapped(reason, requests.exceptions.SSLError), URL)
    assert message.startswith(f"TLS failure talking to Vault at {URL}: ")
    assert "certificate verify failed" in message
    assert message.endswith("(check ca_cert / VAULT_CACERT)")


def test_describe_timeout() -> None:
    message = describe_transport_error(requests.exceptions.ReadTimeout("read timed out"), URL)
    assert message == f"Vault at {URL} did not answer in time"


def test_an_invalid_header_is_described_without_its_value() -> None:
    # requests quotes the offending header value, and X-Vault-Token carries the token.
    with pytest.raises(requests.exceptions.InvalidHeader) as caught:
        requests.Request("GET", URL, headers={"X-Vault-Token": "hvs.Zq-LEAKCANARY\n"}).prepare()
    assert "Zq-LEAKCANARY" in str(caught.value)
    message = describe_transport_error(caught.value, URL)
    assert "Zq-LEAKCANARY" not in message
    assert (
        message == f"a request header for Vault at {URL} is invalid (a line break or space in the token or namespace?)"
    )


def test_log_in_reports_an_unreachable_vault_in_one_line() -> None:
    # Port 9 (discard) is closed here: requests' connection error, translated, never a traceback.
    settings = APPROLE.replace(url="http://127.0.0.1:9", retries=0)
    with pytest.raises(VaultLoginError) as caught:
        log_in(settings)
    assert str(caught.value).startswith("Vault at http://127.0.0.1:9 is unreachable: ")
    assert SECRET_ID not in str(caught.value)
