"""VaultHTTP, the standard-library transport, against a scripted HTTP server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_http
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_auth import vault_reason
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    VaultHTTP,
    VaultHTTPError,
    VaultTransportError,
)

CANARY = "Zq-LEAKCANARY-http"


class ScriptedVault:
    """Answers each request with the next (status, body, headers) of `script`; records what it was sent."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()  # a "hang" answer waits for this
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                vault.received.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, reply, headers = vault.script.pop(0) if vault.script else (200, {}, {})
                if reply == "hang":
                    vault.release.wait(10)
                    return
                raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def then(self, status: int, body: Any = None, **headers: str) -> ScriptedVault:
        self.script.append((status, {} if body is None else body, headers))
        return self


@pytest.fixture
def vault() -> Iterator[ScriptedVault]:
    server = ScriptedVault()
    server.thread.start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(vault_http.time, "sleep", slept.append)
    return slept


def transport(url: str, token: str | None = "hvs.t", **settings: Any) -> VaultHTTP:
    return VaultHTTP(VaultSettings(url=url, **{"retries": 3, **settings}), token=token)


def test_a_read_sends_token_namespace_and_query(vault: ScriptedVault) -> None:
    vault.then(200, {"data": {"data": {"k": "v"}}})
    reply = transport(vault.url, namespace="team/a").get("secret/data/kucoin/a b", params={"version": 2})
    assert reply == {"data": {"data": {"k": "v"}}}
    (sent,) = vault.received
    assert (sent["method"], sent["path"]) == ("GET", "/v1/secret/data/kucoin/a%20b?version=2")
    assert sent["headers"]["X-Vault-Token"] == "hvs.t"
    assert sent["headers"]["X-Vault-Namespace"] == "team/a"
    assert sent["headers"]["X-Vault-Request"] == "true"


def test_no_token_no_namespace_no_headers(vault: ScriptedVault) -> None:
    transport(vault.url, token=None).get("sys/internal/ui/mounts/secret")
    headers = vault.received[0]["headers"]
    assert "X-Vault-Token" not in headers
    assert "X-Vault-Namespace" not in headers


