"""Part 2: tradebot.kucoin.key_check against the sandbox beside a plain ansible.builtin.uri timestamp call."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.config import PLAYBOOKS, BenchConfig
from bench.results import PartResult, Sample
from bench.vault_stack import host_names
from harness.ansible import run_playbook
from harness.kucoin_sandbox import KucoinSandbox, SandboxKey, make_key

SUCCESS = "200000"
VARIANTS = (("key_check", "keycheck_module.yml"), ("uri", "keycheck_uri.yml"))


def write_inventory(path: Path, sandbox: KucoinSandbox, keys: dict[str, SandboxKey]) -> Path:
    inventory = {
        "fleet": {
            "hosts": {
                host: {"kc_api_key": key.api_key, "kc_api_secret": key.secret, "kc_api_passphrase": key.passphrase}
                for host, key in keys.items()
            },
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "kc_base_url": sandbox.spot_url,
            },
        }
    }
    path.write_text(json.dumps(inventory, indent=1))
    path.chmod(0o600)
    return path


def check_requests(variant: str, sandbox: KucoinSandbox, keys: dict[str, SandboxKey]) -> str | None:
    """None when every host's check reached the sandbox and succeeded there."""
    records = list(sandbox.requests)
    failed = [r for r in records if r.http_status != 200]
    if failed:
        return f"{len(failed)} sandbox request(s) did not succeed, e.g. {failed[0].path} -> {failed[0].http_status}"
    if variant == "key_check":
        checked = {r.api_key for r in records if r.path == "/api/v1/user/api-key" and r.code == SUCCESS}
        missing = [host for host, key in keys.items() if key.api_key not in checked]
        return f"no successful key-info call for {len(missing)} host(s), e.g. {missing[0]}" if missing else None
    calls = sum(1 for r in records if r.path == "/api/v1/timestamp")
    return None if calls >= len(keys) else f"{calls} timestamp calls for {len(keys)} hosts"


def measure(config: BenchConfig, workdir: Path, part: PartResult, log: Callable[[str], None]) -> None:
    keys = {host: make_key(remark=f"bench {host}") for host in host_names(config.keycheck_hosts)}
    with KucoinSandbox(keys.values()) as sandbox:
        inventory = write_inventory(workdir / "inventory.json", sandbox, keys)

        def run(variant: str, playbook: str, rep: int) -> Sample:
            sandbox.clear_requests()
            started = time.perf_counter()
            result = run_playbook(PLAYBOOKS / playbook, inventory=inventory, timeout=900)
            seconds = time.perf_counter() - started
            requests = len(sandbox.requests)
            problem = None if result.returncode == 0 else f"ansible-playbook exited {result.returncode}"
            problem = problem or check_requests(variant, sandbox, keys)
            tail = "\n".join(result.output.strip().splitlines()[-12:])
            return Sample(
                part="keycheck",
                variant=variant,
                size=len(keys),
                rep=rep,
                seconds=seconds,
                http_requests=requests,
                ok=problem is None,
                note=f"{problem}: {tail}" if problem else "",
            )

        for variant, playbook in VARIANTS:  # untimed warm-up
            warm = run(variant, playbook, 0)
            if not warm.ok:
                part.failures.append(f"{variant} warm-up: {warm.note}")
                return
        for rep in range(1, config.keycheck_reps + 1):
            order = VARIANTS if rep % 2 else VARIANTS[::-1]
            for variant, playbook in order:
                sample = part.add(run(variant, playbook, rep))
                log(f"  {variant:<9} rep {rep} {sample.seconds:6.2f}s requests={sample.http_requests}")
                if not sample.ok:
                    part.failures.append(f"{variant} run {rep}: {sample.note}")
                    return
