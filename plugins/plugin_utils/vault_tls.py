# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TLS context for an https:// Vault: CA bundle or directory, client certificate, or no verification.

Only a worker that talks https loads this, and ssl with it (about 10 ms of CPU in a forked worker).
"""

from __future__ import annotations

import os
import ssl

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_http import (
    SETUP,
    VaultTransportError,
    transport_message,
)


def _no_key_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key, inside an Ansible worker.
    return b""


def tls_context(settings: VaultSettings) -> ssl.SSLContext:
    url = settings.url
    for path, what in (
        (settings.ca_cert if settings.validate_certs else None, "a suitable TLS CA certificate bundle"),
        (settings.client_cert, "the TLS certificate file"),
        (settings.client_key, "the TLS key file"),
    ):
        if path and not os.path.exists(path):
            raise VaultTransportError(transport_message(SETUP, url, f"Could not find {what}, invalid path: {path}"))
    try:
        if settings.validate_certs:
            ca_cert = settings.ca_cert
            in_directory = bool(ca_cert) and os.path.isdir(str(ca_cert))
            context = ssl.create_default_context(
                cafile=None if in_directory else ca_cert, capath=ca_cert if in_directory else None
            )
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if settings.client_cert:
            context.load_cert_chain(settings.client_cert, settings.client_key, password=_no_key_password)
    except (ssl.SSLError, OSError) as exc:
        raise VaultTransportError(transport_message(SETUP, url, str(exc))) from None
    return context
