# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault requests through the proxy that the environment names, sent by urllib.

Only a worker that sees a *_proxy variable loads this (and urllib.request with it): urllib reads
HTTP(S)_PROXY and NO_PROXY exactly as requests and curl do.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import MalformedReply

if TYPE_CHECKING:
    import ssl


def send_through_proxy(
    method: str,
    target: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    timeout: float,
    context: ssl.SSLContext | None,
) -> tuple[int, bytes]:
    """(status, body) of one request; redirects are urllib's to follow."""
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(),  # HTTP(S)_PROXY and NO_PROXY, as requests and curl read them
        urllib.request.HTTPHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    if urlsplit(target).scheme == "https":
        handlers.append(urllib.request.HTTPSHandler(context=context))
    for handler in handlers:
        opener.add_handler(handler)
    request = urllib.request.Request(target, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, exc.read()
        except (OSError, http.client.HTTPException):
            return exc.code, b""
        finally:
            exc.close()
    except http.client.HTTPException as exc:
        raise MalformedReply(str(exc) or type(exc).__name__) from None
