# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: vault_credentials
author: tradebot.kucoin contributors (@tradebot)
short_description: Read a trading strategy's KuCoin API credentials from HashiCorp Vault or OpenBao
version_added: 0.1.0
description:
  - Reads one secret per term from a KV v2 (default) or KV v1 secrets engine and returns the KuCoin API key,
    secret, passphrase, key version and API (spot or futures) stored there.
  - Logs in once per run. The token is shared by all of Ansible's forked workers through a 0600 file in a
    0700 per-user cache directory, reused while its TTL lasts, renewed when renewable, and replaced by one
    new login when Vault answers 403 because the token was revoked (a 403 from the policy is reported, not
    retried). Set O(token_cache=false) to keep no token on disk.
  - "Every option can be set, from highest to lowest precedence, as a keyword argument of the lookup, an
    Ansible variable, an environment variable, or in ansible.cfg. At each of those levels our own names
    (C(tradebot_vault_*), C(TRADEBOT_VAULT_*), C([tradebot_kucoin_vault])) win over community.hashi_vault's
    (C(ansible_hashi_vault_*), C(ANSIBLE_HASHI_VAULT_*), C([hashi_vault_collection])), which are read too so a
    playbook moving from community.hashi_vault keeps its settings. The credentials O(token), O(secret_id),
    O(password) and O(jwt) are never read from ansible.cfg, a file that is often committed."
  - "The Vault CLI's environment variables are fallbacks, used only when nothing above sets the option (as in
    community.hashi_vault): C(VAULT_ADDR) for O(url), C(VAULT_TOKEN) for O(token), C(VAULT_NAMESPACE) for
    O(namespace), C(VAULT_CACERT) for O(ca_cert), C(VAULT_CLIENT_CERT) and C(VAULT_CLIENT_KEY) for
    O(client_cert) and O(client_key), C(VAULT_SKIP_VERIFY) for O(validate_certs), then C(~/.vault-token) when
    O(auth_method=token) finds no token at all. So a C(VAULT_ADDR) left in the shell for another Vault never
    overrides the O(url) of ansible.cfg."
  - "Two ways to use it. B(Per host), in a template or a host variable: each host's worker runs the lookup, so
    each pays for loading hvac (about a tenth of a second of CPU), but the run logs in once: the first worker
    logs in and the others reuse its token from the cache. B(Fleet pattern), as C(tradebot.kucoin.deploy_bot)
    does: one C(query) of every strategy, run once on the controller (C(run_once) and
    C(delegate_to: localhost)), whose results the hosts then share. One login, one process, no per-host cost;
    prefer it for large fleets."
  - Values are returned marked unsafe, so Jinja in a secret is never evaluated.
  - Option names follow C(community.hashi_vault) where the concept is the same.
requirements:
  - hvac >= 1.2.0 (Python library on the controller, with requests); every Vault call goes through it.
