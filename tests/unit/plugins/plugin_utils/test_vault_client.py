"""VaultClient end to end over real hvac and requests, against a scripted local HTTP server.

Covers the retry loop, every error line, the body cap, scrubbing of server text, and the redirect rules.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils import _vault_client, _vault_transport
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import (
    VaultClient,
    VaultError,
    VaultPermissionDenied,
    backoff,
    one_line,
    worst_case_seconds,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import VaultSettings
from harness.http_fixtures import Trickler

CANARY = "Zq-LEAKCANARY-client"
TOKEN = f"hvs.{CANARY}-token"
SECRET_ID = f"{CANARY}-secret-id"
KV2 = {"data": {"data": {"api_key": "k"}, "metadata": {"version": 3}}}
MOUNT_V2 = {"data": {"type": "kv", "options": {"version": "2"}}}


class ScriptedVault:
    """Answers each request with the next (status, body, headers) of its script; records what it was sent."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.received: list[dict[str, Any]] = []
        vault = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                vault.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                vault.received[-1]["body"] = body
                status, reply, headers = vault.script.pop(0) if vault.script else (200, {}, {})
                raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def then(self, status: int, body: Any = None, **headers: str) -> ScriptedVault:
        self.script.append((status, {} if body is None else body, headers))
        return self

    @property
    def paths(self) -> list[str]:
        return [entry["path"] for entry in self.received]


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedVault]:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):  # a proxy in the caller's environment would take the requests
            monkeypatch.delenv(name)
    server = ScriptedVault()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    # Only this thread's pauses: threads other tests left behind may sleep too.
    slept: list[float] = []
    real_sleep, caller = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == caller:
            slept.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(_vault_client.time, "sleep", sleep)
    return slept


def client(url: str, token: str | None = TOKEN, **settings: Any) -> VaultClient:
    return VaultClient(VaultSettings(url=url, **{"retries": 3, **settings}), token=token)


def read(url: str, **settings: Any) -> Any:
    return client(url, **settings).read_secret("secret", "kucoin/a", 2, None)


def test_a_read_sends_token_and_namespace_and_returns_data_and_version(vault: ScriptedVault) -> None:
    vault.then(200, KV2)
    secret = client(vault.url, namespace="team").read_secret("secret", "kucoin/a", 2, 3)
    assert (secret.data, secret.version) == ({"api_key": "k"}, 3)
    sent = vault.received[0]
    assert sent["path"] == "/v1/secret/data/kucoin/a?version=3"
    assert sent["headers"]["X-Vault-Token"] == TOKEN
    assert sent["headers"]["X-Vault-Namespace"] == "team"
    assert "k" not in repr(secret)


def test_kv1_reads_the_plain_path(vault: ScriptedVault) -> None:
    vault.then(200, {"data": {"api_key": "k1"}})
    secret = client(vault.url).read_secret("kv", "kucoin/b", 1, None)
    assert (secret.data, secret.version, vault.paths) == ({"api_key": "k1"}, None, ["/v1/kv/kucoin/b"])


@pytest.mark.parametrize("status", [412, 500, 502, 503])
def test_retryable_statuses_are_retried_with_growing_pauses(
    vault: ScriptedVault, sleeps: list[float], status: int
) -> None:
    vault.then(status, {"errors": ["busy"]}).then(status, {"errors": ["busy"]}).then(200, KV2)
    assert read(vault.url).version == 3
    assert sleeps == [backoff(0), backoff(1)] == [0.5, 1.0]


def test_retries_stop_at_the_configured_count(vault: ScriptedVault, sleeps: list[float]) -> None:
    for _attempt in range(5):
        vault.then(500, {"errors": ["boom"]})
    with pytest.raises(VaultError, match=r"^reading secret 'kucoin/a' on mount 'secret' failed: boom$"):
        read(vault.url, retries=2)
    assert len(vault.received) == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 405])
