"""Runs tradebot.kucoin.key_check through ansible-playbook against the local KuCoin sandbox, many cases a run."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.ansible import LOCAL, PlaybookRun, run_playbook
from harness.kucoin_sandbox import KucoinSandbox, SandboxKey
from harness.tls import TestCA

PLAYBOOKS = Path(__file__).parent / "playbooks"


@dataclass
class Outcome:
    name: str
    failed: bool
    seconds: float | None  # wall time of the task, for timed cases
    result: dict[str, Any]

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.result["policy_warnings"]] if "policy_warnings" in self.result else []

    def __str__(self) -> str:
        return f"{self.name}: failed={self.failed} msg={self.msg!r} warnings={self.warnings}"


def key_args(key: SandboxKey, sandbox: KucoinSandbox, **extra: Any) -> dict[str, Any]:
    """Module options for `key` against the sandbox's spot listener."""
    return {
        "api_key": key.api_key,
        "api_secret": key.secret,
        "api_passphrase": key.passphrase,
        "key_version": key.key_version,
        "base_url": sandbox.spot_url,
        "timeout": 5,
        **extra,
    }


def run_cases(
    cases: list[dict[str, Any]],
    tmp_path: Path,
    timed: list[dict[str, Any]] = (),
    *args: str,
    env: dict[str, str] | None = None,
) -> dict[str, Outcome]:
    """Every case's key_check in one ansible-playbook run; map case name to its outcome.

    `timed` cases also record the task's wall time (each runs as its own included task, which costs more).
    """
    out_file = tmp_path / "outcomes.json"
    vars_file = tmp_path / "cases.json"
    vars_file.write_text(json.dumps({"cases": cases, "timed_cases": list(timed), "out_file": str(out_file)}))
    vars_file.chmod(0o600)
    result = run_playbook(
        PLAYBOOKS / "cases.yml", inventory="localhost,", args=[*LOCAL, "-e", f"@{vars_file}", *args], env=env
    )
    assert result.returncode == 0, str(result)
    saved = json.loads(out_file.read_text())
    outcomes = {}
    for case, registered in zip(cases, saved["cases"], strict=True):
        outcomes[case["name"]] = Outcome(case["name"], bool(registered.get("failed")), None, registered)
    for raw in saved["timed"]:
        registered = raw["result"]
        outcomes[raw["name"]] = Outcome(raw["name"], bool(registered.get("failed")), float(raw["seconds"]), registered)
    assert list(outcomes) == [c["name"] for c in [*cases, *timed]]
    return outcomes


def run_verbose(tmp_path: Path, extra_vars: dict[str, Any]) -> PlaybookRun:
    vars_file = tmp_path / "verbose.json"
    vars_file.write_text(json.dumps(extra_vars))
    vars_file.chmod(0o600)
    return run_playbook(
        PLAYBOOKS / "verbose.yml", inventory="localhost,", args=[*LOCAL, "-e", f"@{vars_file}", "-vvvv", "--diff"]
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Forwarder(BaseHTTPRequestHandler):
    """Passes each request on to the sandbox unchanged and its answer back: TLS in front, like a load balancer."""

    protocol_version = "HTTP/1.1"
    server: _TlsFront

    def do_GET(self) -> None:
        upstream = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
            upstream.request("GET", self.path, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in {"content-length", "connection", "server", "date"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TlsFront(ThreadingHTTPServer):
    daemon_threads = True
    upstream_host: str
    upstream_port: int


@pytest.fixture(scope="module")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("kucoin-tls"), name="kucoin front CA")


@pytest.fixture
def tls_front(sandbox: KucoinSandbox, tls_ca: TestCA) -> Iterator[str]:
    """An https:// URL (certificate for 127.0.0.1 from `tls_ca`) in front of the sandbox's spot listener."""
    issued = tls_ca.issue("kucoin-front", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    server = _TlsFront(("127.0.0.1", 0), _Forwarder)
    upstream = urlsplit(sandbox.spot_url)
    server.upstream_host, server.upstream_port = upstream.hostname or "127.0.0.1", upstream.port or 80
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
