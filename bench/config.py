"""How big a run is: the full benchmark, or QUICK for a smoke run of the same code paths."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness.procs import REPO_ROOT

DOCS_DIR = REPO_ROOT / "docs"
WORK_DIR = REPO_ROOT / "bench" / "output"  # ignored by git; every run starts it afresh
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    fleet_sizes: tuple[int, ...]  # part 1: inventory hosts
    fleet_reps: int  # part 1: timed runs per variant and size (the median is reported)
    keycheck_hosts: int  # part 2
    keycheck_reps: int
    deploy_sizes: tuple[int, ...]  # part 3: container hosts
    micro_calls: int  # part 4: timed calls per variant
    budget_minutes: int  # what the whole run should stay under

    @property
    def label(self) -> str:
        return "QUICK" if self.quick else "full"


FULL = BenchConfig(
    quick=False,
    fleet_sizes=(10, 50, 200),
    fleet_reps=5,
    keycheck_hosts=10,
    keycheck_reps=5,
    deploy_sizes=(1, 3, 6),
    micro_calls=200,
    budget_minutes=20,
)

# Small enough to stay under its budget on the slowest machine seen here (an AMD EPYC, about 3x the Intel
# Xeon before it). Each ansible-playbook costs seconds before its first host, so at these sizes the number
# of plays, not of hosts, sets the run time.
QUICK = BenchConfig(
    quick=True,
    fleet_sizes=(2, 5),
    fleet_reps=2,
    keycheck_hosts=3,
    keycheck_reps=2,
    deploy_sizes=(1,),
    micro_calls=50,
    budget_minutes=3,
)


SYSTEM_PYTHON = Path("/usr/bin/python3")


def module_python() -> str:
    """The Python that the template task's modules (stat, copy) run with.

    The system's, which is what Ansible's interpreter discovery picks on a Debian host and what the modules
    would meet on a real one; the benchmark's own Python only where there is none. Either way all three
    variants run the same modules with it: only the lookup, in the controller's workers, differs.
    """
    return str(SYSTEM_PYTHON) if SYSTEM_PYTHON.exists() else sys.executable
