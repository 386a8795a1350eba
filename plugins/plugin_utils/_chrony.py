# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""chronyc's CSV output (`chronyc -n -c tracking`, then `chronyc -n -c sourcestats`) read into named fields.

Column orders are those of chronyc's -c output (client.c, process_cmd_tracking and process_cmd_sourcestats):
tracking is Reference ID, Address, Stratum, Ref time, System time, Last offset, RMS offset, Frequency,
Residual freq, Skew, Root delay, Root dispersion, Update interval, Leap status; sourcestats is Name/IP,
NP, NR, Span, Frequency, Freq skew, Offset, Std dev.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

TRACKING_FIELDS = (
    "ref_id",
    "address",
    "stratum",
    "ref_time",
    "system_time",
    "last_offset",
    "rms_offset",
    "frequency",
    "residual_freq",
    "skew",
    "root_delay",
    "root_dispersion",
    "update_interval",
    "leap_status",
)
SOURCESTATS_FIELDS = ("address", "np", "nr", "span", "frequency", "freq_skew", "offset", "std_dev")
# Reference IDs chronyd reports while it has no source: none yet, and its local reference (127.127.1.1).
NO_SOURCE_REF_IDS = ("00000000", "7F7F0101")


@dataclass(frozen=True)
class ChronyState:
    """Whether chronyd has a usable source, which, and NTP time minus this host's clock in seconds."""

    synced: bool
    source: str | None = None
    offset: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _rows(lines: Iterable[str]) -> list[list[str]]:
    return [line.strip().split(",") for line in lines if line.strip()]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_tracking(lines: Iterable[str]) -> ChronyState:
    """Read tracking (first line) and sourcestats (the rest) of `chronyc -n -c`.

    The offset is tracking's System time (the correction chronyd has taken on; positive: clock slow) minus the
    selected source's sourcestats Offset (what it has not yet taken on; positive: clock ahead). With -x
    (containers) the clock is never corrected: while chronyd still means to step, the offset shows only in the
    second term, afterwards only in the first. Not synced until a source is selected and has statistics.
    """
    rows = _rows(lines)
    if not rows or len(rows[0]) < len(TRACKING_FIELDS):
        return ChronyState(False)
    tracking = dict(zip(TRACKING_FIELDS, rows[0], strict=False))
    if tracking["leap_status"] == "Not synchronised" or tracking["ref_id"] in NO_SOURCE_REF_IDS:
        return ChronyState(False)
    stats = next(
        (
            dict(zip(SOURCESTATS_FIELDS, row, strict=False))
            for row in rows[1:]
            if len(row) >= len(SOURCESTATS_FIELDS) and row[0] == tracking["address"]
        ),
        None,
    )
    system_time = _float(tracking["system_time"])
    source_offset = None if stats is None else _float(stats["offset"])
    if system_time is None or source_offset is None:
        return ChronyState(False)
    return ChronyState(True, tracking["address"], system_time - source_offset)
