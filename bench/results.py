"""What a run measured: one record per timed run, and per part either figures or the reason it FAILED."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One timed measurement; the CSV holds one row per sample."""

    part: str  # lookups | keycheck | deploy | micro
    variant: str
    size: int  # hosts (parts 1-3) or calls (part 4)
    rep: int
    seconds: float
    cpu_seconds: float | None = None  # user + system time of the run's processes (ansible-playbook and children)
    logins: int | None = None
    vault_requests: int | None = None
    http_requests: int | None = None
    ok: bool = True
    note: str = ""


def worker_variant(lookup: str, scheme: str) -> str:
    """The sample name of part 4's fresh-worker probe of `lookup` (tradebot | hashi_vault) over http or https."""
    return f"{lookup}_worker" + ("_https" if scheme == "https" else "")


@dataclass
class PartResult:
    """A part's samples and, when it could not be measured, why (the report prints FAILED with it)."""

    name: str
    title: str
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds_spent: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    def select(self, variant: str, size: int | None = None) -> list[Sample]:
        return [s for s in self.samples if s.variant == variant and (size is None or s.size == size)]


def median(values: Iterable[float]) -> float | None:
    data = list(values)
    return statistics.median(data) if data else None


def ok_seconds(samples: Sequence[Sample]) -> list[float]:
    return [s.seconds for s in samples if s.ok]


def median_field(samples: Sequence[Sample], name: str) -> float | None:
    values = [getattr(s, name) for s in samples if s.ok and getattr(s, name) is not None]
    return median(values)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