def test_other_statuses_are_not_retried(vault: ScriptedVault, sleeps: list[float], status: int) -> None:
    vault.then(status, {"errors": ["no"]})
    with pytest.raises(VaultError, match=r"failed: no$"):
        read(vault.url)
    assert (len(vault.received), sleeps) == (1, [])


def test_the_documented_worst_case() -> None:
    assert worst_case_seconds(30, 3) == 123.5
    assert worst_case_seconds(2, 0) == 2
    assert worst_case_seconds(2, 1) == 4.5
    assert backoff(10) == 4.0


def test_sealed_and_unavailable(vault: ScriptedVault) -> None:
    vault.then(503, {"errors": ["Vault is sealed"]}).then(503, {"errors": ["standby not ready"]})
    with pytest.raises(VaultError, match=rf"^Vault at {vault.url} is sealed while reading secret 'kucoin/a'"):
        read(vault.url, retries=0)
    with pytest.raises(VaultError, match=r"is unavailable \(standby not ready\)"):
        read(vault.url, retries=0)


def test_a_policy_denial_and_a_kv_version_mismatch(vault: ScriptedVault) -> None:
    vault.then(403, {"errors": ["permission denied"]}).then(403, {"errors": ["permission denied"]})
    with pytest.raises(VaultPermissionDenied, match=r"permission denied reading secret 'kucoin/a' on mount"):
        read(vault.url)
    assert vault.paths[-1] == "/v1/sys/internal/ui/mounts/secret"
    vault.then(403, {"errors": ["permission denied"]}).then(200, MOUNT_V2)
    with pytest.raises(VaultError, match=r"mount 'secret' is KV v2 but the lookup was told kv_version=1"):
        client(vault.url).read_secret("secret", "kucoin/a", 1, None)


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"version": 2, "deletion_time": "2026-01-01T00:00:00Z"}, "version 2 was deleted"),
        ({"version": 3, "destroyed": True, "deletion_time": ""}, "version 3 was destroyed"),
    ],
)
def test_deleted_and_destroyed_versions(vault: ScriptedVault, metadata: dict[str, Any], words: str) -> None:
    vault.then(404, {"data": {"data": None, "metadata": metadata}})
    with pytest.raises(VaultError, match=words):
        read(vault.url)


def test_a_missing_path_and_an_unknown_namespace(vault: ScriptedVault) -> None:
    vault.then(404, {"errors": []}).then(200, MOUNT_V2)
    with pytest.raises(VaultError, match=r"^secret 'kucoin/a' on mount 'secret' does not exist$"):
        read(vault.url)
    vault.then(400, {"errors": ["namespace not found"]})
    with pytest.raises(VaultError, match=r"^unknown Vault namespace 'nope' while reading"):
        read(vault.url, namespace="nope")


def test_server_text_that_echoes_credentials_is_scrubbed(vault: ScriptedVault, sleeps: list[float]) -> None:
    # A proxy's error page that quotes the request headers and body back.
    login_page = f"<html>Bad gateway\nbody: secret_id={SECRET_ID}</html>".encode()
    page = f"<html>Bad gateway\nX-Vault-Token: {TOKEN}\n</html>".encode()
    vault.then(400, login_page, **{"Content-Type": "text/html"})
    settings = {"auth_method": "approle", "role_id": "r", "secret_id": SECRET_ID, "retries": 0}
    with pytest.raises(VaultError) as caught:
        client(vault.url, token=None, **settings).login()
    message = str(caught.value)
    assert message.startswith("login with auth method approle at auth/approle failed: ")
    assert CANARY not in message
    assert "\n" not in message
    vault.then(400, page, **{"Content-Type": "text/html"})
    with pytest.raises(VaultError) as caught:
        read(vault.url, retries=0)
    assert CANARY not in str(caught.value)


