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
    Ansible variable, an environment variable, or in the C([tradebot_kucoin_vault]) section of ansible.cfg.
    The Vault CLI's environment variables C(VAULT_ADDR), C(VAULT_TOKEN), C(VAULT_NAMESPACE) and
    C(VAULT_CACERT) are the environment sources of O(url), O(token), O(namespace) and O(ca_cert);
    C(VAULT_SKIP_VERIFY) applies when O(validate_certs) is not set anywhere, and C(~/.vault-token) when
    O(auth_method=token) finds no token elsewhere. The credentials O(token), O(secret_id), O(password) and O(jwt)
    are never read from ansible.cfg, a file that is often committed."
  - Values are returned marked unsafe, so Jinja in a secret is never evaluated.
  - Option names follow C(community.hashi_vault) where the concept is the same.
requirements:
  - hvac >= 1.2.0 (Python library on the controller). Only the worker that logs in imports it (secrets are
    read with Python's standard library), but the lookup refuses to run without it, whatever the auth method.
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
      - name: VAULT_ADDR
    ini:
      - section: tradebot_kucoin_vault
        key: url
    vars:
      - name: tradebot_vault_url
  auth_method:
    description: How to log in. V(none) sends no token, for a Vault or OpenBao agent that adds its own.
    type: str
    default: token
    choices: [token, approle, userpass, jwt, cert, kubernetes, none]
    env:
      - name: TRADEBOT_VAULT_AUTH_METHOD
    ini:
      - section: tradebot_kucoin_vault
        key: auth_method
    vars:
      - name: tradebot_vault_auth_method
  mount_point:
    description: Where the auth method is mounted. Defaults to the method's name.
    type: str
    env:
      - name: TRADEBOT_VAULT_MOUNT_POINT
    ini:
      - section: tradebot_kucoin_vault
        key: mount_point
    vars:
      - name: tradebot_vault_mount_point
  token:
    description: Token for O(auth_method=token).
    type: str
    env:
      - name: VAULT_TOKEN
    vars:
      - name: tradebot_vault_token
  token_path:
    description: Directory of the token file used when O(auth_method=token) and no O(token) is set.
    type: str
    default: "~"
    env:
      - name: TRADEBOT_VAULT_TOKEN_PATH
    ini:
      - section: tradebot_kucoin_vault
        key: token_path
    vars:
      - name: tradebot_vault_token_path
  token_file:
    description: Name of that token file.
    type: str
    default: .vault-token
    env:
      - name: TRADEBOT_VAULT_TOKEN_FILE
    ini:
      - section: tradebot_kucoin_vault
        key: token_file
    vars:
      - name: tradebot_vault_token_file
  role_id:
    description: AppRole role ID.
    type: str
    env:
      - name: TRADEBOT_VAULT_ROLE_ID
    ini:
      - section: tradebot_kucoin_vault
        key: role_id
    vars:
      - name: tradebot_vault_role_id
  secret_id:
    description: AppRole secret ID.
    type: str
    env:
      - name: TRADEBOT_VAULT_SECRET_ID
    vars:
      - name: tradebot_vault_secret_id
  username:
    description: Username for O(auth_method=userpass).
    type: str
    env:
      - name: TRADEBOT_VAULT_USERNAME
    ini:
      - section: tradebot_kucoin_vault
        key: username
    vars:
      - name: tradebot_vault_username
  password:
    description: Password for O(auth_method=userpass).
    type: str
    env:
      - name: TRADEBOT_VAULT_PASSWORD
    vars:
      - name: tradebot_vault_password
  jwt:
    description: The signed JWT for O(auth_method=jwt).
    type: str
    env:
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
      - name: VAULT_NAMESPACE
    ini:
      - section: tradebot_kucoin_vault
        key: namespace
    vars:
      - name: tradebot_vault_namespace
  ca_cert:
    description: CA bundle that signed Vault's TLS certificate.
    type: path
    aliases: [cacert]
    env:
      - name: VAULT_CACERT
    ini:
      - section: tradebot_kucoin_vault
        key: ca_cert
    vars:
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
      - name: tradebot_vault_validate_certs
  client_cert:
    description: Client certificate (PEM) for mutual TLS and O(auth_method=cert).
    type: path
    aliases: [cert_auth_public_key]
    env:
      - name: VAULT_CLIENT_CERT
    ini:
      - section: tradebot_kucoin_vault
        key: client_cert
    vars:
      - name: tradebot_vault_client_cert
  client_key:
    description: Private key of O(client_cert).
    type: path
    aliases: [cert_auth_private_key]
    env:
      - name: VAULT_CLIENT_KEY
    ini:
      - section: tradebot_kucoin_vault
        key: client_key
    vars:
      - name: tradebot_vault_client_key
  timeout:
    description: Seconds to wait for each Vault response.
    type: int
    default: 30
    env:
      - name: TRADEBOT_VAULT_TIMEOUT
    ini:
      - section: tradebot_kucoin_vault
        key: timeout
    vars:
      - name: tradebot_vault_timeout
  retries:
    description: Retries, with exponential backoff, on connection errors and HTTP 412, 500, 502 and 503.
    type: int
    default: 3
    env:
      - name: TRADEBOT_VAULT_RETRIES
    ini:
      - section: tradebot_kucoin_vault
        key: retries
    vars:
      - name: tradebot_vault_retries
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
    description: Name of the Vault field holding the key version (1, 2 or 3; V(2) when the field is absent).
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
  - Proxies come from C(HTTP_PROXY), C(HTTPS_PROXY) and C(NO_PROXY) (either case), as for curl and requests.
    A standby's redirect to the active node is followed, but never from https to plain http.
seealso:
  - module: tradebot.kucoin.key_check
"""

EXAMPLES = r"""
- name: Credentials of one strategy, logging in with AppRole
  ansible.builtin.set_fact:
    grid_btc: "{{ lookup('tradebot.kucoin.vault_credentials', 'kucoin/grid-btc',
                  url='https://vault.example.com:8200', auth_method='approle',
                  role_id=vault_role_id, secret_id=vault_secret_id) }}"
  no_log: true

