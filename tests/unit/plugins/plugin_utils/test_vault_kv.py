"""read_secret's error mapping by status code (a fake transport raising VaultHTTPError) and vault_reason."""

from __future__ import annotations

from typing import Any

import hvac.exceptions
import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import VaultHTTP, VaultHTTPError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_kv import (
    SecretVersion,
    VaultPermissionDenied,
    VaultReadError,
    mount_kv_version,
    read_secret,
    vault_reason,
)

URL = "http://vault:8200"


class FakeKV:
    """Just enough of VaultHTTP for read_secret: KV reads answer `outcome`, plus the UI mounts endpoint."""

    def __init__(self, outcome: Any, mount_version: int | None = 2, namespace: str | None = None) -> None:
        self.url = URL
        self.settings = VaultSettings(url=URL, namespace=namespace)
        self.outcome = outcome
        self.calls: list[tuple[str, Any]] = []
        self.mount_reply = (
            {"data": {"type": "kv", "options": {"version": str(mount_version)}}} if mount_version else None
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if path.startswith("sys/internal/ui/mounts/"):
            if self.mount_reply is None:
                raise VaultHTTPError(403, ["permission denied"])
            return self.mount_reply
        self.calls.append((path, params))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def forbidden(*errors: str) -> VaultHTTPError:
    return VaultHTTPError(403, list(errors) or ["1 error occurred:\n\t* permission denied\n\n"])


def not_found(body: Any = None, *errors: str) -> VaultHTTPError:
    return VaultHTTPError(404, list(errors), body)


def v2_reply(data: dict[str, Any] | None, version: int = 4, **metadata: Any) -> dict[str, Any]:
    meta = {"version": version, "deletion_time": "", "destroyed": False, **metadata}
    return {"data": {"data": data, "metadata": meta}}


SECRET = {"api_key": "k", "api_secret": "Zq-LEAKCANARY-kv"}


def test_kv2_latest() -> None:
    client = FakeKV(v2_reply(SECRET))
    assert read_secret(client, "secret", "kucoin/a", 2, None) == SecretVersion(SECRET, 4)
    assert client.calls == [("secret/data/kucoin/a", None)]


def test_kv2_pinned_version_is_passed_through() -> None:
    client = FakeKV(v2_reply(SECRET, version=1))
    assert read_secret(client, "secret", "kucoin/a", 2, 1).version == 1
    assert client.calls[0] == ("secret/data/kucoin/a", {"version": 1})


def test_kv1_read_has_no_version() -> None:
    client = FakeKV({"data": SECRET}, mount_version=1)
    assert read_secret(client, "kv", "kucoin/b", 1, None) == SecretVersion(SECRET, None)
    assert client.calls == [("kv/kucoin/b", None)]


def test_kv1_cannot_pin_a_version() -> None:
    with pytest.raises(VaultReadError, match=r"version pinning needs KV v2, but kv_version is 1"):
        read_secret(FakeKV({"data": SECRET}), "kv", "kucoin/b", 1, 3)


def test_deleted_version() -> None:
    client = FakeKV(v2_reply(None, version=2, deletion_time="2026-01-01T00:00:00Z"))
    with pytest.raises(VaultReadError) as caught:
        read_secret(client, "secret", "kucoin/a", 2, 2)
    assert (
        str(caught.value) == "secret 'kucoin/a' on mount 'secret': version 2 was deleted (undelete it or pin another)"
    )


def test_destroyed_version() -> None:
    # Vault keeps the deletion time of a destroyed version too: destroyed must win.
    client = FakeKV(v2_reply(None, version=3, deletion_time="2026-01-01T00:00:00Z", destroyed=True))
    with pytest.raises(VaultReadError, match=r"^secret 'kucoin/a' on mount 'secret': version 3 was destroyed$"):
        read_secret(client, "secret", "kucoin/a", 2, 3)


def test_destroyed_version_as_a_404() -> None:
    # Destroyed without a prior delete: Vault answers 404, and its body still has the metadata.
    body = {"data": {"data": None, "metadata": {"version": 3, "deletion_time": "", "destroyed": True}}}
    client = FakeKV(not_found(body))
    with pytest.raises(VaultReadError, match=r"^secret 'kucoin/a' on mount 'secret': version 3 was destroyed$"):
        read_secret(client, "secret", "kucoin/a", 2, 3)


def test_missing_path() -> None:
    with pytest.raises(VaultReadError, match=r"^secret 'kucoin/none' on mount 'secret' does not exist$"):
        read_secret(FakeKV(not_found()), "secret", "kucoin/none", 2, None)


def test_missing_version() -> None:
    with pytest.raises(VaultReadError, match=r"^secret 'kucoin/a' on mount 'secret': version 99 does not exist$"):
        read_secret(FakeKV(not_found()), "secret", "kucoin/a", 2, 99)


@pytest.mark.parametrize("error", [not_found(), forbidden()])
def test_v1_read_of_a_v2_mount(error: Exception) -> None:
    # 404 with a broad policy, 403 with a least-privilege one (it grants only secret/data/...).
    client = FakeKV(error, mount_version=2)
    with pytest.raises(VaultReadError) as caught:
        read_secret(client, "secret", "kucoin/a", 1, None)
    assert not isinstance(caught.value, VaultPermissionDenied)
    assert str(caught.value) == "KV version mismatch: mount 'secret' is KV v2 but the lookup was told kv_version=1"


@pytest.mark.parametrize("error", [not_found(), forbidden()])
def test_v2_read_of_a_v1_mount(error: Exception) -> None:
    client = FakeKV(error, mount_version=1)
    with pytest.raises(VaultReadError, match=r"^KV version mismatch: mount 'kv' is KV v1 but .* kv_version=2$"):
        read_secret(client, "kv", "kucoin/b", 2, None)


def test_permission_denied_names_path_and_mount() -> None:
    client = FakeKV(forbidden())
    with pytest.raises(VaultPermissionDenied) as caught:
        read_secret(client, "secret", "kucoin/forbidden", 2, None)
    assert (
        str(caught.value)
        == "permission denied reading secret 'kucoin/forbidden' on mount 'secret' (check the token's policy)"
    )


def test_permission_denied_when_the_mount_cannot_be_inspected() -> None:
    client = FakeKV(forbidden(), mount_version=None)
    with pytest.raises(VaultPermissionDenied):
        read_secret(client, "secret", "kucoin/a", 1, None)


def test_unknown_namespace() -> None:
    client = FakeKV(not_found(None, "namespace not found"), namespace="x")
    with pytest.raises(VaultReadError, match=r"^unknown Vault namespace 'x' while reading secret 'kucoin/a'"):
        read_secret(client, "secret", "kucoin/a", 2, None)


def test_sealed() -> None:
    client = FakeKV(VaultHTTPError(503, ["Vault is sealed"]))
    with pytest.raises(VaultReadError, match=r"^Vault at http://vault:8200 is sealed while reading secret 'kucoin/a'"):
        read_secret(client, "secret", "kucoin/a", 2, None)


def test_other_vault_errors_are_one_line() -> None:
    client = FakeKV(VaultHTTPError(500, ["2 errors occurred:\n\t* a\n\t* b\n"]))
    with pytest.raises(VaultReadError, match=r"^reading secret 'kucoin/a' on mount 'secret' failed: a; b$"):
        read_secret(client, "secret", "kucoin/a", 2, None)


def test_transport_errors_during_a_read() -> None:
    # The real transport against a closed loopback port.
    client = VaultHTTP(VaultSettings(url="http://127.0.0.1:9", token="hvs.t", retries=0))
    with pytest.raises(VaultReadError, match=r"^Vault at http://127.0.0.1:9 is unreachable: \[Errno 111\]"):
        read_secret(client, "secret", "kucoin/a", 2, None)


def test_mount_kv_version() -> None:
    assert mount_kv_version(FakeKV(None, mount_version=1), "kv") == 1
    assert mount_kv_version(FakeKV(None, mount_version=2), "secret") == 2
    assert mount_kv_version(FakeKV(None, mount_version=None), "secret") is None
    other = FakeKV(None)
    other.mount_reply = {"data": {"type": "pki", "options": None}}
    assert mount_kv_version(other, "pki") is None


def test_a_secret_repr_names_fields_but_no_value() -> None:
    shown = repr(SecretVersion(SECRET, 4))
    assert "LEAKCANARY" not in shown
    assert shown == "SecretVersion(fields=['api_key', 'api_secret'], version=4)"


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