def test_a_post_sends_json_and_an_empty_reply_is_an_empty_dict(vault: ScriptedVault) -> None:
    vault.then(204, b"")
    assert transport(vault.url).post("auth/token/renew-self") == {}
    sent = vault.received[0]
    assert (sent["method"], sent["body"]) == ("POST", b"{}")
    assert sent["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [412, 500, 502, 503])
def test_retryable_statuses_are_retried_with_backoff(vault: ScriptedVault, sleeps: list[float], status: int) -> None:
    vault.then(status, {"errors": ["busy"]}).then(status, {"errors": ["busy"]}).then(200, {"data": {"ok": True}})
    assert transport(vault.url).get("secret/data/a") == {"data": {"ok": True}}
    assert len(vault.received) == 3
    assert sleeps == [0.3, 0.6]


def test_retries_run_out(vault: ScriptedVault, sleeps: list[float]) -> None:
    for _attempt in range(3):
        vault.then(503, {"errors": ["Vault is sealed"]})
    with pytest.raises(VaultHTTPError) as caught:
        transport(vault.url, retries=2).get("secret/data/a")
    assert (caught.value.status, caught.value.errors) == (503, ["Vault is sealed"])
    assert len(vault.received) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_statuses_are_not_retried(vault: ScriptedVault, sleeps: list[float], status: int) -> None:
    body = {"errors": [], "data": {"metadata": {"version": 3, "destroyed": True}}}
    vault.then(status, body)
    with pytest.raises(VaultHTTPError) as caught:
        transport(vault.url).get("secret/data/a")
    assert caught.value.status == status
    assert caught.value.body == body  # read_secret looks for a destroyed version's metadata here
    assert str(caught.value) == f"HTTP {status}"
    assert len(vault.received) == 1
    assert sleeps == []


def test_a_proxy_error_page_is_kept_as_text(vault: ScriptedVault) -> None:
    vault.then(418, b"<html><body><p>teapot</p>\n<p>short</p></body></html>")
    with pytest.raises(VaultHTTPError) as caught:
        transport(vault.url).get("secret/data/a")
    assert caught.value.errors == []
    assert vault_reason(caught.value) == "<html><body><p>teapot</p>; <p>short</p></body></html>"


def test_a_redirect_to_the_active_node_is_followed(vault: ScriptedVault) -> None:
    vault.then(307, b"", Location=f"{vault.url}/v1/secret/data/b").then(200, {"data": {}})
    assert transport(vault.url).get("secret/data/a") == {"data": {}}
    assert [sent["path"] for sent in vault.received] == ["/v1/secret/data/a", "/v1/secret/data/b"]


def test_a_reply_that_is_not_json(vault: ScriptedVault) -> None:
    vault.then(200, b"<html>hello</html>")
    with pytest.raises(VaultHTTPError, match=r"HTTP 200") as caught:
        transport(vault.url).get("secret/data/a")
    assert vault_reason(caught.value) == "the reply is not JSON"


def test_refused_connection_is_retried_then_reported(sleeps: list[float]) -> None:
    with pytest.raises(VaultTransportError) as caught:
        transport("http://127.0.0.1:9", retries=2).get("secret/data/a")
    assert str(caught.value) == "Vault at http://127.0.0.1:9 is unreachable: [Errno 111] Connection refused"
    assert sleeps == [0.3, 0.6]


def test_timeout(vault: ScriptedVault, sleeps: list[float]) -> None:
    vault.then(200, "hang")
    with pytest.raises(VaultTransportError) as caught:
        transport(vault.url, timeout=0.2, retries=0).get("secret/data/a")
    assert str(caught.value) == f"Vault at {vault.url} did not answer in time"


@pytest.mark.parametrize(
    ("token", "namespace"),
    [(f"hvs.{CANARY}\n", None), (f" hvs.{CANARY}", None), (f"hvs.{CANARY}", "team\r\nX-Evil: 1"), (f"é{CANARY}", None)],
)
def test_a_header_that_cannot_be_sent_is_refused_without_its_value(
    vault: ScriptedVault, token: str, namespace: str | None
) -> None:
    with pytest.raises(VaultTransportError) as caught:
        transport(vault.url, token=token, namespace=namespace).get("secret/data/a")
    assert CANARY not in str(caught.value)
    assert "request header for Vault at" in str(caught.value)
    assert vault.received == []


def test_an_address_without_a_scheme() -> None:
    with pytest.raises(VaultTransportError, match=r"^cannot connect to Vault at vault:8200: the url must start with"):
        transport("vault:8200").get("secret/data/a")


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"ca_cert": "/nonexistent/ca.pem"}, "Could not find a suitable TLS CA certificate bundle, invalid path"),
        ({"client_cert": "/nonexistent/c.pem"}, "Could not find the TLS certificate file, invalid path"),
        ({"client_key": "/nonexistent/k.pem"}, "Could not find the TLS key file, invalid path"),
    ],
)
def test_missing_tls_files(files: dict[str, str], words: str) -> None:
    with pytest.raises(VaultTransportError) as caught:
        transport("https://127.0.0.1:9", **files).get("secret/data/a")
    assert str(caught.value).startswith(f"cannot connect to Vault at https://127.0.0.1:9: {words}")
    assert str(caught.value).endswith("(check ca_cert, client_cert and client_key)")


def test_an_unusable_ca_file(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(VaultTransportError, match=r"^cannot connect to Vault at https://127.0.0.1:9: "):
        transport("https://127.0.0.1:9", ca_cert=str(bogus)).get("secret/data/a")


def test_plain_http_builds_no_tls_context(monkeypatch: pytest.MonkeyPatch, vault: ScriptedVault) -> None:
    # Loading the system's CA store costs ~20 ms per worker; plain http must not pay it.
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a TLS context was built for plain http")

    monkeypatch.setattr(vault_http.ssl, "create_default_context", refuse)
    monkeypatch.setattr(VaultHTTP, "_tls_context", refuse)
    transport(vault.url).get("secret/data/a")


READ_IN_A_FRESH_PROCESS = """
import sys
from ansible_collections.tradebot.kucoin.plugins.lookup import vault_credentials as lookup
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_credentials as utils

session = utils.VaultSession(VaultSettings(url=sys.argv[1], token="hvs.t", retries=0), None)
result = utils.credentials(session, "kucoin/a", mount="secret", kv_version=2, version=None, fields=utils.FieldNames())
assert lookup.LookupModule and result["api_key"] == "k", result
print(",".join(name for name in ("hvac", "requests", "urllib3") if name in sys.modules))
"""


def test_a_read_imports_neither_hvac_nor_requests(vault: ScriptedVault) -> None:
    # They cost every forked Ansible worker 60-100 ms of CPU; only a login may import them.
    vault.then(200, {"data": {"data": {"api_key": "k", "api_secret": "s", "api_passphrase": "p"}, "metadata": {}}})
    collections = next(entry for entry in sys.path if entry.endswith("collections"))
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_A_FRESH_PROCESS, vault.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": collections},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    assert vault.received[0]["path"] == "/v1/secret/data/kucoin/a"
