"""A minimal KuCoin bot for kucoin-bot@<strategy>.service: one signed call, one log line, then it idles.

It reads what tradebot.kucoin.bot_host gives it - KUCOIN_API_KEY, KUCOIN_API_KEY_VERSION, KUCOIN_API_BASE_URL
and KUCOIN_API (spot or futures) from the environment file, KUCOIN_STRATEGY from the unit, and
KUCOIN_SECRET_KEY / KUCOIN_PASSPHRASE from the environment or, in credentials mode, from
$CREDENTIALS_DIRECTORY - then calls GET /api/v1/accounts (spot) or
GET /api/v1/account-overview?currency=USDT (futures) and logs the outcome, never a secret. It signs with the
collection's own plugins/module_utils/kucoin_signing.py, installed beside it (standard library only), so it
runs on the bot host's own python3. Exit status 1 when the call fails (systemd restarts it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

# The collection's signing module is installed next to this file (bot_host_program_files).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kucoin_signing import Credentials, signed_headers

SPOT_PATH = "/api/v1/accounts"
FUTURES_PATH = "/api/v1/account-overview?currency=USDT"


def setting(name: str) -> str:
    """A value from $CREDENTIALS_DIRECTORY/<name> (credentials mode) or else from the environment."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory and (Path(directory) / name).is_file():
        return (Path(directory) / name).read_text(encoding="utf-8")
    value = os.environ.get(name)
    if value is None:
        raise SystemExit(f"{name} is not set (neither in the environment nor as a systemd credential)")
    return value


def signed_get(base_url: str, path: str, key: str, secret: str, passphrase: str, version: str) -> dict:
    headers = signed_headers(Credentials(key, secret, passphrase, int(version)), "GET", path)
    headers["User-Agent"] = "tradebot.kucoin example bot"
    request = urllib.request.Request(base_url.rstrip("/") + path, headers=headers)  # noqa: S310 (URL from config)
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:  # noqa: S310
            return json.load(reply)
    except urllib.error.HTTPError as error:  # KuCoin puts its code in the body whatever the HTTP status
        return json.load(error)


def main() -> int:
    strategy = os.environ.get("KUCOIN_STRATEGY", "kucoin-bot")
    base_url = setting("KUCOIN_API_BASE_URL")
    key = setting("KUCOIN_API_KEY")
    version = setting("KUCOIN_API_KEY_VERSION")
    path = FUTURES_PATH if os.environ.get("KUCOIN_API") == "futures" else SPOT_PATH
    try:
        answer = signed_get(base_url, path, key, setting("KUCOIN_SECRET_KEY"), setting("KUCOIN_PASSPHRASE"), version)
    except (OSError, ValueError) as error:
        print(f"{strategy}: signed GET {path} to {base_url} failed: {type(error).__name__}", flush=True)
        return 1
    code = str(answer.get("code"))
    if code != "200000":
        print(f"{strategy}: signed GET {path} to {base_url} refused: code {code} {answer.get('msg', '')}", flush=True)
        return 1
    data = answer.get("data")
    detail = f"{len(data)} accounts" if isinstance(data, list) else "account overview"
    print(f"{strategy}: signed GET {path} to {base_url} succeeded: code 200000, {detail}, key {key[:4]}...", flush=True)
    # A real bot would trade from here on; this one idles until systemd stops it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
