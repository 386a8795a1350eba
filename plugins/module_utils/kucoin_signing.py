# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KuCoin REST request signing: the collection's one implementation.

prehash = timestamp (ms) + METHOD + path with the raw (not percent-encoded) query + body
KC-API-SIGN = base64(HMAC-SHA256(secret, prehash))
KC-API-PASSPHRASE = base64(HMAC-SHA256(secret, passphrase)) for key versions 2 and 3, the plain passphrase for 1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from typing import TypeAlias

    # A query as a mapping or as ordered pairs; the order given is the order signed and sent.
    QueryParams: TypeAlias = Mapping[str, object] | Sequence[tuple[str, object]] | None

KEY_VERSIONS = (1, 2, 3)
# Every key KuCoin creates now is version 3; KuCoin also takes header 2 for it.
DEFAULT_KEY_VERSION = 3


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    api_passphrase: str = field(repr=False)
    key_version: int = DEFAULT_KEY_VERSION

    def __post_init__(self) -> None:
        if self.key_version not in KEY_VERSIONS:
            raise ValueError(f"key_version must be one of {KEY_VERSIONS}, not {self.key_version!r}")

    @property
    def passphrase_header(self) -> str:
        return passphrase_header(self.api_secret, self.api_passphrase, self.key_version)


def unsendable_fields(credentials: Credentials) -> list[str]:
    """Option names whose value cannot go into a header as is.

    The HTTP client would refuse it with an error that quotes the value, so these are caught before any call.
    """
    in_headers = {"api_key": credentials.api_key}
    if credentials.key_version == 1:
        in_headers["api_passphrase"] = credentials.api_passphrase
    return [
        name
        for name, value in in_headers.items()
        if not (value.isascii() and value.isprintable() and value == value.strip())
    ]


def hmac_base64(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def passphrase_header(secret: str, passphrase: str, key_version: int) -> str:
    """The KC-API-PASSPHRASE value: version 1 keys send the passphrase itself, later versions its HMAC."""
    if key_version == 1:
        return passphrase
    return hmac_base64(secret, passphrase)


def _query_pairs(params: QueryParams) -> list[tuple[str, str]]:
    if not params:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    pairs = []
    for name, value in items:
        if value is None:
            continue
        # Booleans as KuCoin spells them (and as the official SDK sends them).
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        pairs.append((str(name), text))
    return pairs


def raw_endpoint(path: str, params: QueryParams = None) -> str:
    """Path plus the query exactly as it is signed: not percent-encoded."""
    pairs = _query_pairs(params)
    if not pairs:
        return path
    return path + "?" + "&".join(f"{name}={value}" for name, value in pairs)


def encoded_endpoint(path: str, params: QueryParams = None) -> str:
    """Path plus the query as it goes on the wire.

    Everything outside the unreserved set is percent-encoded (a space as %20, never '+'), so that decoding the
    query gives back exactly the raw query that was signed, whichever decoder the server uses.
    """
    pairs = _query_pairs(params)
    if not pairs:
        return path
    return path + "?" + "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def prehash(timestamp_ms: int, method: str, endpoint: str, body: str = "") -> str:
    return f"{timestamp_ms}{method.upper()}{endpoint}{body}"


def now_ms() -> int:
    return int(time.time() * 1000)


def signed_headers(
    credentials: Credentials,
    method: str,
    endpoint: str,
    body: str = "",
    timestamp_ms: int | None = None,
) -> dict[str, str]:
    """The five KuCoin auth headers for one request; `endpoint` is the path with its raw query."""
    timestamp = now_ms() if timestamp_ms is None else int(timestamp_ms)
    signature = hmac_base64(credentials.api_secret, prehash(timestamp, method, endpoint, body))
    return {
        "KC-API-KEY": credentials.api_key,
        "KC-API-SIGN": signature,
        "KC-API-TIMESTAMP": str(timestamp),
        "KC-API-PASSPHRASE": credentials.passphrase_header,
        "KC-API-KEY-VERSION": str(credentials.key_version),
    }
