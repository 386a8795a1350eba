"""One lookup call in a freshly forked Ansible worker, as each host of a play pays it.

Run by bench.micro as `python -m bench.worker_probe` with its parameters as JSON on stdin (the AppRole
secret_id stays out of argv). With "fleet_terms" it instead makes, per rep, one call of ours with every term at
once in a fresh fork and a fresh token cache: the fleet pattern's one query on the controller.

This process loads what ansible-playbook's main process holds before it forks workers (ansible-core, the
builtin plugins' routing), but not the lookups or hvac; each measured call forks a child that loads the lookup
plugin and its libraries, then makes one call. Prints JSON results on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

LOOKUPS = {"tradebot": "tradebot.kucoin.vault_credentials", "hashi_vault": "community.hashi_vault.vault_kv2_get"}


def _one_call_in_a_fork(name: str, terms: list[str], options: dict[str, Any]) -> dict[str, float]:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import lookup_loader

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read_end)
        cpu, wall = time.process_time(), time.perf_counter()
        result: dict[str, float] = {}
        try:
            lookup = lookup_loader.get(name, loader=DataLoader(), templar=None)
            values = lookup.run(terms, variables={}, **options)
            if len(values) != len(terms):
                raise RuntimeError(f"{name} returned {len(values)} results for {len(terms)} terms")
            result = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
        finally:
            os.write(write_end, json.dumps(result).encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    result = json.loads(data or b"{}")
    if not result:
        raise RuntimeError(f"{name} failed in the forked worker")
    return result


def main() -> int:
    params = json.load(sys.stdin)
    import ansible.executor.task_executor
    import ansible.template  # noqa: F401
    from ansible.plugins.loader import action_loader, init_plugin_loader

    init_plugin_loader([params["collections_path"]])
    action_loader.find_plugin_with_context("ansible.builtin.template")  # loads the builtin routing, as a play does
    preloaded = sorted(name for name in ("hvac", "requests") if name in sys.modules)
    if preloaded:
        raise RuntimeError(f"{', '.join(preloaded)} already imported before the fork: the probe would flatter")
    results: dict[str, list[dict[str, float]]] = {}
    if params.get("fleet_terms"):
        calls = []
        for rep in range(params["calls"]):
            options = {**params["options"], "token_cache_dir": f"{params['token_cache_dir']}-fleet-{rep}"}
            calls.append(_one_call_in_a_fork(LOOKUPS["tradebot"], params["fleet_terms"], options))
        json.dump({"tradebot_fleet_query": calls}, sys.stdout)
        return 0
    for variant, name in LOOKUPS.items():
        options = dict(params["options"])
        if variant == "tradebot":
            options["token_cache_dir"] = params["token_cache_dir"]
        results[variant] = [_one_call_in_a_fork(name, [params["term"]], options) for _attempt in range(params["calls"])]
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