def test_a_kubernetes_login_error_that_echoes_the_service_account_token_is_scrubbed(
    vault: ScriptedVault, tmp_path: Path
) -> None:
    jwt = f"{CANARY}-k8s-jwt"
    token_file = tmp_path / "token"
    token_file.write_text(f"{jwt}\n")
    vault.then(400, f"<html>Bad gateway\nbody: jwt={jwt}</html>".encode(), **{"Content-Type": "text/html"})
    settings = {"auth_method": "kubernetes", "role": "bot", "kubernetes_token_path": str(token_file), "retries": 0}
    with pytest.raises(VaultError) as caught:
        client(vault.url, token=None, **settings).login()
    assert str(caught.value).startswith("login with auth method kubernetes at auth/kubernetes failed: ")
    assert CANARY not in str(caught.value)


def test_a_login_returns_the_issued_token(vault: ScriptedVault) -> None:
    vault.then(200, {"auth": {"client_token": "hvs.new", "lease_duration": 60, "renewable": True}})
    settings = {"auth_method": "approle", "role_id": "r", "secret_id": SECRET_ID, "mount_point": "ci/approle"}
    issued = client(vault.url, token="hvs.old-revoked", **settings).login()
    assert (issued.token, issued.renewable, issued.ttl) == ("hvs.new", True, 60)
    assert "hvs.new" not in repr(issued)
    sent = vault.received[0]
    assert sent["path"] == "/v1/auth/ci/approle/login"
    assert "X-Vault-Token" not in sent["headers"]
    assert json.loads(sent["body"]) == {"role_id": "r", "secret_id": SECRET_ID}


def test_a_reply_over_the_cap_is_refused(vault: ScriptedVault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_vault_transport, "MAX_BODY_BYTES", 1000)
    vault.then(200, {"data": {"data": {"blob": "x" * 5000}, "metadata": {"version": 1}}})
    with pytest.raises(VaultError, match=r"sent a reply that is too large"):
        read(vault.url)
    assert len(vault.received) == 1  # not retried


def test_a_reply_that_is_not_json(vault: ScriptedVault) -> None:
    vault.then(200, b"<html>hello</html>", **{"Content-Type": "text/html"})
    with pytest.raises(VaultError, match=r"answered reading secret 'kucoin/a' on mount 'secret' with something"):
        read(vault.url)


def test_an_unreachable_vault_is_one_line(sleeps: list[float]) -> None:
    with pytest.raises(VaultError) as caught:
        read("http://127.0.0.1:9", retries=1)
    assert str(caught.value) == "Vault at http://127.0.0.1:9 is unreachable: [Errno 111] Connection refused"
    assert sleeps == [0.5]


def test_a_token_that_cannot_be_a_header_never_reaches_the_message() -> None:
    with pytest.raises(VaultError) as caught:
        read("http://127.0.0.1:9", token=f"{TOKEN}\n", retries=0)
    assert CANARY not in str(caught.value)
    assert "request header for Vault at http://127.0.0.1:9 is invalid" in str(caught.value)


