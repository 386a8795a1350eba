# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""chronyc's CSV reports read into facts, a health verdict and one readable line per time source.

The input is what the role's probe prints: each report (``chronyc -c ...``) after a ``#<report>`` line, with
``tracking``, ``-n sources``, ``-N sources`` (the names as configured, in the same order), ``-n selectdata``,
``-n ntpdata`` and ``-n sourcestats``. Reports chronyd did not answer are simply empty.

Health is more than "chronyd has a reference": chronyd keeps its reference ID and a Normal leap status while
the source it follows stops answering, so the reference source must still be selected (``*``), must have
answered one of its last eight polls (reach) and its last sample must be younger than ``stale_polls`` of its
poll intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

NEVER = 4294967295  # chronyc's "no sample yet" in LastRx
UNSYNCED_REFIDS = ("00000000", "7F7F0101")  # none, and chronyd's own local clock
SERVERS_VARIABLE = "bot_host_ntp_servers"
POOLS_VARIABLE = "bot_host_ntp_pools"
DEFAULT_PORT = 123

# selectdata's state column (chronyc(1)), said as the reason a source is or is not used.
SELECT_STATES = {
    "N": "has the noselect option",
    "s": "says it is not synchronised itself (stratum 16 or unknown leap status)",
    "M": "has too few measurements yet",
    "d": "is too far off: its root distance exceeds bot_host_chrony_maxdistance",
    "~": "jitters more than maxjitter allows",
    "w": "waits for other sources' first measurements",
    "S": "has older measurements than the other sources",
    "O": "is at or above the orphan stratum",
    "T": "does not agree with the trusted sources",
    "x": "disagrees with the other sources (falseticker)",
    "W": "waits for more usable sources (bot_host_chrony_minsources)",
    "P": "is usable, but a preferred source is used instead",
    "U": "is usable and waits for a new measurement",
    "D": "is usable, but too far off to be combined with the selected source",
    "+": "is combined with the selected source",
    "*": "is selected",
}
USABLE = frozenset("WPUD+*")
MODES = {"^": "server", "=": "peer", "#": "refclock"}


@dataclass
class ChronySource:
    address: str
    name: str  # as configured: the server's host, or the pool's name for a pool's addresses
    port: int
    mode: str  # server, peer or refclock
    state: str  # the sources report's state (*, +, -, ?, x, ~)
    select: str  # the selectdata state, one of SELECT_STATES ("" when unknown)
    stratum: int
    poll: int  # log2 of the poll interval in seconds
    reach: int  # the last eight polls, one bit each, newest lowest
    last_rx: int | None  # seconds since the last good sample; None: never
    variable: str
    problem: str = ""  # why it does not help the clock now; "" when it does
    line: str = ""

    @property
    def where(self) -> str:
        names = self.variable if self.name in ("", self.address) else f"{self.variable}: {self.name}"
        return f"{self.address} port {self.port} ({names})"


@dataclass
class ChronyState:
    synced: bool = False  # chronyd follows a source (tracking has a reference and a known leap status)
    healthy: bool = False  # ...and that source is selected and fresh
    reference: str | None = None
    offset: float | None = None  # NTP time minus this host's clock, seconds
    leap_status: str = ""
    problems: list[str] = field(default_factory=list)  # why the time is not healthy
    warnings: list[str] = field(default_factory=list)  # sources that do not help, while the time is healthy
    lines: list[str] = field(default_factory=list)  # one per source
    sources: list[dict[str, Any]] = field(default_factory=list)
    remedy: str = ""  # which variable to change, for an error message
    raw: str = ""  # tracking and sources as chronyc printed them, for the end of an error message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_reports(text: str) -> dict[str, list[list[str]]]:
    """`#name` header lines, each followed by CSV rows; returns rows per report name."""
    reports: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            current = reports.setdefault(line[1:].strip(), [])
        elif line and current is not None:
            current.append(line.split(","))
    return reports


def _int(text: str, base: int = 10, default: int = 0) -> int:
    try:
        return int(text, base)
    except ValueError:
        return default


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _host(entry: object) -> tuple[str, int]:
    if isinstance(entry, Mapping):
        return str(entry.get("host", "")), _int(str(entry.get("port", DEFAULT_PORT)), default=DEFAULT_PORT)
    return str(entry), DEFAULT_PORT


def _configured(servers: Iterable[object], pools: Iterable[object]) -> dict[str, tuple[str, int]]:
    """Configured name -> (variable, port)."""
    found = {_host(entry)[0]: (SERVERS_VARIABLE, _host(entry)[1]) for entry in servers}
    found.update({_host(entry)[0]: (POOLS_VARIABLE, _host(entry)[1]) for entry in pools})
    return found


