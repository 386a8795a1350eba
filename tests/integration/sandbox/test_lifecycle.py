"""Starting and stopping the sandbox, concurrency, and the `python -m harness sandbox` command line."""

from __future__ import annotations

import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ccxt
import pytest
import requests

from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.procs import REPO_ROOT, ManagedProcess, tcp_open, wait_for

from .clients import ccxt_futures, ccxt_spot, sdk_account_api

pytestmark = pytest.mark.sandbox


def test_ready_when_start_returns_and_gone_after_stop() -> None:
    key = make_key(key_version=3)
    sandbox = KucoinSandbox([key]).start()
    try:
        # No polling: the listeners accept connections as soon as start() returns.
        assert sdk_account_api(sandbox, key).get_apikey_info().api_key == key.api_key
        assert requests.get(f"{sandbox.futures_url}/api/v1/timestamp", timeout=5).json()["code"] == "200000"
    finally:
        started = time.monotonic()
        sandbox.stop()  # the SDK's keep-alive connection is still open here
    assert time.monotonic() - started < 5
    port = int(sandbox.spot_url.rsplit(":", 1)[1])
    assert not tcp_open("127.0.0.1", port)


def test_concurrent_signed_calls(sandbox: KucoinSandbox) -> None:
    keys = [sandbox.add_key(make_key(key_version=2, permissions=("General", "Futures"))) for _index in range(4)]

    def call(index: int) -> str:
        key = keys[index % len(keys)]
        if index % 2:
            return str(ccxt_futures(sandbox, key).futuresprivate_get_account_overview({"currency": "USDT"})["code"])
        return str(ccxt_spot(sandbox, key).private_get_user_api_key()["code"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(call, range(32)))
    assert codes == ["200000"] * 32
    assert len(sandbox.requests) == 32


def test_command_line(tmp_path: Path) -> None:
    key = make_key(key_version=2, permissions=["General", "Futures"], sub_name="cli-bot")
    master = make_key(permissions=["General"])
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(
        json.dumps(
            {
                "keys": [
                    {
                        "api_key": key.api_key,
                        "secret": key.secret,
                        "passphrase": key.passphrase,
                        "key_version": 2,
                        "permissions": ["General", "Futures"],
                        "sub_name": "cli-bot",
                    },
                    {"api_key": master.api_key, "secret": master.secret, "passphrase": master.passphrase},
                ],
                "sub_accounts": {"cli-bot": master.api_key},
            }
        )
    )
    log = tmp_path / "sandbox.log"
    process = ManagedProcess(
        [sys.executable, "-u", "-m", "harness", "sandbox", "--keys", str(keys_file)],
        log_path=log,
        cwd=REPO_ROOT / "tests",
    )
    try:

        def urls() -> tuple[str, str] | None:
            if not process.alive():
                raise RuntimeError(f"sandbox CLI exited:\n{process.log_tail()}")
            text = log.read_text()
            spot = re.search(r"^spot:\s+(\S+)", text, re.MULTILINE)
            futures = re.search(r"^futures:\s+(\S+)", text, re.MULTILINE)
            return (spot.group(1), futures.group(1)) if spot and futures and "Ctrl-C" in text else None

        spot_url, futures_url = wait_for(urls, timeout=30, what="the sandbox CLI's URLs")
        sandbox_view = KucoinSandbox()
        sandbox_view.spot_url, sandbox_view.futures_url = spot_url, futures_url  # point clients at the CLI's ports
        info = ccxt_spot(sandbox_view, key).private_get_user_api_key()
        assert info["data"]["subName"] == "cli-bot"
        overview = ccxt_futures(sandbox_view, key).futuresprivate_get_account_overview({"currency": "USDT"})
        assert overview["code"] == "200000"
        listed = ccxt_spot(sandbox_view, master).private_get_sub_api_key({"subName": "cli-bot"})
        assert [entry["apiKey"] for entry in listed["data"]] == [key.api_key]
        wait_for(lambda: "account-overview" in log.read_text(), timeout=10, what="the CLI's request log line")
    finally:
        process.stop()
    assert process.popen.returncode == 0
    text = log.read_text()
    assert key.api_key in text
    assert f"sub-account: cli-bot of master key {master.api_key}" in text
    assert key.secret not in text
    assert key.passphrase not in text


def test_reset_restores_keys_and_keeps_late_records_out() -> None:
    kept = make_key(key_version=2)
    with KucoinSandbox([kept]) as sandbox:
        before = sandbox.keys
        sub_accounts_before = sandbox.sub_accounts
        added = sandbox.add_key(make_key(key_version=2))
        sandbox.add_sub_account("late-bot", kept)
        sandbox.remove_key(kept.api_key)
        sandbox.set_faults(added.api_key, latency_ms=600)
        with pytest.raises(ccxt.RequestTimeout):
            ccxt_spot(sandbox, added, timeout=100).private_get_user_api_key()
        sandbox.reset(before, sub_accounts_before)  # what the `sandbox` fixture does between tests
        assert set(sandbox.keys) == {kept.api_key}
        assert sandbox.sub_accounts == {}
        assert sandbox.faults(added.api_key).latency_ms == 0
        assert ccxt_spot(sandbox, kept).private_get_user_api_key()["code"] == "200000"
        # Let the slow request from "the previous test" finish; its record must not appear.
        wait_for(lambda: sandbox.in_flight == 0, timeout=5, what="the slow request to finish")
        assert [r.api_key for r in sandbox.requests] == [kept.api_key]


def test_a_late_request_does_not_use_up_the_next_tests_faults() -> None:
    key = make_key(key_version=2)
    with KucoinSandbox([key]) as sandbox:
        sandbox.set_faults(key.api_key, latency_ms=600)
        with pytest.raises(ccxt.RequestTimeout):
            ccxt_spot(sandbox, key, timeout=100).private_get_user_api_key()
        sandbox.reset()  # the next test begins while the slow request still sleeps in the sandbox
        sandbox.set_faults(rate_limit_count=1)
        wait_for(lambda: sandbox.in_flight == 0, timeout=5, what="the slow request to finish")
        # The fault is still there for this test's own first request.
        with pytest.raises(ccxt.RateLimitExceeded, match="429000"):
            ccxt_spot(sandbox, key).private_get_user_api_key()
        assert ccxt_spot(sandbox, key).private_get_user_api_key()["code"] == "200000"
        assert [r.fault for r in sandbox.requests] == ["rate_limit", None]