options:
  _terms:
    description: Secret paths relative to the engine mount, one per strategy, for example C(kucoin/grid-btc).
    required: true
    type: list
    elements: str
  url:
    description: Vault address, for example C(https://vault.example.com:8200).
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_ADDR
      - name: TRADEBOT_VAULT_URL
    ini:
      - section: hashi_vault_collection
        key: url
      - section: tradebot_kucoin_vault
        key: url
    vars:
      - name: ansible_hashi_vault_url
      - name: ansible_hashi_vault_addr
      - name: tradebot_vault_url
  auth_method:
    description: How to log in. V(none) sends no token, for a Vault or OpenBao agent that adds its own.
    type: str
    default: token
    choices: [token, approle, userpass, jwt, cert, kubernetes, none]
    env:
      - name: ANSIBLE_HASHI_VAULT_AUTH_METHOD
      - name: TRADEBOT_VAULT_AUTH_METHOD
    ini:
      - section: hashi_vault_collection
        key: auth_method
      - section: tradebot_kucoin_vault
        key: auth_method
    vars:
      - name: ansible_hashi_vault_auth_method
      - name: tradebot_vault_auth_method
  mount_point:
    description: Where the auth method is mounted. Defaults to the method's name.
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_MOUNT_POINT
      - name: TRADEBOT_VAULT_MOUNT_POINT
    ini:
      - section: hashi_vault_collection
        key: mount_point
      - section: tradebot_kucoin_vault
        key: mount_point
    vars:
      - name: ansible_hashi_vault_mount_point
      - name: tradebot_vault_mount_point
  token:
    description: Token for O(auth_method=token).
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_TOKEN
      - name: TRADEBOT_VAULT_TOKEN
    vars:
      - name: ansible_hashi_vault_token
      - name: tradebot_vault_token
  token_path:
    description: Directory of the token file used when O(auth_method=token) and no O(token) is set.
    type: str
    default: "~"
    env:
      - name: ANSIBLE_HASHI_VAULT_TOKEN_PATH
      - name: TRADEBOT_VAULT_TOKEN_PATH
    ini:
      - section: hashi_vault_collection
        key: token_path
      - section: tradebot_kucoin_vault
        key: token_path
    vars:
      - name: ansible_hashi_vault_token_path
      - name: tradebot_vault_token_path
  token_file:
    description: Name of that token file.
    type: str
    default: .vault-token
    env:
      - name: ANSIBLE_HASHI_VAULT_TOKEN_FILE
      - name: TRADEBOT_VAULT_TOKEN_FILE
    ini:
      - section: hashi_vault_collection
        key: token_file
      - section: tradebot_kucoin_vault
        key: token_file
    vars:
      - name: ansible_hashi_vault_token_file
      - name: tradebot_vault_token_file
  role_id:
    description: AppRole role ID.
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_ROLE_ID
      - name: TRADEBOT_VAULT_ROLE_ID
    ini:
      - section: hashi_vault_collection
        key: role_id
      - section: tradebot_kucoin_vault
        key: role_id
    vars:
      - name: ansible_hashi_vault_role_id
      - name: tradebot_vault_role_id
  secret_id:
    description: AppRole secret ID.
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_SECRET_ID
      - name: TRADEBOT_VAULT_SECRET_ID
    vars:
      - name: ansible_hashi_vault_secret_id
      - name: tradebot_vault_secret_id
  username:
    description: Username for O(auth_method=userpass).
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_USERNAME
      - name: TRADEBOT_VAULT_USERNAME
    ini:
      - section: tradebot_kucoin_vault
        key: username
    vars:
      - name: ansible_hashi_vault_username
      - name: tradebot_vault_username
  password:
    description: Password for O(auth_method=userpass).
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_PASSWORD
      - name: TRADEBOT_VAULT_PASSWORD
    vars:
      - name: ansible_hashi_vault_password
      - name: tradebot_vault_password
  jwt:
    description: The signed JWT for O(auth_method=jwt).
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_JWT
      - name: TRADEBOT_VAULT_JWT
    vars:
      - name: tradebot_vault_jwt
  role:
    description:
      - Role for O(auth_method=jwt) and O(auth_method=kubernetes); the certificate role name for
        O(auth_method=cert) (optional there).
    type: str
    env:
      - name: TRADEBOT_VAULT_ROLE
    ini:
      - section: tradebot_kucoin_vault
        key: role
    vars:
      - name: tradebot_vault_role
  kubernetes_token_path:
    description: File holding the service-account token for O(auth_method=kubernetes).
    type: str
    default: /var/run/secrets/kubernetes.io/serviceaccount/token
    env:
      - name: TRADEBOT_VAULT_KUBERNETES_TOKEN_PATH
    ini:
      - section: tradebot_kucoin_vault
        key: kubernetes_token_path
    vars:
      - name: tradebot_vault_kubernetes_token_path
  engine_mount_point:
    description: Where the KV secrets engine is mounted.
    type: str
    default: secret
    env:
      - name: TRADEBOT_VAULT_ENGINE_MOUNT_POINT
    ini:
      - section: tradebot_kucoin_vault
        key: engine_mount_point
    vars:
      - name: tradebot_vault_engine_mount_point
  kv_version:
    description: KV engine version of O(engine_mount_point).
    type: int
    default: 2
    choices: [1, 2]
    env:
      - name: TRADEBOT_VAULT_KV_VERSION
    ini:
      - section: tradebot_kucoin_vault
        key: kv_version
    vars:
      - name: tradebot_vault_kv_version
  version:
    description: Pin a KV v2 secret version. The latest version when unset.
    type: int
    env:
      - name: TRADEBOT_VAULT_VERSION
    ini:
      - section: tradebot_kucoin_vault
        key: version
    vars:
      - name: tradebot_vault_version
  namespace:
    description: Vault Enterprise or OpenBao namespace.
    type: str
    env:
      - name: ANSIBLE_HASHI_VAULT_NAMESPACE
      - name: TRADEBOT_VAULT_NAMESPACE
    ini:
      - section: hashi_vault_collection
        key: namespace
      - section: tradebot_kucoin_vault
        key: namespace
    vars:
      - name: ansible_hashi_vault_namespace
      - name: tradebot_vault_namespace
  ca_cert:
    description: CA bundle that signed Vault's TLS certificate.
    type: path
    aliases: [cacert]
    env:
      - name: ANSIBLE_HASHI_VAULT_CA_CERT
      - name: TRADEBOT_VAULT_CA_CERT
    ini:
      - section: hashi_vault_collection
        key: ca_cert
      - section: tradebot_kucoin_vault
        key: ca_cert
    vars:
      - name: ansible_hashi_vault_ca_cert
      - name: tradebot_vault_ca_cert
  validate_certs:
    description:
      - Verify Vault's TLS certificate. When unset anywhere, C(VAULT_SKIP_VERIFY) decides, else V(true).
    type: bool
    env:
      - name: TRADEBOT_VAULT_VALIDATE_CERTS
    ini:
      - section: tradebot_kucoin_vault
        key: validate_certs
    vars:
      - name: ansible_hashi_vault_validate_certs
      - name: tradebot_vault_validate_certs
  client_cert:
    description: Client certificate (PEM) for mutual TLS and O(auth_method=cert).
    type: path
    aliases: [cert_auth_public_key]
    env:
      - name: ANSIBLE_HASHI_VAULT_CERT_AUTH_PUBLIC_KEY
      - name: TRADEBOT_VAULT_CLIENT_CERT
    ini:
      - section: hashi_vault_collection
        key: cert_auth_public_key
      - section: tradebot_kucoin_vault
        key: client_cert
    vars:
      - name: ansible_hashi_vault_cert_auth_public_key
      - name: tradebot_vault_client_cert
  client_key:
    description: Private key of O(client_cert).
    type: path
    aliases: [cert_auth_private_key]
    env:
      - name: ANSIBLE_HASHI_VAULT_CERT_AUTH_PRIVATE_KEY
      - name: TRADEBOT_VAULT_CLIENT_KEY
    ini:
      - section: hashi_vault_collection
        key: cert_auth_private_key
      - section: tradebot_kucoin_vault
        key: client_key
    vars:
      - name: ansible_hashi_vault_cert_auth_private_key
      - name: tradebot_vault_client_key
  timeout:
    description:
      - Seconds one Vault request may take as a whole (connecting, TLS, sending, receiving, and a redirect
        hop), however slowly the server sends; when they pass the request's connection is shut down. Name
        resolution is bounded by the system resolver's own timeouts.
      - "One Vault call (a login, a read) with its retries gives up after at most
        (O(retries) + 1) x O(timeout) seconds plus the pauses between attempts (0.5 s, then doubling, at most
        4 s each): with the defaults 4 x 30 + 3.5 = 123.5 s; with O(timeout=2) and O(retries=0), 2 s."
    type: int
    default: 30
    env:
      - name: ANSIBLE_HASHI_VAULT_TIMEOUT
      - name: TRADEBOT_VAULT_TIMEOUT
    ini:
      - section: hashi_vault_collection
        key: timeout
      - section: tradebot_kucoin_vault
        key: timeout
    vars:
      - name: ansible_hashi_vault_timeout
      - name: tradebot_vault_timeout
  retries:
    description:
      - Retries of one Vault call on connection errors, timeouts and HTTP 412, 500, 502 and 503, after a pause of
        0.5 s that doubles each time (at most 4 s). See O(timeout) for the overall bound.
    type: int
    default: 3
    env:
      - name: ANSIBLE_HASHI_VAULT_RETRIES
      - name: TRADEBOT_VAULT_RETRIES
    ini:
      - section: hashi_vault_collection
        key: retries
      - section: tradebot_kucoin_vault
        key: retries
    vars:
      - name: ansible_hashi_vault_retries
      - name: tradebot_vault_retries
  proxies:
    description:
      - Proxy for Vault requests, as in community.hashi_vault. One URL used for both http and https, or a mapping
        of scheme (V(http), V(https)) to proxy URL (a JSON object in a string works too).
      - Without it the environment decides, as for curl and requests (C(HTTPS_PROXY), C(HTTP_PROXY),
        C(ALL_PROXY), C(NO_PROXY), either case); a scheme this option leaves out still follows the environment.
        Logins, reads, token look-ups and renewals all go the same way.
    type: raw
    env:
      - name: ANSIBLE_HASHI_VAULT_PROXIES
      - name: TRADEBOT_VAULT_PROXIES
    ini:
      - section: hashi_vault_collection
        key: proxies
      - section: tradebot_kucoin_vault
        key: proxies
    vars:
      - name: ansible_hashi_vault_proxies
      - name: tradebot_vault_proxies
  token_cache:
    description: Share one token between workers and runs through the cache directory.
    type: bool
    default: true
    env:
      - name: TRADEBOT_VAULT_TOKEN_CACHE
    ini:
      - section: tradebot_kucoin_vault
        key: token_cache
    vars:
      - name: tradebot_vault_token_cache
  token_cache_dir:
    description: The per-user token cache directory (created 0700; each token file is 0600).
    type: path
    default: ~/.cache/tradebot.kucoin/vault
    env:
      - name: TRADEBOT_VAULT_TOKEN_CACHE_DIR
    ini:
      - section: tradebot_kucoin_vault
        key: token_cache_dir
    vars:
      - name: tradebot_vault_token_cache_dir
  api_key_field:
    description: Name of the Vault field holding the API key.
    type: str
    default: api_key
    env:
      - name: TRADEBOT_VAULT_API_KEY_FIELD
    ini:
      - section: tradebot_kucoin_vault
        key: api_key_field
    vars:
      - name: tradebot_vault_api_key_field
  api_secret_field:
    description: Name of the Vault field holding the API secret.
    type: str
    default: api_secret
    env:
      - name: TRADEBOT_VAULT_API_SECRET_FIELD
    ini:
      - section: tradebot_kucoin_vault
        key: api_secret_field
    vars:
      - name: tradebot_vault_api_secret_field
  api_passphrase_field:
    description: Name of the Vault field holding the API passphrase.
    type: str
    default: api_passphrase
    env:
      - name: TRADEBOT_VAULT_API_PASSPHRASE_FIELD
    ini:
      - section: tradebot_kucoin_vault
        key: api_passphrase_field
    vars:
      - name: tradebot_vault_api_passphrase_field
  key_version_field:
    description: >-
      Name of the Vault field holding the key version (1, 2 or 3; V(3), the version of every key KuCoin creates
      now, when the field is absent).
    type: str
    default: key_version
    env:
      - name: TRADEBOT_VAULT_KEY_VERSION_FIELD
    ini:
      - section: tradebot_kucoin_vault
        key: key_version_field
    vars:
      - name: tradebot_vault_key_version_field
  api_field:
    description: Name of the Vault field saying V(spot) or V(futures) (V(spot) when the field is absent).
    type: str
    default: api
    env:
      - name: TRADEBOT_VAULT_API_FIELD
    ini:
      - section: tradebot_kucoin_vault
        key: api_field
    vars:
      - name: tradebot_vault_api_field
notes:
  - The token cache file holds a live Vault token; it is the only file this plugin writes.
  - Errors are one line and never contain a secret value; a missing field is reported by field names only.
  - Where the token goes. Every call sends it only to O(url), through the proxy O(proxies) or the environment
    names. One redirect (a standby sending the client to the active node) is followed; a second one is an
    error, and a redirect from https to http is refused before anything is sent, since the token would travel
    in clear.
  - A broken or hostile server cannot make the lookup hold much memory; replies over 4 MiB are refused, and
    header lines are limited by the standard library's HTTP parser under requests (100 lines of at most
    64 KiB). Text that Vault or a proxy sends back is shown in errors only with the token, secret_id,
    password and JWT removed.
  - Trust. Without O(ca_cert) every call trusts the same CA bundle (requests' certifi bundle, or
    C(REQUESTS_CA_BUNDLE)); with it, every call trusts that bundle.
