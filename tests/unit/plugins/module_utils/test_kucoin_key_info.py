"""Key information, its masked whitelist, and the clock maths."""

from __future__ import annotations

import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import ClockReading, measure_clock
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_key_info import (
    KeyInfo,
    mask_api_key,
    parse_key_info,
    whitelist_entry_covers,
)

# --- clock, masking, parsing ----------------------------------------------------------------------------


def test_skew_is_measured_against_the_round_trip_midpoint() -> None:
    # Sent at t=1000.000 s, answered 0.400 s later; the server read its clock at about t=1000.200 s.
    reading = measure_clock(server_time_ms=1_000_200 + 1500, sent_at_s=1000.0, round_trip_s=0.4)
    assert reading == ClockReading(server_time_ms=1_001_700, skew_ms=1500, round_trip_ms=400)
    behind = measure_clock(server_time_ms=1_000_200 - 2500, sent_at_s=1000.0, round_trip_s=0.4)
    assert behind.skew_ms == -2500


@pytest.mark.parametrize(
    ("key", "masked"),
    [("6582b1c2d3e4f5a6b7c8d9ef", "6582…ef"), ("sbx0123456789abcdef", "sbx0…ef"), ("short-key", "…"), ("", "…")],
)
def test_masking_never_shows_the_whole_key(key: str, masked: str) -> None:
    assert mask_api_key(key) == masked
    if key:
        assert key not in mask_api_key(key)


def test_parse_key_info() -> None:
    info = parse_key_info(
        {
            "permission": "General, Spot,Futures",
            "ipWhitelist": "203.0.113.7,10.0.0.0/8",
            "createdAt": 1_700_000_000_000,
            "isMaster": False,
            "subName": "grid",
            "apiVersion": 3,
        }
    )
    assert info == KeyInfo(
        ["General", "Spot", "Futures"], ["203.0.113.7", "10.0.0.0/8"], False, "grid", 1_700_000_000_000, 3
    )
    empty = parse_key_info({"permission": "", "ipWhitelist": "", "isMaster": True})
    assert (empty.permissions, empty.ip_whitelist, empty.is_master, empty.sub_account) == ([], [], True, None)
    assert parse_key_info(None).permissions == []


@pytest.mark.parametrize(
    ("entry", "address", "covers"),
    [
        ("203.**.154", "203.0.113.154", True),
        ("203.**.154", "203.1.2.154", True),
        ("203.**.154", "203.0.113.15", False),
        ("203.**.154", "204.0.113.154", False),
        ("127.**.1", "127.0.0.1", True),
        ("203.0.113.154", "203.0.113.154", True),
        ("203.0.113.154", "203.0.113.155", False),
        ("10.0.0.0/8", "10.9.9.9", True),
        ("2001:**:7", "2001:db8::7", True),
        ("2001:**:7", "2001:db8::8", False),
        ("203.**.154", "not an address", False),
    ],
)
def test_masked_whitelist_entries_match_first_and_last_octet(entry: str, address: str, covers: bool) -> None:
    assert whitelist_entry_covers(entry, address) is covers


def test_masked_whitelist_is_returned_as_given() -> None:
    assert parse_key_info({"ipWhitelist": "203.**.154,103.**.34"}).ip_whitelist == ["203.**.154", "103.**.34"]
