# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KuCoin's sub-account API-key calls, made with a master key, and the passphrase a new key gets.

Request and reply fields as in KuCoin's official SDK (kucoin-universal-sdk, generate/account/subaccount):
add `POST /api/v1/sub/api-key`, list `GET /api/v1/sub/api-key`, delete `DELETE /api/v1/sub/api-key` (its query
carries the key's passphrase, so an error never shows the query).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import MS_PER_DAY, iso_utc
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_key_info import split_list
from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_policy import KNOWN_PERMISSIONS, MONEY_MOVING
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import (
    ErrorKind,
    HttpSettings,
    KucoinCallError,
    KucoinReply,
    call,
    make_client,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import (
    DEFAULT_KEY_VERSION,
    Credentials,
)

SUB_API_KEY_PATH = "/api/v1/sub/api-key"
# What KuCoin lets a sub-account key have (the SDK's add request: General, Spot, Futures, Margin, InnerTransfer);
# InnerTransfer moves funds, so it is never asked for.
GRANTABLE_PERMISSIONS = ("General", "Spot", "Futures", "Margin")
EXPIRE_DAYS = (-1, 30, 90, 180, 360)  # -1: never
MAX_WHITELIST = 20
REMARK_LENGTH = (1, 24)
# KuCoin: 7 to 32 characters, no spaces. Letters and digits only, so the passphrase needs no quoting anywhere.
PASSPHRASE_LENGTH = 32
PASSPHRASE_ALPHABET = string.ascii_letters + string.digits


class KeyRequestError(ValueError):
    """A requested key KuCoin would refuse or the policy forbids; the message names the option."""


def generate_passphrase(length: int = PASSPHRASE_LENGTH) -> str:
    """A random passphrase within KuCoin's rules, with a capital, a small letter and a digit."""
    while True:
        value = "".join(secrets.choice(PASSPHRASE_ALPHABET) for _position in range(length))
        if any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value):
            return value


def grantable_permissions(requested: Sequence[str]) -> tuple[str, ...]:
    """KuCoin's spelling of the requested permissions, General first; money-moving ones refused."""
    by_lower = {name.lower(): name for name in KNOWN_PERMISSIONS}
    wanted: list[str] = ["General"]
    for raw in requested:
        name = by_lower.get(str(raw).strip().lower(), str(raw).strip())
        if name in MONEY_MOVING:
            raise KeyRequestError(
                f"permissions: {name} would let the key {MONEY_MOVING[name]}; a bot's key never gets it"
            )
        if name not in GRANTABLE_PERMISSIONS:
            raise KeyRequestError(
                f"permissions: {name!r} is not one KuCoin grants to a sub-account key "
                f"(choose from {', '.join(GRANTABLE_PERMISSIONS)})"
            )
        if name not in wanted:
            wanted.append(name)
    return tuple(wanted)


def checked_whitelist(addresses: Sequence[str], allow_any_ip: bool) -> tuple[str, ...]:
    cleaned: list[str] = []
    for raw in addresses:
        text = str(raw).strip()
        try:
            address = str(ipaddress.ip_address(text))
        except ValueError:
            raise KeyRequestError(f"ip_whitelist: {text!r} is not an IP address") from None
        if address not in cleaned:
            cleaned.append(address)
    if not cleaned and not allow_any_ip:
        raise KeyRequestError(
            "ip_whitelist is empty: give the bot host's public address, or set allow_any_ip: true for a key that "
            "works from anywhere"
        )
    if len(cleaned) > MAX_WHITELIST:
        raise KeyRequestError(f"ip_whitelist: KuCoin takes at most {MAX_WHITELIST} addresses, not {len(cleaned)}")
    return tuple(cleaned)


@dataclass(frozen=True)
class NewKeyRequest:
    sub_name: str
    permissions: tuple[str, ...]
    ip_whitelist: tuple[str, ...]
    expire_days: int = 90
    remark: str = "tradebot.kucoin"

    def __post_init__(self) -> None:
        if self.expire_days not in EXPIRE_DAYS:
            raise KeyRequestError(f"expire_days must be one of {', '.join(map(str, EXPIRE_DAYS))} (-1: never)")
        low, high = REMARK_LENGTH
        if not low <= len(self.remark) <= high:
            raise KeyRequestError(f"remark must be {low} to {high} characters long")

    def body(self, passphrase: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subName": self.sub_name,
            "passphrase": passphrase,
            "remark": self.remark,
            "permission": ",".join(self.permissions),
            "expire": str(self.expire_days),
        }
        if self.ip_whitelist:
            body["ipWhitelist"] = ",".join(self.ip_whitelist)
        return body


@dataclass(frozen=True)
class SubKey:
    """A sub-account key as KuCoin lists it (no secret ever)."""

    api_key: str
    sub_name: str
    remark: str = ""
    permissions: tuple[str, ...] = ()
    ip_whitelist: tuple[str, ...] = ()  # masked by KuCoin in a list
    created_at_ms: int | None = None
    api_version: int | None = None

    @classmethod
    def from_reply(cls, data: Any) -> SubKey:
        data = data if isinstance(data, dict) else {}
        created = data.get("createdAt")
        version = data.get("apiVersion")
        return cls(
            api_key=str(data.get("apiKey") or ""),
            sub_name=str(data.get("subName") or ""),
            remark=str(data.get("remark") or ""),
            permissions=tuple(split_list(data.get("permission"))),
            ip_whitelist=tuple(split_list(data.get("ipWhitelist"))),
            created_at_ms=int(created) if str(created).isdigit() else None,
            api_version=int(version) if str(version).isdigit() else None,
        )

    def age_days(self, now_ms: int) -> float | None:
        if self.created_at_ms is None:
            return None
        return max(0.0, (now_ms - self.created_at_ms) / MS_PER_DAY)

    def as_result(self, now_ms: int) -> dict[str, Any]:
        age = self.age_days(now_ms)
        return {
            "api_key": self.api_key,
            "sub_name": self.sub_name,
            "remark": self.remark,
            "permissions": list(self.permissions),
            "ip_whitelist": list(self.ip_whitelist),
            "created_at": iso_utc(self.created_at_ms) if self.created_at_ms is not None else None,
            "age_days": int(age) if age is not None else None,
            "api_version": self.api_version,
        }


@dataclass(frozen=True)
class NewSubKey:
    """A key just made: the only object that holds its secret and passphrase."""

    key: SubKey
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


class SubAccountApi:
    """The master key's calls about one KuCoin sub-account's API keys, each within its own deadline."""

    # Each call with its retries ends within this many times `timeout`, as key_check's calls do.
    CALL_TIMEOUT_FACTOR = 3

    def __init__(
        self,
        master: Credentials,
        base_url: str,
        http: HttpSettings,
        *,
        client_factory: Callable[[HttpSettings], Any] = make_client,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.master = master
        self.base_url = base_url.rstrip("/")
        self.http = http
        self._client = client_factory(http)
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, **kwargs: Any) -> KucoinReply:
        timeout = self.http.timeout
        return call(
            self._client,
            method,
            self.base_url,
            SUB_API_KEY_PATH,
            credentials=self.master,
            max_wait_s=max(1.0, timeout),
            sleep=self._sleep,
            attempt_timeout=timeout,
            deadline=time.monotonic() + self.CALL_TIMEOUT_FACTOR * timeout,
            **kwargs,
        )

    def list_keys(self, sub_name: str, api_key: str | None = None) -> list[SubKey]:
        reply = self._call("GET", params=[("subName", sub_name), ("apiKey", api_key)])
        items = reply.data if isinstance(reply.data, list) else []
        return [key for key in (SubKey.from_reply(item) for item in items) if key.api_key]

    def find_key(self, sub_name: str, api_key: str) -> SubKey | None:
        return next((key for key in self.list_keys(sub_name, api_key) if key.api_key == api_key), None)

    def add_key(self, request: NewKeyRequest, passphrase: str) -> NewSubKey:
        """Create the key. Never retried on a server error: KuCoin may have made the key before failing."""
        body = json.dumps(request.body(passphrase), separators=(",", ":"))
        reply = self._call("POST", body=body, retry_server_errors=False)
        data = reply.data if isinstance(reply.data, dict) else {}
        key = SubKey.from_reply(data)
        secret = str(data.get("apiSecret") or "")
        if not key.api_key or not secret:
            raise KucoinCallError(
                ErrorKind.MALFORMED,
                url=self.base_url + SUB_API_KEY_PATH,
                http_status=200,
                detail="the reply to the add call has no apiKey or apiSecret",
            )
        if key.api_version is None:
            key = SubKey(**{**key.__dict__, "api_version": DEFAULT_KEY_VERSION})
        return NewSubKey(key=key, secret=secret, passphrase=str(data.get("passphrase") or passphrase))

    def delete_key(self, sub_name: str, api_key: str, passphrase: str) -> None:
        try:
            self._call("DELETE", params=[("apiKey", api_key), ("subName", sub_name), ("passphrase", passphrase)])
        except KucoinCallError as exc:
            # Made anew without the query, which holds the passphrase (the message names the URL too).
            raise KucoinCallError(
                exc.kind,
                url=self.base_url + SUB_API_KEY_PATH,
                kucoin_code=exc.kucoin_code,
                http_status=exc.http_status,
                server_message=exc.server_message,
                detail=exc.detail,
                attempts=exc.attempts,
                rate_limited=exc.rate_limited,
            ) from None