seealso:
  - module: tradebot.kucoin.key_check
"""

EXAMPLES = r"""
# Fleet pattern (what tradebot.kucoin.deploy_bot does): one query of every strategy, once, on the controller;
# every host then picks its own from the shared fact. One login and no per-host cost.
- name: Read every strategy once
  ansible.builtin.set_fact:
    fleet_credentials: "{{ dict(groups['kucoin_bots'] | map('extract', hostvars, 'vault_path')
                           | zip(query('tradebot.kucoin.vault_credentials',
                                       *(groups['kucoin_bots'] | map('extract', hostvars, 'vault_path'))))) }}"
  run_once: true
  delegate_to: localhost
  no_log: true

- name: Render each host's environment file from the shared fact
  ansible.builtin.template:
    src: bot.env.j2  # uses {{ creds.api_key }}, {{ creds.api_secret }} ...
    dest: /etc/kucoin-bot/bot.env
    mode: "0600"
  vars:
    creds: "{{ fleet_credentials[vault_path] }}"
  no_log: true

# Per host: each host's worker runs the lookup (and loads hvac); the run still logs in once, the other
# workers reuse the cached token.
- name: Render an environment file from a pinned secret version, logging in with AppRole
  ansible.builtin.template:
    src: bot.env.j2
    dest: /etc/kucoin-bot/grid-btc.env
    mode: "0600"
  vars:
    creds: "{{ lookup('tradebot.kucoin.vault_credentials', 'kucoin/grid-btc', version=3,
                      url='https://vault.example.com:8200', auth_method='approle',
                      role_id=vault_role_id, secret_id=vault_secret_id) }}"
  no_log: true

