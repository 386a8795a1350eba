"""Part 4: one lookup call in a warm process (token cached, read memo cleared) beside one direct hvac read."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.audit import AuditWindow
from bench.config import BenchConfig
from bench.results import PartResult, Sample, worker_variant
from bench.vault_stack import AUTH_MOUNT, KV_MOUNT, VaultStack
from harness.ansible import ensure_collection_link
from harness.procs import REPO_ROOT

OUR_MEMO_MODULE = "ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_credentials"


def _load_lookups() -> tuple[Any, Any]:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader, lookup_loader

    init_plugin_loader([str(ensure_collection_link())])
    ours = lookup_loader.get("tradebot.kucoin.vault_credentials", loader=DataLoader(), templar=None)
    anchor = lookup_loader.get("community.hashi_vault.vault_kv2_get", loader=DataLoader(), templar=None)
    if ours is None or anchor is None:
        missing = "tradebot.kucoin.vault_credentials" if ours is None else "community.hashi_vault.vault_kv2_get"
        raise RuntimeError(f"lookup {missing} not found by Ansible's plugin loader")
    return ours, anchor


def _forget_our_reads() -> None:
    """Empty the lookup's per-process read memo, so the call measured is a real Vault read ("not memoised")."""
    module = sys.modules.get(OUR_MEMO_MODULE)  # imported by the lookup's first call
    if module is not None:
        module._READS.clear()


def _timed(part: PartResult, window: AuditWindow, variant: str, calls: int, call: Callable[[], object]) -> None:
    for index in range(1, calls + 1):
        window.mark()
        started = time.perf_counter()
        call()
        seconds = time.perf_counter() - started
        traffic = window.read(AUTH_MOUNT)
        part.add(
            Sample(
                part="micro",
                variant=variant,
                size=1,
                rep=index,
                seconds=seconds,
                logins=traffic.logins,
                vault_requests=traffic.requests,
            )
        )


def measure(
    config: BenchConfig, stack: VaultStack, workdir: Path, part: PartResult, log: Callable[[str], None]
) -> None:
    ours, anchor = _load_lookups()
    strategy = next(iter(stack.strategies.values()))
    options = {
        "url": stack.url,
        "auth_method": "approle",
        "role_id": stack.role_id,
        "secret_id": stack.secret_id,
        "engine_mount_point": KV_MOUNT,
    }
    cache_dir = workdir / "micro-token-cache"

    def our_call() -> object:
        _forget_our_reads()
        return ours.run([strategy.vault_path], variables={}, token_cache_dir=str(cache_dir), **options)

    def anchor_call() -> object:
        return anchor.run([strategy.vault_path], variables={}, **options)

    import hvac

    client = hvac.Client(url=stack.url)
    client.auth.approle.login(role_id=stack.role_id, secret_id=stack.secret_id, mount_point=AUTH_MOUNT)

    def hvac_read() -> object:
        return client.secrets.kv.v2.read_secret_version(
            path=strategy.vault_path, mount_point=KV_MOUNT, raise_on_deleted_version=True
        )

    # Warm the process: imports, the plugin loader, and for ours the one login that fills the token cache.
    for call in (our_call, anchor_call, hvac_read):
        call()
    if our_call()[0]["api_key"] != strategy.api_key:  # type: ignore[index]
        raise RuntimeError("tradebot.kucoin.vault_credentials returned another secret than the one seeded")
    window = AuditWindow(stack.bao.audit_log)
    for variant, call in (("tradebot", our_call), ("hvac", hvac_read), ("hashi_vault", anchor_call)):
        _timed(part, window, variant, config.micro_calls, call)
        log(f"  {variant}: {config.micro_calls} calls timed")
    # Ours now has a cached token, as every worker after a run's first has.
    probe_workers(part, options, strategy.vault_path, cache_dir, max(5, config.micro_calls // 5))
    log("  one call per freshly forked worker: timed")
    # The same over TLS, where each worker also loads ssl and a CA store, and every connection handshakes.
    tls_options = {**options, "url": stack.tls_url, "ca_cert": stack.ca_cert}
    ours.run([strategy.vault_path], variables={}, token_cache_dir=str(cache_dir), **tls_options)
    probe_workers(part, tls_options, strategy.vault_path, cache_dir, max(5, config.micro_calls // 5), "https")
    log("  the same over HTTPS: timed")


def probe_workers(
    part: PartResult, options: dict[str, Any], term: str, cache_dir: Path, calls: int, scheme: str = "http"
) -> None:
    params = {
        "collections_path": str(ensure_collection_link()),
        "options": options,
        "term": term,
        "token_cache_dir": str(cache_dir),
        "calls": calls,
    }
    probe = subprocess.run(
        [sys.executable, "-m", "bench.worker_probe"],
        input=json.dumps(params),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO_ROOT,
    )
    if probe.returncode != 0:
        raise RuntimeError(f"worker probe failed: {probe.stderr.strip().splitlines()[-1:]}")
    for variant, calls_made in json.loads(probe.stdout).items():
        for index, call in enumerate(calls_made, start=1):
            sample = Sample("micro", worker_variant(variant, scheme), 1, index, call["wall"], cpu_seconds=call["cpu"])
            part.add(sample)
