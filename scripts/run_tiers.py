"""Run every test tier on every supported ansible-core and print one count line per tier.

Called by `make test` (and `make unit|integration|sanity|lint`). Stdlib only: it runs before any venv is
trusted. Under CI=true a tier that cannot run, or a test that was skipped, fails the run.

Two tiers run at a time (one with --serial): the integration tests of the role on container hosts
(ansible-core 2.19), which take the longest, start first; whichever of the two ends first takes the next tier.
Each tier writes a log of its own, printed whole when the tier ends.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "output"
JUNIT = OUTPUT / "junit-tiers"
LOGS = OUTPUT / "tier-logs"
IN_CI = os.environ.get("CI", "").lower() == "true"

BOT_HOST = "tests/integration/bot_host"
# Tests that only prove the harness or third-party clients run once; the ansible-facing ones on every core.
ANSIBLE_FACING = [
    "tests/integration/vault_credentials",
    "tests/integration/key_check",
    "tests/integration/packaging/test_tarball.py",
]


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Tier:
    kind: str
    label: str
    venv: str
    args: list[str] = field(default_factory=list)
    part: str = ""  # which share of a kind's tests, when they are split over two tiers
    longest: bool = False  # starts first

    @property
    def python(self) -> Path:
        return ROOT / self.venv / "bin" / "python"

    @property
    def name(self) -> str:
        """For the summary line."""
        return f"{self.label}, {self.part}" if self.part else self.label

    @property
    def title(self) -> str:
        return f"{self.kind}: {self.name}"

    @property
    def stem(self) -> str:
        """For the tier's file names."""
        return "-".join(filter(None, [self.kind, self.venv.strip("."), self.part.replace(" ", "-")]))

    @property
    def log(self) -> Path:
        return LOGS / f"{self.stem}.log"


def tiers() -> list[Tier]:
    return [
        Tier("unit", "ansible-core 2.19", ".venv", ["tests/unit"]),
        Tier("unit", "ansible-core 2.17", ".venv-2.17", ["tests/unit"]),
        Tier("unit", "ansible-core 2.21", ".venv-2.21", ["tests/unit"]),
        # The role's tests on container hosts take the longest: they start first, the other tiers beside them.
        Tier("integration", "ansible-core 2.19", ".venv", [BOT_HOST], part="bot_host", longest=True),
        Tier("integration", "ansible-core 2.19", ".venv", ["tests/integration", f"--ignore={BOT_HOST}"], part="others"),
        Tier("integration", "ansible-core 2.17", ".venv-2.17", ANSIBLE_FACING),
        Tier("integration", "ansible-core 2.21", ".venv-2.21", ANSIBLE_FACING),
        Tier("sanity", "ansible-test, ansible-core 2.19", ".venv"),
        Tier("lint", "ruff, ansible-lint, antsibull", ".venv"),
    ]