- name: Several strategies at once from a KV v1 engine at kv/, through a proxy, token from VAULT_TOKEN
  ansible.builtin.set_fact:
    strategies: "{{ query('tradebot.kucoin.vault_credentials', 'kucoin/grid-btc', 'kucoin/dca-eth',
                    engine_mount_point='kv', kv_version=1, proxies='http://proxy.example.com:3128') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One dictionary per term.
  type: list
  elements: dict
  contains:
    api_key:
      description: KuCoin API key.
      type: str
    api_secret:
      description: KuCoin API secret.
      type: str
    api_passphrase:
      description: KuCoin API passphrase as set when the key was created.
      type: str
    key_version:
      description: KuCoin API key version, 1, 2 or 3.
      type: int
    api:
      description: V(spot) or V(futures).
      type: str
    vault:
      description: Where the values came from.
      type: dict
      contains:
        mount:
          description: The engine mount.
          type: str
        path:
          description: The secret path.
          type: str
        version:
          description: The KV v2 version read; null for KV v1.
          type: int
"""

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.module_utils.basic import missing_required_lib
from ansible.plugins.lookup import LookupBase
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._kucoin_credentials import (
    CredentialError,
    credentials,
    location_from_options,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import IMPORT_ERROR, VaultError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import VaultConfigError
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import TokenCacheError


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if IMPORT_ERROR is not None:
            raise AnsibleError(missing_required_lib("hvac"))

        self.set_options(var_options=variables, direct=kwargs)
        try:
            where = location_from_options(self.get_option)
            results = [
                credentials(
                    where.session,
                    str(term).strip("/"),
                    mount=where.mount,
                    kv_version=where.kv_version,
                    version=where.version,
                    fields=where.fields,
                )
                for term in terms
            ]
        except (CredentialError, VaultError, VaultConfigError, TokenCacheError) as exc:
            # from None: the chained traceback could carry request bodies at high verbosity.
            raise AnsibleLookupError(f"vault_credentials: {exc}") from None
        return [wrap_var(result) for result in results]