- name: Several strategies at once from a KV v1 engine at kv/, token from VAULT_TOKEN
  ansible.builtin.set_fact:
    strategies: "{{ query('tradebot.kucoin.vault_credentials', 'kucoin/grid-btc', 'kucoin/dca-eth',
                    engine_mount_point='kv', kv_version=1) }}"
  no_log: true

- name: Render an environment file from a pinned secret version
  ansible.builtin.template:
    src: bot.env.j2  # uses {{ creds.api_key }}, {{ creds.api_secret }} ...
    dest: /etc/kucoin-bot/grid-btc.env
    mode: "0600"
  vars:
    creds: "{{ lookup('tradebot.kucoin.vault_credentials', 'kucoin/grid-btc', version=3) }}"
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
from ansible.module_utils.basic import missing_required_lib  # already loaded in every Ansible worker
from ansible.plugins.lookup import LookupBase
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_connection import (
    HvacMissingError,
    VaultConfigError,
    hvac_installed,
    settings_from_options,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # hvac is imported only by the worker that logs in, but it is a requirement for every auth method:
        # checked up front (without importing it) so a missing hvac fails every run the same way.
        if not hvac_installed():
            raise AnsibleError(missing_required_lib("hvac"))

        from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_credentials import (
            CredentialError,
            FieldNames,
            VaultSession,
            credentials,
        )
        from ansible_collections.tradebot.kucoin.plugins.plugin_utils.vault_token_cache import (
            TokenCache,
            TokenCacheError,
        )

        self.set_options(var_options=variables, direct=kwargs)
        try:
            settings = settings_from_options(self.get_option)
            cache = TokenCache(self.get_option("token_cache_dir")) if self.get_option("token_cache") else None
            session = VaultSession(settings, cache)
            fields = FieldNames(
                api_key=self.get_option("api_key_field"),
                api_secret=self.get_option("api_secret_field"),
                api_passphrase=self.get_option("api_passphrase_field"),
                key_version=self.get_option("key_version_field"),
                api=self.get_option("api_field"),
            )
            results = [
                credentials(
                    session,
                    str(term).strip("/"),
                    mount=self.get_option("engine_mount_point").strip("/"),
                    kv_version=self.get_option("kv_version"),
                    version=self.get_option("version"),
                    fields=fields,
                )
                for term in terms
            ]
        except HvacMissingError:
            # Installed, yet not importable (a broken install): found out by the worker that logs in.
            raise AnsibleError(missing_required_lib("hvac")) from None
        except (CredentialError, VaultConfigError, TokenCacheError) as exc:
            # from None: the chained traceback could carry request bodies at high verbosity.
            raise AnsibleLookupError(f"vault_credentials: {exc}") from None
        return [wrap_var(result) for result in results]
