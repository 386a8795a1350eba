"""`make bench`: run every part, then write docs/benchmarks.md, docs/benchmarks.csv and docs/benchmarks.png.

A part that cannot be measured is reported as FAILED in the report and the CSV, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from bench import report, tables
from bench.config import DOCS_DIR, FULL, QUICK, WORK_DIR, BenchConfig
from bench.machine import describe, load_average
from bench.results import PartResult
from bench.vault_stack import VaultStack, start_vault_stack

PARTS = {
    "lookups": "1. Vault lookups at fleet size",
    "keycheck": "2. Key check",
    "deploy": "3. Deploy scaling",
    "micro": "4. The lookup's own cost",
}
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.0f}s] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller fleets and fewer runs (under 3 minutes)")
    parser.add_argument("--only", action="append", choices=list(PARTS), help="run only these parts (repeatable)")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR, help="where the report, CSV and plot go")
    parser.add_argument("--sizes", type=int, nargs="+", help="override part 1's fleet sizes")
    parser.add_argument("--reps", type=int, help="override the runs per measurement of parts 1 and 2")
    parser.add_argument("--keep-workdir", action="store_true", help=f"keep {WORK_DIR} (servers' logs, inventories)")
    parser.add_argument("--deploy-sizes", type=int, nargs="+", help="override part 3's fleet sizes")
    return parser.parse_args(argv)


def configure(options: argparse.Namespace) -> BenchConfig:
    config = QUICK if options.quick else FULL
    if options.sizes:
        config = dataclasses.replace(config, fleet_sizes=tuple(sorted(set(options.sizes))))
    if options.deploy_sizes:
        config = dataclasses.replace(config, deploy_sizes=tuple(sorted(set(options.deploy_sizes))))
    if options.reps:
        config = dataclasses.replace(config, fleet_reps=options.reps, keycheck_reps=options.reps)
    return config


def isolate_environment() -> None:
    """The caller's Vault settings must not steer either lookup: each gets its options explicitly."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "TRADEBOT_VAULT_", "ANSIBLE_HASHI_VAULT_")):
            del os.environ[name]


def run_part(part: PartResult, body: Callable[[], None]) -> None:
    log(f"{part.title}: start")
    started = time.monotonic()
    try:
        body()
    except Exception as exc:
        part.failures.append(f"{type(exc).__name__}: {exc}".strip())
        log(f"{part.title}: FAILED\n{traceback.format_exc()}")
    part.seconds_spent = time.monotonic() - started
    log(f"{part.title}: {'FAILED' if part.failed else 'done'} in {part.seconds_spent:.0f}s")


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    config = configure(options)
    isolate_environment()
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    machine = describe()
    selected = options.only or list(PARTS)
    parts = {name: PartResult(name, title) for name, title in PARTS.items()}
    for name in PARTS:
        if name not in selected:
            parts[name].failures.append(f"not run in this invocation (--only {' '.join(selected)})")
    load = machine["Load average at start (1/5/15 min)"]
    log(f"{config.label} run: parts {', '.join(selected)}; load average {load}")

    stack: VaultStack | None = None
    stack_error = ""
    try:
        if {"lookups", "micro"} & set(selected):
            log("starting OpenBao and seeding one secret per host")
            try:
                stack = start_vault_stack(WORK_DIR / "openbao", max(config.fleet_sizes))
            except Exception as exc:  # parts 1 and 4 report it; parts 2 and 3 still run
                stack_error = f"OpenBao could not be started: {type(exc).__name__}: {exc}"
                log(stack_error)
        for name in selected:
            run_part(parts[name], _body(name, config, stack, stack_error, parts[name]))
    finally:
        if stack is not None:
            stack.stop()

    machine["Load average at end (1/5/15 min)"] = load_average()
    elapsed = time.monotonic() - STARTED
    write_outputs(config, machine, list(parts.values()), options.docs_dir, elapsed)
    if not options.keep_workdir:
        shutil.rmtree(WORK_DIR, ignore_errors=True)  # inventories with throwaway credentials, audit logs
    failed = [part.title for part in parts.values() if part.failed]
    print("\n".join(report.summary(config, list(parts.values()), elapsed)), flush=True)
    log(f"wrote {options.docs_dir}/benchmarks.md" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _body(
    name: str, config: BenchConfig, stack: VaultStack | None, stack_error: str, part: PartResult
) -> Callable[[], None]:
    def body() -> None:
        workdir = WORK_DIR / name
        workdir.mkdir(parents=True, exist_ok=True)
        if name in ("keycheck", "deploy"):
            module = importlib.import_module(f"bench.{name}")
            module.measure(config, workdir, part, log)
            return
        if stack is None:
            raise RuntimeError(stack_error)
        module = importlib.import_module(f"bench.{name}")  # lookups or micro
        module.measure(config, stack, workdir, part, log)

    return body


def write_outputs(
    config: BenchConfig, machine: dict[str, str], parts: list[PartResult], docs_dir: Path, elapsed: float
) -> None:
    docs_dir.mkdir(parents=True, exist_ok=True)
    finished = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lookups = next(part for part in parts if part.name == "lookups")
    if lookups.samples:
        try:
            quick = " - QUICK run" if config.quick else ""
            subtitle = f"{machine['CPU']}, {machine['Cores']} cores, {finished}{quick}"
            report.plot(lookups, config.fleet_sizes, docs_dir / report.PLOT_NAME, subtitle)
        except Exception as exc:
            lookups.failures.append(f"plot not drawn: {type(exc).__name__}: {exc}")
    else:
        lookups.failures.append("no sample, so no plot")
    (docs_dir / "benchmarks.md").write_text(report.render(config, machine, parts, finished, elapsed))
    samples = [sample for part in parts for sample in part.samples]
    failures = [(part.name, failure) for part in parts for failure in part.failures]
    (docs_dir / "benchmarks.csv").write_text(tables.samples_csv(samples, failures))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