def _status(source: ChronySource, stale_after: float) -> tuple[str, str]:
    """(problem, readable status) of one source; problem is "" when the source helps the clock."""
    if source.reach == 0:
        if source.last_rx is None:
            return "did not answer", "did not answer any poll (reach 0)"
        return "stopped answering", (
            f"stopped answering: none of its last 8 polls answered (reach 0), last sample {source.last_rx} s ago"
        )
    reason = SELECT_STATES.get(source.select, "")
    if source.select and source.select not in USABLE:
        return "rejected", f"answered but was rejected: it {reason}"
    if source.last_rx is not None and source.last_rx > stale_after:
        return "stale", (
            f"is stale: last sample {source.last_rx} s ago, over {stale_after:g} s"
            f" ({source.last_rx // max(1, 2**source.poll)} poll intervals)"
        )
    detail = f"stratum {source.stratum}, reach {source.reach:o}, last sample {source.last_rx} s ago"
    if source.state == "*" or source.select == "*":
        status = "selected"
    else:
        status = f"usable: it {reason}" if source.select else "answering"
    return "", f"{status} ({detail})"


def _sources(reports: dict[str, list[list[str]]], configured: dict[str, tuple[str, int]]) -> list[ChronySource]:
    names = [row[2] if len(row) > 2 else "" for row in reports.get("-N sources", [])]
    select = {row[1]: row[0] for row in reports.get("-n selectdata", []) if len(row) > 1}
    ports = {row[0]: _int(row[2], default=0) for row in reports.get("-n ntpdata", []) if len(row) > 2}
    sources: list[ChronySource] = []
    for index, row in enumerate(reports.get("-n sources", [])):
        if len(row) < 7:
            continue
        address = row[2]
        name = names[index] if index < len(names) and names[index] else address
        variable, port = configured.get(name, configured.get(address, (f"{SERVERS_VARIABLE} / {POOLS_VARIABLE}", 0)))
        last_rx = _int(row[6], default=NEVER)
        sources.append(
            ChronySource(
                address=address,
                name=name,
                port=ports.get(address) or port or DEFAULT_PORT,
                mode=MODES.get(row[0], row[0]),
                state=row[1],
                select=select.get(address, ""),
                stratum=_int(row[3]),
                poll=_int(row[4]),
                reach=_int(row[5], 8),
                last_rx=None if last_rx == NEVER else last_rx,
                variable=variable,
            )
        )
    return sources


def parse_chrony(
    text: str,
    servers: Iterable[object] = (),
    pools: Iterable[object] = (),
    stale_polls: float = 4,
) -> ChronyState:
    """Read the probe's output (see the module docstring) into a ChronyState."""
    reports = split_reports(text)
    state = ChronyState()
    configured = _configured(servers, pools)
    tracking = (reports.get("tracking") or [[]])[0]
    estimates = {row[0]: _float(row[6]) for row in reports.get("-n sourcestats", []) if len(row) > 6}
    sources = _sources(reports, configured)
    for source in sources:
        # Polls shorter than 2 s (minpoll 0, tests) would make a sample a second late look stale.
        stale_after = stale_polls * 2 ** max(source.poll, 1)
        source.problem, status = _status(source, stale_after)
        source.line = f"{source.where}: {status}"
    state.lines = [source.line for source in sources]
    # A configured name chronyd has no address for: a pool or server name that did not resolve.
    known = {source.name for source in sources} | {source.address for source in sources}
    for name, (variable, port) in configured.items():
        if name and name not in known:
            state.lines.append(f"{name} port {port} ({variable}): no address known (the name did not resolve)")
    state.sources = [{**asdict(source), "where": source.where} for source in sources]

    if len(tracking) >= 14:
        state.reference = tracking[1] or None
        state.leap_status = tracking[13]
        state.synced = tracking[0] not in UNSYNCED_REFIDS and tracking[13] != "Not synchronised"
    reference = next((s for s in sources if state.synced and s.address == state.reference), None)
    system_time = _float(tracking[4]) if len(tracking) >= 14 else None
    estimate = estimates.get(reference.address) if reference is not None else None
    if system_time is not None and estimate is not None:
        # tracking's "System time" (positive: clock slow) minus the source's estimated offset (positive: clock
        # ahead), which holds what is not yet taken on. With -x the clock is never corrected, so the offset
        # shows in the first term once chronyd stops trying to step it and in the second before.
        state.offset = system_time - estimate

    if not state.synced:
        state.problems = ["chrony selected no time source"]
    elif reference is None:
        state.problems = [f"chrony follows {state.reference}, which is not among its sources"]
    elif reference.problem or reference.state != "*":
        status = reference.line.split(": ", 1)[1]
        if not reference.problem:
            status = f"is no longer selected ({status})"
        state.problems = [f"chrony still follows {reference.where}, which {status}"]
    elif state.offset is None:
        state.problems = [f"chrony follows {reference.where} but has no offset estimate for it yet (sourcestats)"]
    state.healthy = not state.problems
    unhelpful = [line for source, line in zip(sources, state.lines, strict=False) if source.problem]
    state.warnings = unhelpful + state.lines[len(sources) :] if state.healthy else []

    variables = sorted({source.variable for source in sources} | {entry[0] for entry in configured.values()})
    state.remedy = f"change {' / '.join(variables or [SERVERS_VARIABLE, POOLS_VARIABLE])}"
    raw_sources = ["|".join(row) for row in reports.get("-n sources", [])]
    state.raw = f"tracking: {','.join(tracking) or 'no answer'}; sources: {' '.join(raw_sources) or 'none'}"
    return state
