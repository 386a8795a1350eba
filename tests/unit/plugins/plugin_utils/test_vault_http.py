"""VaultHTTP, the standard-library transport, against a scripted HTTP server on loopback."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_http
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    VaultHTTP,
    VaultHTTPError,
    VaultTransportError,
    proxy_in_environment,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_kv import vault_reason
from harness.tls import TestCA

CANARY = "Zq-LEAKCANARY-http"


class RawReply(bytes):
    """A whole HTTP reply, status line included, sent as it is."""


class ScriptedVault:
    """Answers each request with the next (status, body, headers) of `script`; records what it was sent."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
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
                if isinstance(reply, RawReply):  # exactly these bytes, then the connection closes
                    self.wfile.write(reply)
                    self.close_connection = True
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
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def then(self, status: int, body: Any = None, **headers: str) -> ScriptedVault:
        self.script.append((status, {} if body is None else body, headers))
        return self


@contextmanager
def scripted_vault(tls: ssl.SSLContext | None = None) -> Iterator[ScriptedVault]:
    server = ScriptedVault(tls)
    server.thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedVault]:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):  # a proxy in the caller's environment would take the requests
            monkeypatch.delenv(name)
    with scripted_vault() as server:
        yield server


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

    monkeypatch.setattr(VaultHTTP, "_tls_context", refuse)
    transport(vault.url).get("secret/data/a")


def test_a_chunked_reply_after_an_interim_answer(vault: ScriptedVault) -> None:
    body = json.dumps({"data": {"data": {"k": "v" * 3000}}}).encode()
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in (body[:1000], body[1000:]))
    vault.then(
        200,
        RawReply(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunks
            + b"0\r\nX-Trailer: 1\r\n\r\n"
        ),
    )
    assert transport(vault.url).get("secret/data/a") == {"data": {"data": {"k": "v" * 3000}}}


def test_a_reply_without_length_is_read_to_the_end(vault: ScriptedVault) -> None:
    vault.then(200, RawReply(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"data": {"x": 1}}'))
    assert transport(vault.url).get("secret/data/a") == {"data": {"x": 1}}


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}", "the reply was cut short"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "the reply is not HTTP/1.x"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a chunk size is unreadable"),
        (b"", "the connection closed before a reply"),
    ],
    ids=["short", "not-http", "bad-chunk", "empty"],
)
def test_a_broken_reply_is_retried_then_reported(
    vault: ScriptedVault, sleeps: list[float], reply: bytes, detail: str
) -> None:
    for _attempt in range(2):
        vault.then(200, RawReply(reply))
    with pytest.raises(VaultTransportError) as caught:
        transport(vault.url, retries=1).get("secret/data/a")
    assert str(caught.value) == f"Vault at {vault.url} is unreachable: {detail}"
    assert sleeps == [0.3]


def test_a_renewal_redirected_by_a_standby_keeps_its_method_and_body(vault: ScriptedVault) -> None:
    vault.then(307, b"", Location="/v1/auth/token/renew-self").then(200, {"auth": {"lease_duration": 60}})
    assert transport(vault.url).post("auth/token/renew-self", {"increment": "1h"}) == {"auth": {"lease_duration": 60}}
    assert [(sent["method"], sent["body"]) for sent in vault.received] == [("POST", b'{"increment": "1h"}')] * 2
    assert vault.received[1]["headers"]["X-Vault-Token"] == "hvs.t"


def test_redirects_that_never_end(vault: ScriptedVault) -> None:
    for _hop in range(6):
        vault.then(307, b"", Location=f"{vault.url}/v1/secret/data/a")
    with pytest.raises(VaultTransportError, match=r"is unreachable: more than 5 redirects$"):
        transport(vault.url).get("secret/data/a")
    assert len(vault.received) == 6


