# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One line in plain words for every way a KuCoin call can fail: the likely cause, then what to do."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.tradebot.kucoin.plugins.module_utils._kucoin_clock import ClockReading, describe_offset
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import ErrorKind, KucoinCallError

# KuCoin's gateway codes (docs-new "Error Code"); each: the likely cause, then what to do.
KUCOIN_DIAGNOSES: dict[str, str] = {
    "400001": (
        "KuCoin found an auth header (KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE) missing or "
        "malformed, usually an empty api_key or api_passphrase or a proxy that strips headers; set all three "
        "credentials and call KuCoin directly or through a proxy that keeps headers"
    ),
    "400002": (
        "KuCoin rejected the request time because this host's clock is more than 5 seconds away from KuCoin's; "
        "turn on time sync (chrony or systemd-timesyncd) on this host and check again"
    ),
    "400003": (
        "KuCoin does not know this API key: it was deleted, mistyped, copied with spaces, or belongs to another "
        "KuCoin environment; copy the key again from KuCoin's API management page"
    ),
    "400004": (
        "KuCoin rejected the passphrase header: the passphrase is wrong, the secret is wrong (versions 2 and 3 "
        "send the passphrase's HMAC made with the secret), or the key is a version 1 key, which sends the "
        "passphrase as is; check api_passphrase, api_secret and the key's version on KuCoin (key_version: 1 for "
        "version 1 keys)"
    ),
    "400005": (
        "KuCoin rejected the signature: the API secret does not belong to this key, was copied with spaces, or a "
        "proxy changed the request; copy the secret again or create a new key"
    ),
    "400006": (
        "KuCoin refused the request because the IP address it came from is not on the key's IP whitelist; add "
        "this host's public IP address to the key's whitelist on KuCoin's API management page or run the bot "
        "from a whitelisted host"
    ),
    "400007": (
        "the key lacks a permission this call needs (the account overview on the futures API needs Futures); "
        "on KuCoin's API management page tick that permission for the key, or use a key that has it"
    ),
    "400008": (
        "KuCoin no longer accepts version 1 or 2 API keys on this API; create a version 3 key and set key_version: 3"
    ),
    "400009": (
        "KuCoin rejected the KC-API-KEY-VERSION header as invalid; set key_version to the version shown for the "
        "key on KuCoin (1, 2 or 3; new keys are 3)"
    ),
    "400010": (
        "KuCoin denied access for this account (UID) because it lacks a permission the call needs; check the "
        "account's and the key's permissions on KuCoin"
    ),
    "400100": (
        "KuCoin rejected a parameter of the request (400100), which for these read-only calls means base_url or "
        "key_info_url points at another API or KuCoin changed the endpoint; check both URLs"
    ),
    "411100": (
        "KuCoin has frozen this account or key, so every call is refused; contact KuCoin support or use a key "
        "of an account that is not frozen"
    ),
    "429000": (
        "KuCoin kept answering 'too many requests' after the retries: the quota of one of its rate-limit pools "
        "is used up, and quotas are counted per account (UID), so every key and bot on the same account or IP "
        "address draws on it; wait for the reset and check again, and give busy bots their own sub-account, "
        "which has its own quota"
    ),
    "500000": (
        "KuCoin had an internal error after the retries, which is on KuCoin's side; check again in a few minutes "
        "and watch KuCoin's status page"
    ),
}
# The same codes where the calls are the master key's sub-account API-key calls (tradebot.kucoin.subaccount_api_key).
SUB_ACCOUNT_DIAGNOSES: dict[str, str] = {
    "400003": (
        "KuCoin does not know the master API key: it was deleted, mistyped or belongs to another KuCoin "
        "environment; check the master key stored in Vault"
    ),
    "400007": (
        "the master key may not manage sub-account API keys: only a master-account key with the General "
        "permission may (a sub-account's key never may); give the module such a key"
    ),
    "400010": (
        "KuCoin denied the master account (UID) the sub-account API-key calls; check on KuCoin that the account "
        "may manage its sub-accounts' API keys"
    ),
    "400100": (
        "KuCoin rejected a parameter of the sub-account API-key call: a sub-account name this master does not "
        "own, an address KuCoin does not take in ip_whitelist, a remark KuCoin does not take, or a key that is "
        "not this sub-account's; check sub_name, ip_whitelist and remark"
    ),
}
# 4003xx: what KuCoin allows this account, by region or identity verification.
ACCOUNT_RESTRICTION = (
    "KuCoin restricts this account ({code}): a regional or identity-verification (KYC) limit, not a problem of "
    "the key; complete the verification or check the account's region on KuCoin, then check again"
)