def run_pytest(tier: Tier, out: TextIO) -> Counts:
    report = JUNIT / f"{tier.stem}.xml"
    report.unlink(missing_ok=True)
    cmd = [str(tier.python), "-m", "pytest", *tier.args, f"--junitxml={report}", "-o", "junit_family=xunit2"]
    print("$ " + " ".join(cmd), file=out, flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    counts = Counts()
    if report.exists():
        for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314 (our own pytest report)
            total = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts.passed += total - failed - skipped
            counts.failed += failed
            counts.skipped += skipped
    if rc not in (0, 5) and counts.failed == 0:
        counts.failed += 1
        counts.notes.append(f"pytest exited {rc}")
    if counts.passed + counts.failed == 0:
        counts.failed += 1
        counts.notes.append("no test ran")
    return counts


# What ansible-test writes for a sanity test that has no target of its kind in the collection.
NOT_APPLICABLE = "No tests applicable."


def run_sanity(tier: Tier, out: TextIO) -> Counts:
    result = subprocess.run(
        [str(tier.python), str(ROOT / "scripts" / "sanity.py")], cwd=ROOT, check=False, stdout=out, stderr=out
    )
    counts = Counts()
    not_applicable: list[str] = []
    junit_dir = OUTPUT / "sanity-junit"
    for report in sorted(junit_dir.glob("*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 (our own ansible-test report)
            skipped = case.find("skipped")
            if case.find("failure") is not None or case.find("error") is not None:
                counts.failed += 1
            elif skipped is not None and (skipped.text or "").strip() == NOT_APPLICABLE:
                # No file of its kind here (pslint without PowerShell): nothing was left untested.
                not_applicable.append(report.stem.removeprefix("ansible-test-sanity-"))
            elif skipped is not None:
                counts.skipped += 1
            else:
                counts.passed += 1
    if not_applicable:
        counts.notes.append(f"no files for: {', '.join(not_applicable)}")
    if result.returncode != 0 and counts.failed == 0:
        counts.failed += 1
        counts.notes.append(f"ansible-test exited {result.returncode}")
    if counts.passed + counts.failed == 0:
        counts.failed += 1
        counts.notes.append("no sanity test ran")
    return counts


COLLECTION_LINK = OUTPUT / "collections" / "ansible_collections" / "tradebot" / "kucoin"


def run_lint(tier: Tier, out: TextIO) -> Counts:
    bindir = ROOT / tier.venv / "bin"
    # antsibull-docs reads the collection's name from its path, so it runs on the ansible_collections link.
    checks = {
        "ruff check": ([str(bindir / "ruff"), "check", "."], ROOT),
        "ruff format": ([str(bindir / "ruff"), "format", "--check", "."], ROOT),
        "ansible-lint": ([str(bindir / "ansible-lint"), "--profile", "production"], ROOT),
        "antsibull-changelog": ([str(bindir / "antsibull-changelog"), "lint"], ROOT),
        "antsibull-docs": (
            [str(bindir / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", str(COLLECTION_LINK)],
            COLLECTION_LINK,
        ),
    }
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(OUTPUT / "collections"), PATH=f"{bindir}:{os.environ['PATH']}")
    counts = Counts()
    for name, (cmd, cwd) in checks.items():
        print("$ " + " ".join(cmd), file=out, flush=True)
        if subprocess.call(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT) == 0:
            counts.passed += 1
        else:
            counts.failed += 1
            counts.notes.append(f"{name} failed")
    return counts


RUNNERS = {"unit": run_pytest, "integration": run_pytest, "sanity": run_sanity, "lint": run_lint}


def run_tier(tier: Tier, built_venvs: bool) -> tuple[Counts, float]:
    started = time.monotonic()
    with tier.log.open("w") as out:
        if not tier.python.exists() and built_venvs:
            print(f"{tier.venv} is not built; `make venvs` builds it", file=out)
            counts = Counts(notes=[f"not run: {tier.venv} is not built"])
        elif not tier.python.exists():
            counts = Counts(notes=[f"{tier.venv} is missing (needs `make venvs`)"])
            # Only the 2.21 line may be absent, and only outside CI: it needs a Python 3.12.
            if IN_CI or tier.venv != ".venv-2.21":
                counts.failed = 1
            else:
                counts.skipped = 1
        else:
            counts = RUNNERS[tier.kind](tier, out)
    return counts, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(RUNNERS), help="run one tier kind")
    parser.add_argument(
        "--built-venvs",
        action="store_true",
        help="run only on the virtualenvs that exist (make unit / make lint); the others are listed, not failed",
    )
    parser.add_argument("--serial", action="store_true", help="run the tiers one after another")
    options = parser.parse_args()
    JUNIT.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)

    selected = [tier for tier in tiers() if not options.only or tier.kind == options.only]
    pending = sorted(selected, key=lambda tier: not tier.longest)  # stable: the others keep their order
    workers = 1 if options.serial else 2
    if workers > 1 and len(pending) > 1:
        print(f"{workers} tiers at a time; a tier's output follows when it ends (as it runs: {LOGS.relative_to(ROOT)})")

    results: dict[str, tuple[Counts, float]] = {}
    lock = threading.Lock()
    interrupted = threading.Event()

    def work() -> None:
        while True:
            with lock:
                if not pending or interrupted.is_set():
                    return
                tier = pending.pop(0)
            results[tier.title] = run_tier(tier, options.built_venvs)
            with lock:
                print(f"\n===== {tier.title} =====", flush=True)
                sys.stdout.write(tier.log.read_text(errors="replace"))
                sys.stdout.flush()

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for done in [pool.submit(work) for _slot in range(workers)]:
                done.result()
        except KeyboardInterrupt:
            interrupted.set()  # the running tiers got the same Ctrl-C; no further one starts
            raise

    print(f"\n===== summary ({time.monotonic() - started:.1f}s) =====")
    total = Counts()
    for tier in selected:
        counts, seconds = results[tier.title]
        note = f"  ({'; '.join(counts.notes)})" if counts.notes else ""
        print(
            f"{tier.kind:12} {tier.name:34} {counts.passed:5} passed, {counts.failed} failed, "
            f"{counts.skipped} skipped  [{seconds:6.1f}s]{note}"
        )
        total.passed += counts.passed
        total.failed += counts.failed
        total.skipped += counts.skipped
    if IN_CI and total.skipped:
        print(f"CI=true: {total.skipped} skipped test(s) count as failures")
        total.failed += total.skipped
    print(f"total: {total.passed} passed, {total.failed} failed")
    return 1 if total.failed else 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