def test_a_redirect_from_https_to_http_is_not_followed(tmp_path: Path) -> None:
    # Following it would send the token in clear text.
    ca = TestCA(tmp_path / "pki")
    issued = ca.issue("127.0.0.1", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    with scripted_vault(context) as secure, scripted_vault() as plain:
        secure.then(307, b"", Location=f"{plain.url}/v1/secret/data/a")
        with pytest.raises(VaultTransportError) as caught:
            transport(secure.url, ca_cert=str(ca.cert)).get("secret/data/a")
        assert str(caught.value) == (
            f"Vault at {secure.url} is unreachable: HTTP 307 to {plain.url}/v1/secret/data/a, not followed"
        )
        assert plain.received == []
        secure.then(200, {"data": {"over": "tls"}})
        assert transport(secure.url, ca_cert=str(ca.cert)).get("secret/data/a") == {"data": {"over": "tls"}}


def test_requests_go_through_a_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, vault: ScriptedVault
) -> None:
    monkeypatch.setenv("HTTP_PROXY", vault.url)  # the scripted server plays the proxy
    vault.then(200, {"data": {"via": "proxy"}})
    assert transport("http://vault.invalid:8200").get("secret/data/a") == {"data": {"via": "proxy"}}
    (sent,) = vault.received
    assert sent["path"] == "http://vault.invalid:8200/v1/secret/data/a"
    assert sent["headers"]["X-Vault-Token"] == "hvs.t"


def test_no_proxy_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch, vault: ScriptedVault) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    vault.then(200, {"data": {"via": "direct"}})
    assert transport(vault.url).get("secret/data/a") == {"data": {"via": "direct"}}
    assert vault.received[0]["path"] == "/v1/secret/data/a"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"NO_PROXY": "*", "no_proxy": "x"}, False),
        ({"HTTPS_PROXY": ""}, False),
        ({"HTTPS_PROXY": "http://p:3128"}, True),
        ({"all_proxy": "socks5://p"}, True),
    ],
)
def test_which_environments_hand_requests_to_urllib(environ: dict[str, str], expected: bool) -> None:
    assert proxy_in_environment(environ) is expected


READ_IN_A_FRESH_PROCESS = """
import sys
LOADED_ONLY_WHEN_NEEDED = (
    "hvac", "requests", "urllib3", "ssl", "http.client", "urllib.request",
    "ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_auth",
    "ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_tls",
    "ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_proxy",
)
from ansible_collections.tradebot.kucoin.plugins.lookup import vault_credentials as lookup
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_credentials as utils
from ansible_collections.tradebot.kucoin.plugins.plugin_utils import vault_token_cache as cache

# What each host's worker does after the first one logged in: AppRole, token taken from the shared cache.
settings = VaultSettings(url=sys.argv[1], auth_method="approle", role_id="r", secret_id="s", retries=0)
shared = cache.TokenCache(sys.argv[2])
shared.store(cache.identity(settings), cache.IssuedToken("hvs.cached", expires_at=0, renewable=False))
session = utils.VaultSession(settings, shared)
result = utils.credentials(session, "kucoin/a", mount="secret", kv_version=2, version=None, fields=utils.FieldNames())
assert lookup.LookupModule and result["api_key"] == "k", result
print(",".join(name for name in LOADED_ONLY_WHEN_NEEDED if name in sys.modules))
"""


def test_a_cached_token_read_over_plain_http_imports_no_http_library_nor_login_code(
    vault: ScriptedVault, tmp_path: Path
) -> None:
    # Each forked Ansible worker pays for its imports: hvac with requests 60-100 ms of CPU (only a login may
    # import them), urllib.request with http.client and ssl about 12 ms (only https and proxies need them, and
    # so do our vault_tls and vault_proxy), and our own login code about 2 ms (a worker that reuses the cached
    # token never logs in).
    vault.then(200, {"data": {"data": {"api_key": "k", "api_secret": "s", "api_passphrase": "p"}, "metadata": {}}})
    collections = next(entry for entry in sys.path if entry.endswith("collections"))
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_A_FRESH_PROCESS, vault.url, str(tmp_path / "token-cache")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": collections},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    assert [request["path"] for request in vault.received] == ["/v1/secret/data/kucoin/a"]  # no login, no check
    assert vault.received[0]["headers"]["X-Vault-Token"] == "hvs.cached"
