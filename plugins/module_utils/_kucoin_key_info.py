# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KuCoin's key information (GET /api/v1/user/api-key) as typed data, and its masked IP whitelist."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

# KuCoin shows whitelist entries with the middle masked, e.g. "203.**.154".
MASK_MARK = "**"


@dataclass
class KeyInfo:
    permissions: list[str]
    ip_whitelist: list[str]  # as KuCoin gave them, masked or not
    is_master: bool | None
    sub_account: str | None
    created_at_ms: int | None
    api_version: int | None


def split_list(value: Any) -> list[str]:
    """KuCoin's comma-separated strings (or lists) as a clean list."""
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(p).strip() for p in parts if str(p).strip()]


def parse_key_info(data: Any) -> KeyInfo:
    data = data if isinstance(data, dict) else {}
    created = data.get("createdAt")
    version = data.get("apiVersion")
    is_master = data.get("isMaster")
    sub_name = data.get("subName")
    return KeyInfo(
        permissions=split_list(data.get("permission")),
        ip_whitelist=split_list(data.get("ipWhitelist")),
        is_master=bool(is_master) if is_master is not None else None,
        sub_account=str(sub_name) if sub_name else None,
        created_at_ms=int(created) if isinstance(created, (int, float, str)) and str(created).isdigit() else None,
        api_version=int(version) if str(version).isdigit() else None,
    )


def mask_api_key(api_key: str) -> str:
    """First 4 and last 2 characters, enough to tell keys apart; short keys show nothing."""
    if len(api_key) < 12:
        return "…"
    return f"{api_key[:4]}…{api_key[-2:]}"


def _groups(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    if address.version == 4:
        return str(address).split(".")
    return [group.lstrip("0") or "0" for group in address.exploded.split(":")]


def whitelist_entry_covers(entry: str, address: str) -> bool:
    """Whether one whitelist entry as KuCoin shows it covers `address`.

    A masked entry ("203.**.154") covers every address with the same first and last group: the mask hides the
    rest, so that is all anyone can check. A clear entry is an address or a network.
    """
    try:
        wanted = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    entry = entry.strip()
    if MASK_MARK in entry:
        separator = "." if wanted.version == 4 else ":"
        head, _mask, tail = entry.partition(MASK_MARK)
        first, last = head.rstrip(separator), tail.lstrip(separator)
        if separator not in head or separator not in tail:
            return False
        groups = _groups(wanted)
        normal = (lambda g: g.lower().lstrip("0") or "0") if wanted.version == 6 else str
        return normal(first.split(separator)[0]) == groups[0] and normal(last.split(separator)[-1]) == groups[-1]
    try:
        return wanted in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def uncovered_addresses(whitelist: list[str], addresses: list[str]) -> list[str]:
    """The addresses no whitelist entry covers (an empty whitelist covers all: the key works from anywhere)."""
    if not whitelist:
        return []
    return [a for a in addresses if not any(whitelist_entry_covers(entry, a) for entry in whitelist)]
