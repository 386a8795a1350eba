"""One OpenBao for parts 1 and 4: KV v2 secrets per host and an AppRole that may read them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from harness.openbao import OpenBao

KV_MOUNT = "secret"  # the dev server's KV v2 mount
POLICY = 'path "secret/data/kucoin/*" { capabilities = ["read"] }\n'
AUTH_MOUNT = "approle"


@dataclass(frozen=True)
class Strategy:
    host: str
    vault_path: str
    api_key: str
    api_secret: str
    api_passphrase: str

    def fields(self) -> dict[str, str]:
        return {"api_key": self.api_key, "api_secret": self.api_secret, "api_passphrase": self.api_passphrase}


def host_names(count: int) -> list[str]:
    return [f"bot-{index:03d}" for index in range(1, count + 1)]


def make_strategies(count: int) -> dict[str, Strategy]:
    run_tag = secrets.token_hex(3)
    return {
        host: Strategy(
            host=host,
            vault_path=f"kucoin/{host}",
            api_key=f"bench-key-{host}-{run_tag}",
            api_secret=f"bench-secret-{host}-{secrets.token_hex(8)}",
            api_passphrase=f"bench-pass-{host}-{secrets.token_hex(4)}",
        )
        for host in host_names(count)
    }


@dataclass
class VaultStack:
    bao: OpenBao
    role_id: str
    secret_id: str
    strategies: dict[str, Strategy]

    @property
    def url(self) -> str:
        return self.bao.url

    @property
    def tls_url(self) -> str:
        """The same server's TLS listener (its certificate signed by `ca_cert`)."""
        assert self.bao.tls_url is not None
        return self.bao.tls_url

    @property
    def ca_cert(self) -> str:
        assert self.bao.ca_cert is not None
        return str(self.bao.ca_cert)

    def stop(self) -> None:
        self.bao.stop()


def start_vault_stack(workdir: Path, host_count: int) -> VaultStack:
    bao = OpenBao(workdir, tls=True).start()  # plain HTTP for every part; part 4 also probes over HTTPS
    try:
        strategies = make_strategies(host_count)
        for strategy in strategies.values():
            bao.put_secret(KV_MOUNT, strategy.vault_path, strategy.fields())
        bao.write_policy("kucoin-read", POLICY)
        role_id, secret_id = bao.setup_approle("bench", ["kucoin-read"], mount=AUTH_MOUNT)
    except BaseException:
        bao.stop()
        raise
    return VaultStack(bao, role_id, secret_id, strategies)
