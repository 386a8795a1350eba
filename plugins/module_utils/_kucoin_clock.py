# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This host's clock against KuCoin's: the offset at the round trip's midpoint, and how to say it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

KUCOIN_TIMESTAMP_WINDOW_MS = 5000
MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class ClockReading:
    server_time_ms: int
    skew_ms: int  # server minus local, at the midpoint of the round trip
    round_trip_ms: int


def measure_clock(server_time_ms: int, sent_at_s: float, round_trip_s: float) -> ClockReading:
    """Skew against the round trip's midpoint: the best local estimate of when the server read its clock."""
    midpoint_ms = (sent_at_s + round_trip_s / 2) * 1000
    return ClockReading(
        server_time_ms=int(server_time_ms),
        skew_ms=round(server_time_ms - midpoint_ms),
        round_trip_ms=round(round_trip_s * 1000),
    )


def iso_utc(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe_offset(skew_ms: int) -> str:
    """Skew is KuCoin minus local, so a positive skew means this host is behind."""
    direction = "behind" if skew_ms > 0 else "ahead of"
    return f"{abs(skew_ms) / 1000:.3f} s {direction} KuCoin's"
