"""Part 1: the same fleet play three ways (ours, community.hashi_vault, plain variables) at several sizes."""

from __future__ import annotations

import json
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.audit import AuditWindow
from bench.config import PLAYBOOKS, BenchConfig, module_python
from bench.results import PartResult, Sample
from bench.vault_stack import AUTH_MOUNT, KV_MOUNT, VaultStack, host_names
from harness.ansible import run_playbook


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    playbook: str
    uses_vault: bool


OURS = Variant("tradebot", "tradebot.kucoin.vault_credentials", "fleet_tradebot.yml", True)
ANCHOR = Variant("hashi_vault", "community.hashi_vault.vault_kv2_get", "fleet_hashi_vault.yml", True)
FLOOR = Variant("plain", "plain variables (floor)", "fleet_plain.yml", False)
VARIANTS = (OURS, ANCHOR, FLOOR)


def write_inventory(path: Path, stack: VaultStack, hosts: list[str], variant: Variant) -> Path:
    host_vars: dict[str, dict[str, object]] = {}
    for host in hosts:
        strategy = stack.strategies[host]
        entry: dict[str, object] = {"vault_path": strategy.vault_path}
        if not variant.uses_vault:
            entry["creds"] = strategy.fields()
        host_vars[host] = entry
    inventory = {
        "fleet": {
            "hosts": host_vars,
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": module_python(),
                "vault_url": stack.url,
                "vault_role_id": stack.role_id,
                "vault_secret_id": stack.secret_id,
                "vault_kv_mount": KV_MOUNT,
            },
        }
    }
    path.write_text(json.dumps(inventory, indent=1))  # JSON is YAML; the secret_id stays out of argv
    path.chmod(0o600)
    return path


def check_env_files(out_dir: Path, stack: VaultStack, hosts: list[str]) -> str | None:
    """None when every host got its own credentials; else what is wrong (names only, no values)."""
    for host in hosts:
        env_file = out_dir / f"{host}.env"
        if not env_file.exists():
            return f"{env_file.name} was not written"
        strategy = stack.strategies[host]
        text = env_file.read_text()
        if f"KUCOIN_API_KEY={strategy.api_key}\n" not in text or strategy.api_secret not in text:
            return f"{env_file.name} does not hold {host}'s credentials"
    return None


def children_cpu_seconds() -> float:
    """CPU time of every finished child process and its descendants: less swayed than wall time by other load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class FleetRunner:
    """Runs one variant once over N hosts, cold: fresh output directory and fresh token cache directory."""

    def __init__(self, stack: VaultStack, workdir: Path) -> None:
        self.stack = stack
        self.workdir = workdir
        self.window = AuditWindow(stack.bao.audit_log)
        self._runs = 0

    def run(self, variant: Variant, hosts: list[str], rep: int) -> Sample:
        self._runs += 1
        run_dir = self.workdir / f"{variant.key}-{len(hosts)}-{self._runs}"
        out_dir = run_dir / "env"
        out_dir.mkdir(parents=True)
        inventory = write_inventory(run_dir / "inventory.json", self.stack, hosts, variant)
        # Cold runs: a token cached by an earlier run would make ours log in zero times; that is a feature,
        # but here each run pays for its own login like the anchor does.
        env = {"TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(run_dir / "token-cache")}
        self.window.mark()
        cpu_before = children_cpu_seconds()
        started = time.perf_counter()
        result = run_playbook(
            PLAYBOOKS / variant.playbook,
            inventory=inventory,
            args=["-e", f"out_dir={out_dir}"],
            env=env,
            timeout=900,
        )
        seconds = time.perf_counter() - started
        cpu_seconds = children_cpu_seconds() - cpu_before
        traffic = self.window.read(AUTH_MOUNT)
        problem = None if result.returncode == 0 else f"ansible-playbook exited {result.returncode}"
        problem = problem or check_env_files(out_dir, self.stack, hosts)
        note = f"{problem}: {_tail(result.output)}" if problem else ""
        shutil.rmtree(run_dir, ignore_errors=True)  # 200 env files of secrets per run: keep none
        return Sample(
            part="lookups",
            variant=variant.key,
            size=len(hosts),
            rep=rep,
            seconds=seconds,
            cpu_seconds=cpu_seconds,
            logins=traffic.logins,
            vault_requests=traffic.requests,
            ok=problem is None,
            note=note,
        )


def measure(
    config: BenchConfig, stack: VaultStack, workdir: Path, part: PartResult, log: Callable[[str], None]
) -> None:
    runner = FleetRunner(stack, workdir)
    broken: set[str] = set()
    # Untimed warm-up: the first ansible-playbook of a session pays for cold disk caches and .pyc files.
    for variant in VARIANTS:
        warm = runner.run(variant, host_names(1), rep=0)
        log(f"  warm-up {variant.key}: {warm.seconds:.1f}s{'' if warm.ok else ' FAILED'}")
    for size in config.fleet_sizes:
        hosts = host_names(size)
        for rep in range(1, config.fleet_reps + 1):
            # Rotate the order each round so a noisy neighbour on the CPU does not always hit the same variant.
            shift = (rep - 1) % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                if variant.key in broken:
                    continue
                sample = part.add(runner.run(variant, hosts, rep))
                status = "ok" if sample.ok else "FAILED"
                log(
                    f"  N={size:<4} rep {rep} {variant.key:<12} {sample.seconds:7.2f}s "
                    f"logins={sample.logins} requests={sample.vault_requests} {status}"
                )
                if not sample.ok:
                    broken.add(variant.key)
                    part.failures.append(f"{variant.label} at N={size}, run {rep}: {sample.note}")