TRANSPORT_DIAGNOSES: dict[str, str] = {
    ErrorKind.TIMEOUT: (
        "KuCoin did not answer within {timeout:g} seconds: the network, a firewall or a slow proxy is in the way, "
        "or KuCoin is overloaded; check this host's route to {host} or raise timeout"
    ),
    ErrorKind.TLS: (
        "the TLS connection to {host} failed (certificate not trusted, wrong host name or a TLS-intercepting "
        "proxy); fix the host's CA bundle or set ca_path to the CA that signs the server's certificate"
    ),
    ErrorKind.DNS: (
        "the host name {host} could not be resolved; check {option} for typos and this host's DNS resolver"
    ),
    ErrorKind.CONNECTION: (
        "the connection to {host} failed or was closed before an answer (refused, reset or dropped); check that "
        "the URL and port are right and that a firewall lets this host reach KuCoin"
    ),
    ErrorKind.PROXY: "the proxy refused or failed the request to {host}; check the proxy option and the proxy itself",
    ErrorKind.BAD_URL: "{url} is not a usable http(s) URL; check base_url and key_info_url",
    ErrorKind.UNEXPECTED: "the call to {host} failed in an unexpected way; run again with -vvv and report a bug",
}


def host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0] or url


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat[0].upper() + flat[1:] if flat else flat


def _kucoin_line(
    error: KucoinCallError, key_version: int, clock: ClockReading | None, advice_by_code: Mapping[str, str]
) -> str:
    code = error.kucoin_code or ""
    advice = advice_by_code.get(code) or KUCOIN_DIAGNOSES.get(code)
    if advice is None and code.startswith("4003") and len(code) == 6:
        advice = ACCOUNT_RESTRICTION.format(code=code)
    if advice is None and error.http_status is not None and error.http_status >= 500:
        advice = KUCOIN_DIAGNOSES["500000"]
    if advice is None:
        advice = "KuCoin refused the call with a code this module has no advice for; look it up in KuCoin's list"
    line = f"KuCoin code {code} (HTTP {error.http_status}) from {error.url}: {advice}"
    if code == "400002" and clock is not None:
        line += f" (measured: this host's clock is {describe_offset(clock.skew_ms)})"
    if code in ("400004", "400009"):
        line += f" (key_version {key_version} was used)"
    if error.server_message:
        line += f". KuCoin said: {error.server_message}"
    return line


def _malformed_line(error: KucoinCallError, host: str) -> str:
    excerpt = f" (body starts: {error.detail!r})" if error.detail else ""
    if error.rate_limited:  # Cloudflare's 1015 page, or any HTML answer with HTTP 429
        return (
            f"{host} answered HTTP {error.http_status} with a rate-limit page instead of KuCoin's JSON{excerpt}: "
            "KuCoin's front (Cloudflare, error 1015) limits requests per IP address, shared by everything on this "
            "host's address; wait a minute and check again, and spread busy bots over more addresses"
        )
    if error.http_status is not None and error.http_status >= 500:
        cause = f"KuCoin answered HTTP {error.http_status} without its JSON body after the retries (an outage)"
        return f"{cause}{excerpt}; check again in a few minutes"
    return (
        f"{host} answered HTTP {error.http_status} with a body that is not KuCoin's JSON, so the URL points at "
        f"something else (a proxy, captive portal or wrong host){excerpt}; check base_url, key_info_url and proxy"
    )


def diagnose(
    error: KucoinCallError,
    *,
    timeout: float,
    key_version: int,
    clock: ClockReading | None = None,
    option: str = "base_url",
    advice: Mapping[str, str] | None = None,
) -> str:
    """One line in plain words: which call failed, the likely cause, what to do.

    option names the setting the failed call's URL came from, so that the advice points at it; advice gives
    the words for codes whose meaning depends on the call (e.g. SUB_ACCOUNT_DIAGNOSES).
    """
    host = host_of(error.url)
    if error.kind == ErrorKind.KUCOIN:
        return one_line(_kucoin_line(error, key_version, clock, advice or {}))
    if error.kind == ErrorKind.MALFORMED:
        return one_line(_malformed_line(error, host))
    template = TRANSPORT_DIAGNOSES.get(error.kind, TRANSPORT_DIAGNOSES[ErrorKind.UNEXPECTED])
    line = template.format(timeout=timeout, host=host, url=error.url, option=option)
    if error.detail:
        line += f" ({error.detail})"
    return one_line(line)
