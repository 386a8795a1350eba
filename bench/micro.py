"""Part 4: one lookup call in a warm process (token cached, read memo cleared) beside one direct hvac read; one
call in a freshly forked worker, as each host of a per-host template pays it; and the fleet pattern's one query
of every strategy."""

from __future__ import annotations

import importlib
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

OUR_SESSION_MODULE = "ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_session"
FLEET_QUERY = "tradebot_fleet_query"


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
    importlib.import_module(OUR_SESSION_MODULE).forget_reads()


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
    terms = [strategy.vault_path for strategy in stack.strategies.values()]
    probe_fleet_query(part, window, options, terms, workdir / "fleet-token-cache", config.fleet_reps)
    log(f"  the fleet pattern's one query of {len(terms)} strategies: timed")


def _probe(params: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    params = {"collections_path": str(ensure_collection_link()), **params}
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
    return json.loads(probe.stdout)


def probe_workers(
    part: PartResult, options: dict[str, Any], term: str, cache_dir: Path, calls: int, scheme: str = "http"
) -> None:
    results = _probe({"options": options, "term": term, "token_cache_dir": str(cache_dir), "calls": calls})
    for variant, calls_made in results.items():
        for index, call in enumerate(calls_made, start=1):
            sample = Sample("micro", worker_variant(variant, scheme), 1, index, call["wall"], cpu_seconds=call["cpu"])
            part.add(sample)


def probe_fleet_query(
    part: PartResult, window: AuditWindow, options: dict[str, Any], terms: list[str], cache_dir: Path, reps: int
) -> None:
    """One query of every strategy in a fresh process and a fresh token cache, once per rep (cold each time)."""
    for rep in range(1, reps + 1):
        window.mark()
        params = {"options": options, "fleet_terms": terms, "token_cache_dir": f"{cache_dir}-{rep}", "calls": 1}
        (call,) = _probe(params)[FLEET_QUERY]
        traffic = window.read(AUTH_MOUNT)
        part.add(
            Sample(
                "micro",
                FLEET_QUERY,
                len(terms),
                rep,
                call["wall"],
                cpu_seconds=call["cpu"],
                logins=traffic.logins,
                vault_requests=traffic.requests,
            )
        )
