"""Part 3: deploy_bot.yml over 1, 3 and 6 freshly booted container hosts, a first and a second (unchanged) run,
beside a plain playbook a user would assemble from common parts (bench/playbooks/deploy_plain.yml) on the same
hosts, booted afresh for it.

Built from harness.demo's pieces (strategies, seeding, group vars, inventory, Vault environment), so the
benchmark deploys what `make demo` deploys, only over more hosts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from bench.config import PLAYBOOKS, BenchConfig
from bench.results import PartResult, Sample, median, ok_seconds, ratio
from harness.ansible import run_playbook
from harness.demo import (
    PLAYBOOK,
    DemoStrategy,
    bot_group_vars,
    demo_strategies,
    recap,
    seed_strategies,
    vault_env,
    write_bot_inventory,
)
from harness.hosts import BotHostFleet
from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.ntp import NtpServer
from harness.openbao import OpenBao


def fleet_strategies(size: int) -> list[DemoStrategy]:
    """One bot per host, cycling through the demo's three kinds (spot and futures, key versions 1-3)."""
    kinds = demo_strategies()
    strategies = []
    for index in range(size):
        kind = kinds[index % len(kinds)]
        key = make_key(
            permissions=kind.key.permissions, ip_whitelist=kind.key.ip_whitelist, key_version=kind.key.key_version
        )
        host = f"b{size}-bot{index + 1}"
        strategies.append(DemoStrategy(host, f"{kind.name}-{size}-{index + 1}", api=kind.api, key=key))
    return strategies


@contextlib.contextmanager
def shared_services(
    workdir: Path, strategies: Sequence[DemoStrategy]
) -> Iterator[tuple[OpenBao, str, KucoinSandbox, NtpServer]]:
    """OpenBao seeded as the demo seeds it, the sandbox with the same keys, and the NTP server."""
    with contextlib.ExitStack() as stack:
        bao = stack.enter_context(OpenBao(workdir / "openbao"))
        token = seed_strategies(bao, strategies)
        sandbox = stack.enter_context(KucoinSandbox([s.key for s in strategies]))
        ntp = stack.enter_context(NtpServer(workdir / "ntp"))
        yield bao, token, sandbox, ntp


def judge(
    counts: Mapping[str, Mapping[str, int]], returncode: int, names: Sequence[str], *, unchanged: bool
) -> str | None:
    """None when every host was deployed (and, on the second run, nothing changed); else what went wrong."""
    if returncode != 0:
        return f"ansible-playbook exited {returncode}"
    missing = [name for name in names if name not in counts]
    if missing:
        return f"no PLAY RECAP line for {', '.join(missing)}"
    bad = [n for n in names if counts[n]["failed"] or counts[n]["unreachable"]]
    if bad:
        return f"failed or unreachable: {', '.join(bad)}"
    if unchanged:
        changed = {n: counts[n]["changed"] for n in names if counts[n]["changed"]}
        if changed:
            return "second run was not unchanged: " + ", ".join(f"{n} changed={c}" for n, c in changed.items())
    return None


PLAIN_PLAYBOOK = PLAYBOOKS / "deploy_plain.yml"
# (sample variant prefix, playbook): ours first, then the plain playbook on freshly booted hosts.
PLAYBOOKS_COMPARED = (("", PLAYBOOK), ("plain_", PLAIN_PLAYBOOK))
# deploy_bot.yml's extra verification (clock sync, key check) may cost at most this much over the plain one.
RATIO_GOAL = 1.2


def variant_name(prefix: str, run: str) -> str:
    """The sample variant: "first"/"second" for deploy_bot.yml, "plain_first"/"plain_second" for the plain one."""
    return f"{prefix}{run}"


def ratios(part: PartResult, size: int) -> dict[str, float | None]:
    """deploy_bot.yml's time over the plain playbook's, per run (None when either is missing or failed)."""
    out: dict[str, float | None] = {}
    for run in ("first", "second"):
        ours, plain = part.select(run, size), part.select(variant_name("plain_", run), size)
        if not ours or not plain or not all(s.ok for s in ours + plain):
            out[run] = None
            continue
        out[run] = ratio(median(ok_seconds(ours)), median(ok_seconds(plain)))
    return out


def measure(config: BenchConfig, workdir: Path, part: PartResult, log: Callable[[str], None]) -> None:
    per_size = {size: fleet_strategies(size) for size in config.deploy_sizes}
    everything = [strategy for strategies in per_size.values() for strategy in strategies]
    with shared_services(workdir, everything) as (bao, token, sandbox, ntp):
        for size, strategies in per_size.items():
            for prefix, playbook in PLAYBOOKS_COMPARED:
                if not deploy_twice(workdir, part, log, size, strategies, prefix, playbook, (bao, token, sandbox, ntp)):
                    break


def deploy_twice(
    workdir: Path,
    part: PartResult,
    log: Callable[[str], None],
    size: int,
    strategies: Sequence[DemoStrategy],
    prefix: str,
    playbook: Path,
    services: tuple[OpenBao, str, KucoinSandbox, NtpServer],
) -> bool:
    """A first and a second run of `playbook` on `size` pristine hosts; False when a run failed."""
    bao, token, sandbox, ntp = services
    names = [s.host for s in strategies]
    label = playbook.name
    log(f"  booting {size} pristine host(s) for {label}")
    with BotHostFleet(workdir / f"hosts-{prefix}{size}", names) as fleet:
        inventory = write_bot_inventory(
            fleet, workdir / f"inventory-{prefix}{size}.yml", strategies, bot_group_vars(sandbox, ntp)
        )
        env = vault_env(bao, token, workdir / f"vault-cache-{prefix}{size}")
        for run, rep in (("first", 1), ("second", 2)):
            variant = variant_name(prefix, run)
            started = time.perf_counter()
            result = run_playbook(playbook, inventory=inventory, env=env, timeout=1500)
            seconds = time.perf_counter() - started
            (workdir / f"deploy-{size}-{variant}.log").write_text(result.output)  # kept with --keep-workdir
            problem = judge(recap(result), result.returncode, names, unchanged=run == "second")
            tail = "\n".join(result.output.strip().splitlines()[-15:])
            sample = part.add(
                Sample(
                    "deploy",
                    variant,
                    size,
                    rep,
                    seconds,
                    ok=problem is None,
                    note=f"{problem}:\n{tail}" if problem else "",
                )
            )
            log(f"  {size} host(s), {label} {run} run: {seconds:.1f}s {'ok' if sample.ok else 'FAILED'}")
            if not sample.ok:
                part.failures.append(f"{size} host(s), {label} {run} run: {sample.note}")
                return False
    return True
