"""chrony_tracking: sync state and offset from chronyc's CSV tracking and sourcestats output."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.filter.chrony_tracking import FilterModule, chrony_tracking

# Shaped like `chronyc -n -c tracking && chronyc -n -c sourcestats` of chrony 4.3 (Debian 12).
TRACKING = (
    "C0A80101,192.168.1.1,3,1764650000.123456789,-0.250000000,0.000001234,0.000010000,"
    "-12.345,0.001,0.050,0.012345678,0.001234567,64.4,Normal"
)
STATS_OTHER = "10.0.0.9,8,5,400,0.020,0.300,0.900000000,0.000060000"
STATS_SELECTED = "192.168.1.1,10,6,520,0.010,0.200,0.100000000,0.000050000"


def test_registered():
    assert FilterModule().filters() == {"chrony_tracking": chrony_tracking}


def test_offset_is_system_time_minus_the_selected_sources_offset():
    state = chrony_tracking([TRACKING, STATS_OTHER, STATS_SELECTED])
    assert state["synced"] is True
    assert state["source"] == "192.168.1.1"
    assert state["offset"] == pytest.approx(-0.35)


def test_text_input_and_blank_lines():
    state = chrony_tracking(f"{TRACKING}\n\n{STATS_SELECTED}\n")
    assert state == {"synced": True, "source": "192.168.1.1", "offset": pytest.approx(-0.35)}


NOT_SYNCED = {"synced": False, "source": None, "offset": None}


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        ["506 Cannot talk to daemon"],
        # No source yet, chronyd's local reference, or leap status not synchronised.
        [TRACKING.replace("C0A80101", "00000000"), STATS_SELECTED],
        [TRACKING.replace("C0A80101", "7F7F0101"), STATS_SELECTED],
        [TRACKING.replace("Normal", "Not synchronised"), STATS_SELECTED],
        # Selected, but no statistics for that source yet.
        [TRACKING, STATS_OTHER],
        [TRACKING],
        # Truncated or garbled numbers.
        [TRACKING, "192.168.1.1,10,6"],
        [TRACKING.replace("-0.250000000", "n/a"), STATS_SELECTED],
    ],
)
def test_not_synced(lines):
    assert chrony_tracking(lines) == NOT_SYNCED


def test_refuses_other_input():
    with pytest.raises(AnsibleFilterError, match="lines of chronyc"):
        chrony_tracking({"stdout": TRACKING})
