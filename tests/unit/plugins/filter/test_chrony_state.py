"""chrony_state: chronyc's reports (captured from chronyd 4.3, Debian 12) read into facts and lines per source."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.tradebot.kucoin.plugins.filter.chrony_state import chrony_state

SERVERS = [{"host": "127.0.0.1", "port": 12399, "minpoll": 0}, {"host": "127.0.0.9", "port": 12398}]

# One server answering and selected, one where nothing listens.
SYNCED = """
#tracking
7F000001,127.0.0.1,9,1796189169.790066829,-0.000001678,0.000001757,0.000001757,-0.344,-0.000,864.872,0.000008020,0.000842550,0.0,Normal
#-n sources
^,*,127.0.0.1,8,0,7,0,0.000000317,0.000002074,0.000004188
^,?,127.0.0.9,0,6,0,4294967295,0.000000000,0.000000000,0.000000000
#-N sources
^,*,127.0.0.1,8,0,7,0,0.000000317,0.000002074,0.000004188
^,?,127.0.0.9,0,6,0,4294967295,0.000000000,0.000000000,0.000000000
#-n selectdata
*,127.0.0.1,N,-,-,-,-,-,-,-,-,-,-,0,1.0,-0.000002161,0.000006309,Normal
s,127.0.0.9,N,-,-,-,-,-,-,-,-,-,-,0,1.0,0.000000000,0.000000000,Not synchronised
#-n ntpdata
127.0.0.1,7F000001,12399,127.0.0.1,7F000001,Normal,4,Server,8,0,1,-25,0.000000030,0.000000,0.000000,7F7F0101,,1796189143.145944675,-0.000002074,0.000008020,0.000000178,0.000053063,0.00,111,111,1111,No,No,Kernel,Kernel,3,3,3,3
127.0.0.9,7F000009,12398,[UNSPEC],00000000,Normal,0,Invalid,0,0,1,0,1.000000000,0.000000,0.000000,00000000,,0.000000000,0.000000000,0.000000000,0.000000000,0.000000000,0.00,000,000,0000,No,No,Invalid,Invalid,1,0,0,0
#-n sourcestats
127.0.0.1,3,3,1,-0.000,864.623,-0.250000000,0.000000434
127.0.0.9,0,0,0,0.000,2000.000,0.000000000,4.000000000
"""

# Only the dead server: chronyd has nothing to follow.
TRACKING_NONE = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.0,1.0,0.0,"
NOTHING = f"""
#tracking
{TRACKING_NONE}Not synchronised
#-n sources
^,?,127.0.0.9,0,6,0,4294967295,0.000000000,0.000000000,0.000000000
#-N sources
^,?,127.0.0.9,0,6,0,4294967295,0.000000000,0.000000000,0.000000000
#-n selectdata
s,127.0.0.9,N,-,-,-,-,-,-,-,-,-,-,0,1.0,0.000000000,0.000000000,Not synchronised
#-n ntpdata
127.0.0.9,7F000009,12398,[UNSPEC],00000000,Normal,0,Invalid,0,0,1,0,1.000000000,0.000000,0.000000,00000000,,0.000000000,0.000000000,0.000000000,0.000000000,0.000000000,0.00,000,000,0000,No,No,Invalid,Invalid,1,0,0,0
#-n sourcestats
127.0.0.9,0,0,0,0.000,2000.000,0.000000000,4.000000000
"""

# 40 s after the server stopped: chronyd still follows it with a Normal leap status, but reach is 0.
DEAD_REFERENCE = """
#tracking
7F000001,127.0.0.1,9,1796189169.790066829,0.000000100,0.000001757,0.000001757,-0.344,-0.000,864.872,0.000008020,0.000842550,0.0,Normal
#-n sources
^,?,127.0.0.1,8,2,0,19,0.000000723,0.000000870,0.000003236
#-N sources
^,?,127.0.0.1,8,2,0,19,0.000000723,0.000000870,0.000003236
#-n selectdata
S,127.0.0.1,N,-,-,-,-,-,-,-,-,-,-,19,1.0,-0.000002161,0.000006309,Normal
#-n ntpdata
#-n sourcestats
127.0.0.1,3,3,1,-0.000,864.623,0.000000100,0.000000434
"""


def test_a_synced_host_follows_its_selected_source_and_the_dead_one_is_a_warning() -> None:
    state = chrony_state(SYNCED, servers=SERVERS)
    assert state["synced"] is True
    assert state["healthy"] is True
    assert state["reference"] == "127.0.0.1"
    assert state["leap_status"] == "Normal"
    # System time (-0.0000017, clock slow) minus the source's estimate (-0.25, clock behind): NTP - clock.
    assert state["offset"] == pytest.approx(-0.000001678 + 0.25)
    assert state["problems"] == []
    assert state["lines"] == [
        "127.0.0.1 port 12399 (bot_host_ntp_servers): selected (stratum 8, reach 7, last sample 0 s ago)",
        "127.0.0.9 port 12398 (bot_host_ntp_servers): did not answer any poll (reach 0)",
    ]
    assert state["warnings"] == [state["lines"][1]]
    assert state["sources"][1]["problem"] == "did not answer"
    assert state["sources"][1]["last_rx"] is None


def test_no_source_at_all_fails_with_address_port_and_variable_before_the_raw_output() -> None:
    state = chrony_state(NOTHING, servers=SERVERS[1:])
    assert (state["synced"], state["healthy"], state["offset"]) == (False, False, None)
    assert state["problems"] == ["chrony selected no time source"]
    assert state["lines"] == ["127.0.0.9 port 12398 (bot_host_ntp_servers): did not answer any poll (reach 0)"]
    assert state["warnings"] == []
    assert state["remedy"] == "change bot_host_ntp_servers"
    assert state["raw"].startswith("tracking: 00000000,,0,")
    assert "sources: ^|?|127.0.0.9|0|6|0|4294967295" in state["raw"]


def test_a_reference_that_stopped_answering_is_unhealthy_though_tracking_says_normal() -> None:
    state = chrony_state(DEAD_REFERENCE, servers=[{"host": "127.0.0.1", "port": 12401}])
    assert state["synced"] is True
    assert state["healthy"] is False
    assert state["problems"] == [
        "chrony still follows 127.0.0.1 port 12401 (bot_host_ntp_servers), which stopped answering: none of its"
        " last 8 polls answered (reach 0), last sample 19 s ago"
    ]


def test_a_selected_source_without_recent_samples_is_stale() -> None:
    text = DEAD_REFERENCE.replace("^,?,127.0.0.1,8,2,0,19", "^,*,127.0.0.1,8,1,370,9").replace("S,127", "*,127")
    state = chrony_state(text, servers=["127.0.0.1"])
    assert state["healthy"] is False
    assert state["problems"] == [
        "chrony still follows 127.0.0.1 port 123 (bot_host_ntp_servers), which is stale: last sample 9 s ago,"
        " over 8 s (4 poll intervals)"
    ]
    # A looser limit accepts it.
    assert chrony_state(text, servers=["127.0.0.1"], stale_polls=5)["healthy"] is True


def test_a_source_that_answered_but_was_rejected_says_why() -> None:
    text = SYNCED.replace("s,127.0.0.9", "d,127.0.0.9").replace("^,?,127.0.0.9,0,6,0,", "^,?,127.0.0.9,3,6,17,")
    state = chrony_state(text, servers=SERVERS)
    assert state["lines"][1] == (
        "127.0.0.9 port 12398 (bot_host_ntp_servers): answered but was rejected: it is too far off:"
        " its root distance exceeds bot_host_chrony_maxdistance"
    )


def test_pool_addresses_name_the_pool_and_unresolved_names_get_a_line() -> None:
    text = NOTHING.replace("#-N sources\n^,?,127.0.0.9", "#-N sources\n^,?,pool.example.org")
    state = chrony_state(text, pools=[{"host": "pool.example.org", "maxsources": 4}, "nowhere.example.org"])
    assert state["lines"] == [
        "127.0.0.9 port 12398 (bot_host_ntp_pools: pool.example.org): did not answer any poll (reach 0)",
        "nowhere.example.org port 123 (bot_host_ntp_pools): no address known (the name did not resolve)",
    ]
    assert state["remedy"] == "change bot_host_ntp_pools"


def test_no_answer_from_chronyd_is_not_synced() -> None:
    state = chrony_state("#tracking\n#-n sources\n")
    assert (state["synced"], state["healthy"], state["lines"]) == (False, False, [])
    assert state["raw"] == "tracking: no answer; sources: none"
    assert state["remedy"] == "change bot_host_ntp_servers / bot_host_ntp_pools"


def test_bad_input_is_an_ansible_error() -> None:
    with pytest.raises(AnsibleFilterError, match="as text"):
        chrony_state(None)
    with pytest.raises(AnsibleFilterError, match="stale_polls"):
        chrony_state("", stale_polls="often")


def test_a_selected_source_without_statistics_gives_no_offset_and_is_not_healthy() -> None:
    text = SYNCED.split("#-n sourcestats", maxsplit=1)[0]
    state = chrony_state(text, servers=SERVERS)
    assert (state["synced"], state["healthy"], state["offset"]) == (True, False, None)
    assert state["problems"] == [
        "chrony follows 127.0.0.1 port 12399 (bot_host_ntp_servers) but has no offset estimate for it yet (sourcestats)"
    ]