@pytest.mark.parametrize(
    ("tls", "words"),
    [
        ({"ca_cert": "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"),
        ({"client_cert": "/nonexistent/c.pem"}, "/nonexistent/c.pem"),
    ],
)
def test_a_missing_tls_file_is_one_line(tls: dict[str, str], words: str) -> None:
    with pytest.raises(VaultError) as caught:
        read("https://127.0.0.1:9", retries=0, **tls)
    message = str(caught.value)
    assert message.startswith("cannot connect to Vault at https://127.0.0.1:9: ")
    assert words in message
    assert "\n" not in message


def test_redirects_one_hop_followed_a_second_refused(vault: ScriptedVault) -> None:
    vault.then(307, b"", Location=f"{vault.url}/v1/secret/data/kucoin/a").then(200, KV2)
    assert read(vault.url).version == 3
    assert [entry["headers"].get("X-Vault-Token") for entry in vault.received] == [TOKEN, TOKEN]
    vault.received.clear()
    hop = f"{vault.url}/v1/secret/data/kucoin/a"
    vault.then(307, b"", Location=hop).then(307, b"", Location=hop).then(200, KV2)
    with pytest.raises(VaultError, match=r"redirected more than once"):
        read(vault.url, retries=0)
    assert len(vault.received) == 2


def test_one_line_walks_to_the_root_cause() -> None:
    root = ConnectionRefusedError(111, "Connection refused")
    outer = RuntimeError("<urllib3.connection.HTTPConnection object at 0x7f00>: failed")
    outer.__cause__ = root
    assert one_line(outer) == "[Errno 111] Connection refused"
    assert one_line(Exception("1 error occurred:\n\t* permission denied\n\n")) == "permission denied"


def test_a_trickling_server_is_cut_off_at_the_deadline() -> None:
    with Trickler(interval=0.05) as trickler:
        started = time.monotonic()
        with pytest.raises(VaultError) as caught:
            read(trickler.url, timeout=0.5, retries=0)
        elapsed = time.monotonic() - started
    # Bytes arrive far more often than any socket timeout; only the whole-request deadline ends it.
    assert str(caught.value) == (
        f"Vault at {trickler.url} did not answer within the 0.5 s timeout (reading secret 'kucoin/a' on mount 'secret')"
    )
    assert elapsed < 0.5 + 1.0


# --- KV v2 writes ------------------------------------------------------------------------------------------


def test_a_write_is_check_and_set_on_the_version_read_and_returns_the_new_version(vault: ScriptedVault) -> None:
    vault.then(200, {"data": {"version": 5}})
    assert client(vault.url).write_secret("secret", "kucoin/a", {"api_key": "k"}, cas=4) == 5
    sent = vault.received[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/secret/data/kucoin/a")
    assert json.loads(sent["body"]) == {"data": {"api_key": "k"}, "options": {"cas": 4}}


def test_a_check_and_set_mismatch_says_the_secret_changed(vault: ScriptedVault, sleeps: list[float]) -> None:
    vault.then(400, {"errors": ["check-and-set parameter did not match the current version"]})
    with pytest.raises(_vault_client.VaultWriteConflict, match=r"changed after version 4 was read"):
        client(vault.url).write_secret("secret", "kucoin/a", {"api_key": "k"}, cas=4)


def test_a_forbidden_write_names_the_capabilities_the_policy_needs(vault: ScriptedVault) -> None:
    vault.then(403, {"errors": ["permission denied"]}).then(200, MOUNT_V2)
    with pytest.raises(VaultPermissionDenied, match=r"needs create and update on secret/data/kucoin/a"):
        client(vault.url).write_secret("secret", "kucoin/a", {"api_key": SECRET_ID}, cas=0)


def test_metadata_of_a_missing_secret_is_empty_and_deleted_versions_are_not_readable(vault: ScriptedVault) -> None:
    vault.then(404, {"errors": []})
    assert client(vault.url).read_metadata("secret", "kucoin/a").current_version == 0
    versions = {"1": {}, "2": {"deletion_time": "2026-01-01T00:00:00Z"}, "3": {"destroyed": True}, "4": {}}
    vault.then(200, {"data": {"current_version": 4, "versions": versions, "custom_metadata": {"a": "b"}}})
    metadata = client(vault.url).read_metadata("secret", "kucoin/a")
    assert (metadata.readable, metadata.current_readable, metadata.custom_metadata) == ((4, 1), True, {"a": "b"})


def test_custom_metadata_keeps_the_secrets_own_delete_after_setting(vault: ScriptedVault) -> None:
    metadata = _vault_client.SecretMetadata(current_version=2, delete_version_after="720h")
    vault.then(204)
    client(vault.url).update_custom_metadata("secret", "kucoin/a", metadata, {"tradebot_change": "rotated"})
    sent = json.loads(vault.received[0]["body"])
    assert sent["custom_metadata"] == {"tradebot_change": "rotated"}
    assert sent["delete_version_after"] == "720h"
