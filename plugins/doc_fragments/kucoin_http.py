# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP options every module that calls KuCoin shares (kucoin_client.HttpSettings)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  validate_certs:
    description: Whether to verify KuCoin's TLS certificate. Only turn this off against a test server.
    type: bool
    default: true
  ca_path:
    description: A PEM file of CA certificates to trust instead of the system's, for a TLS-intercepting proxy.
    type: path
  proxy:
    description:
      - An HTTP(S) proxy URL, for example C(http://proxy.example.com:3128).
      - When unset, the C(HTTPS_PROXY), C(HTTP_PROXY) and C(NO_PROXY) environment variables apply.
    type: str
"""
