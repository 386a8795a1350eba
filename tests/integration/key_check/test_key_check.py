"""tradebot.kucoin.key_check through the real ansible-playbook against the KuCoin sandbox over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.kucoin_sandbox import KucoinSandbox, make_key
from harness.tls import TestCA

from .conftest import Outcome, closed_port, key_args, run_cases, run_verbose

pytestmark = pytest.mark.sandbox

DAY_MS = 86_400_000
TIMEOUT_S = 1.0


def test_keys_policies_and_every_error_code(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    add = sandbox.add_key
    spot = ("General", "Spot")
    v1 = add(make_key(key_version=1, permissions=spot))
    v2 = add(make_key(key_version=2, permissions=spot))
    v3_sub = add(make_key(key_version=3, permissions=spot, sub_name="grid-sub"))
    fut = add(make_key(key_version=2, permissions=("General", "Futures")))
    spot_only = add(make_key(key_version=3, permissions=spot))
    withdraw = add(make_key(permissions=("General", "Spot", "Withdrawal")))
    old = add(make_key(created_at_ms=int(time.time() * 1000) - 120 * DAY_MS))
    pinned = add(make_key(ip_whitelist=("127.0.0.1",)))
    elsewhere = add(make_key(ip_whitelist=("10.9.9.9",)))
    frozen = add(make_key(frozen=True))
    unknown = make_key()  # never added
    faulty = {name: add(make_key()) for name in ("late", "429 once", "429 always", "500 once", "500 always")}
    faulty.update({name: add(make_key()) for name in ("not json", "dropped", "slow", "400100", "400303", "1015")})
    sandbox.set_faults(faulty["late"].api_key, clock_offset_ms=6500)  # only this key's requests see it
    sandbox.set_faults(faulty["429 once"].api_key, rate_limit_count=1, rate_limit_reset_ms=300)
    sandbox.set_faults(faulty["429 always"].api_key, rate_limit_count=50, rate_limit_reset_ms=100)
    sandbox.set_faults(faulty["500 once"].api_key, server_error_count=1)
    sandbox.set_faults(faulty["500 always"].api_key, server_error_count=50)
    sandbox.set_faults(faulty["not json"].api_key, malformed_count=1)
    sandbox.set_faults(faulty["dropped"].api_key, drop_count=1)
    sandbox.set_faults(faulty["400100"].api_key, param_error_count=1)
    sandbox.set_faults(faulty["400303"].api_key, restricted_count=1, restricted_code=400303)
    sandbox.set_faults(faulty["1015"].api_key, cloudflare_count=50)
    # Far beyond the timeout, so a task that ignored it would blow the bound asserted below by seconds.
    sandbox.set_faults(faulty["slow"].api_key, latency_ms=int(TIMEOUT_S * 1000 * 20))

    def case(name: str, key: Any, **extra: Any) -> dict[str, Any]:
        return {"name": name, "args": key_args(key, sandbox, **extra)}

    futures_urls = {"api": "futures", "base_url": sandbox.futures_url, "key_info_url": sandbox.spot_url}
    cases = [
        case("v1", v1),
        case("v2", v2, required_permissions=["general", "SPOT"]),
        case("v3 sub-account", v3_sub, expected_sub_account="grid-sub"),
        case("futures", fut, required_permissions=["General", "Futures"], **futures_urls),
        case("wrong sub-account", v3_sub, expected_sub_account="dca-sub"),
        case("master where a sub-account is expected", v2, expected_sub_account="grid-sub"),
        case("missing permission", v2, required_permissions=["General", "Margin"]),
        case("forbidden permission", withdraw, forbidden_permissions=["withdrawal"]),
        case("withdrawal allowed explicitly", withdraw, allowed_permissions=["Withdrawal"]),
        case("old key warns", old),
        case("old key fails", old, fail_on_old_key=True),
        case("no whitelist", v2, require_ip_whitelist=True),
        case("whitelisted", pinned, require_ip_whitelist=True),
        case("400001 missing header", v2, api_key=""),
        # Pasted with its line break: the HTTP client's own error would quote the value, escaped.
        case("passphrase with a line break", v1, api_passphrase=v1.passphrase + "\n"),
        case("400002 timestamp", faulty["late"]),
        case("400003 unknown key", unknown),
        case("400004 wrong passphrase", v2, api_passphrase=v2.passphrase + "x"),
        case("400004 wrong key version", v1, key_version=2),
        case("400005 wrong secret", v1, api_secret=v1.secret + "x"),
        case("400006 ip", elsewhere),
        # KuCoin answers the overview with 400007; the key information says which permission is missing.
        case("futures permission missing", spot_only, **futures_urls),
        case("411100 frozen", frozen),
        case("429 then success", faulty["429 once"]),
        case("429000 after retries", faulty["429 always"]),
        case("500 then success", faulty["500 once"]),
        case("500000 after retries", faulty["500 always"]),
        case("not KuCoin's JSON", faulty["not json"]),
        case("400100 parameter", faulty["400100"]),
        case("400303 identity verification", faulty["400303"]),
        case("Cloudflare 1015", faulty["1015"]),
        case("connection dropped", faulty["dropped"]),
        case("connection refused", v2, base_url=f"http://127.0.0.1:{closed_port()}"),
        case("dns", v2, base_url="http://kucoin-sandbox.invalid"),
        case("tls", v2, base_url=sandbox.spot_url.replace("http://", "https://")),
    ]
    # The slow key only delays its own signed calls, so the other cases run at full speed beside it.
    timed = [case("baseline", v2, timeout=TIMEOUT_S), case("timeout", faulty["slow"], timeout=TIMEOUT_S)]
    out = run_cases(cases, tmp_path, timed=timed)

    def passed(name: str) -> Outcome:
        outcome = out[name]
        assert not outcome.failed, str(outcome)
        assert outcome.result["valid"] is True
        assert outcome.result["changed"] is False
        return outcome

    def failed(name: str, code: str | None, status: int | None, *words: str) -> Outcome:
        outcome = out[name]
        assert outcome.failed, str(outcome)
        result = outcome.result
        assert result["valid"] is False
        assert result["changed"] is False
        assert (result["kucoin_code"], result["http_status"]) == (code, status), str(outcome)
        assert result["diagnosis"] == outcome.msg
        assert "\n" not in outcome.msg
        for word in words:
            assert word.lower() in outcome.msg.lower(), f"{name}: {word!r} not in {outcome.msg!r}"
        return outcome

    for name, key in (("v1", v1), ("v2", v2), ("v3 sub-account", v3_sub)):
        result = passed(name).result
        assert result["key_version"] == key.key_version
        assert result["api_key"] == f"{key.api_key[:4]}…{key.api_key[-2:]}"
        assert result["permissions"] == ["General", "Spot"]
        assert result["ip_whitelist"] == []
        assert abs(result["clock_skew_ms"]) < 500
        assert result["round_trip_ms"] >= 0
        assert result["age_days"] == 0
        assert result["service_status"] == "open"
        assert not out[name].warnings
    assert out["v1"].result["is_master"] is True
    assert out["v1"].result["sub_account"] is None
    assert out["v3 sub-account"].result["is_master"] is False
    assert out["v3 sub-account"].result["sub_account"] == "grid-sub"
    assert passed("futures").result["permissions"] == ["General", "Futures"]
    futures_calls = [r for r in sandbox.requests if r.api_key == fut.api_key]
    assert {(r.listener, r.path) for r in futures_calls} == {
        ("spot", "/api/v1/user/api-key"),
        ("futures", "/api/v1/account-overview"),
    }

    failed("wrong sub-account", None, 200, "sub-account grid-sub, not to sub-account dca-sub")
    failed("master where a sub-account is expected", None, 200, "master account")
    failed("missing permission", None, 200, "lacks the Margin permission")
    failed("forbidden permission", None, 200, "has the Withdrawal permission")
    passed("withdrawal allowed explicitly")
    assert passed("old key warns").warnings == ["the key is 120 days old, older than max_key_age_days (90); rotate it"]
    assert out["old key warns"].result["age_days"] == 120
    failed("old key fails", None, 200, "120 days old")
    failed("no whitelist", None, 200, "no IP whitelist")
    assert passed("whitelisted").result["ip_whitelist"] == ["127.**.1"]  # masked, as KuCoin shows it

    failed("400001 missing header", "400001", 400, "header", "api_passphrase")
    pasted = failed("passphrase with a line break", None, None, "api_passphrase cannot be sent in an HTTP header")
    assert v1.passphrase not in str({k: v for k, v in pasted.result.items() if k != "item"})  # item: the loop's input
    failed("400002 timestamp", "400002", 400, "clock", "time sync")
    failed("400003 unknown key", "400003", 401, "does not know this API key")
    failed("400004 wrong passphrase", "400004", 401, "passphrase", "key_version 2 was used")
    failed("400004 wrong key version", "400004", 401, "version 1 key", "key_version 2 was used")
    failed("400005 wrong secret", "400005", 401, "signature", "secret")
    failed("400006 ip", "400006", 403, "whitelist", "127.0.0.1")
    failed("futures permission missing", None, 200, "lacks the Futures permission", "tick Futures")
    failed("411100 frozen", "411100", 403, "frozen")

    passed("429 then success")
    passed("500 then success")
    for name, key in (("429 then success", faulty["429 once"]), ("500 then success", faulty["500 once"])):
        statuses = [r.http_status for r in sandbox.requests if r.api_key == key.api_key]
        assert statuses in ([429, 200], [500, 200]), f"{name}: {statuses}"
    failed("429000 after retries", "429000", 429, "too many requests", "per account (UID)", "sub-account")
    assert len([r for r in sandbox.requests if r.api_key == faulty["429 always"].api_key]) == 4, "bounded retries"
    failed("500000 after retries", "500000", 500, "kucoin's side")
    assert len([r for r in sandbox.requests if r.api_key == faulty["500 always"].api_key]) == 4
    failed("not KuCoin's JSON", None, 200, "not KuCoin's JSON", "502 Bad Gateway")
    failed("400100 parameter", "400100", 400, "parameter", "key_info_url")
    failed("400303 identity verification", "400303", 400, "restricts this account (400303)", "KYC")
    cloudflare = failed("Cloudflare 1015", None, 429, "rate-limit page", "1015", "per IP address")
    assert "captive portal" not in cloudflare.msg
    failed("connection dropped", None, None, "connection")
    failed("timeout", None, None, f"did not answer within {TIMEOUT_S:g} seconds")
    # Beyond what the same task takes against a prompt server (Ansible's own overhead, which a busy machine
    # stretches), the timeout plus a margin, far below the 10 s the sandbox holds the answer back.
    extra = overrun(out, "timeout")
    assert extra < TIMEOUT_S + 3, f"the task took {extra:.2f} s longer than with a prompt server"
    failed("connection refused", None, None, "connection", "refused")
    failed("dns", None, None, "could not be resolved", "kucoin-sandbox.invalid")
    failed("tls", None, None, "TLS")


def overrun(out: dict[str, Outcome], name: str) -> float:
    """How much longer a timed case took than the timed "baseline" case of the same run."""
    slow, baseline = out[name].seconds, out["baseline"].seconds
    assert slow is not None
    assert baseline is not None
    return slow - baseline


def test_tls_trust_comes_from_ca_path(sandbox: KucoinSandbox, tls_front: str, tls_ca: TestCA, tmp_path: Path) -> None:
    key = sandbox.add_key(make_key())
    out = run_cases(
        [
            {
                "name": "trusted through ca_path",
                "args": key_args(key, sandbox, base_url=tls_front, ca_path=str(tls_ca.cert)),
            },
            {"name": "untrusted certificate", "args": key_args(key, sandbox, base_url=tls_front)},
            {"name": "verification off", "args": key_args(key, sandbox, base_url=tls_front, validate_certs=False)},
        ],
        tmp_path,
        (),
        "--check",  # the module only reads, so check mode runs the same calls
    )
    assert not out["trusted through ca_path"].failed, str(out["trusted through ca_path"])
    assert out["trusted through ca_path"].result["valid"] is True
    assert out["trusted through ca_path"].result["changed"] is False
    assert len([r for r in sandbox.requests if r.api_key == key.api_key]) == 2, "check mode made the signed calls"
    untrusted = out["untrusted certificate"]
    assert untrusted.failed
    assert (untrusted.result["kucoin_code"], untrusted.result["http_status"]) == (None, None)
    assert "TLS connection to 127.0.0.1" in untrusted.msg
    assert "ca_path" in untrusted.msg
    assert "certificate" in untrusted.msg.lower()
    assert not out["verification off"].failed, str(out["verification off"])


def test_missing_httpx_uses_the_missing_library_message(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    # The module's Python cannot import httpx (as on a host without python3-httpx): a shadow package refuses.
    shadow = tmp_path / "shadow" / "httpx"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'httpx'\")\n")
    key = sandbox.add_key(make_key())
    out = run_cases(
        [{"name": "no httpx", "args": key_args(key, sandbox)}], tmp_path, env={"PYTHONPATH": str(shadow.parent)}
    )
    outcome = out["no httpx"]
    assert outcome.failed
    assert "Failed to import the required Python library (httpx) on " in outcome.msg
    assert not sandbox.requests, "nothing was called"


def test_clock_offset_over_the_limit_fails_and_under_it_warns(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    key = sandbox.add_key(make_key())
    sandbox.set_faults(clock_offset_ms=3000)  # server-wide: also moves /api/v1/timestamp; still inside 5 s
    out = run_cases(
        [
            {"name": "default limit", "args": key_args(key, sandbox)},
            {"name": "limit 5 s", "args": key_args(key, sandbox, max_clock_skew=5.0)},
            {"name": "limit 10 s", "args": key_args(key, sandbox, max_clock_skew=10.0)},
        ],
        tmp_path,
    )
    over = out["default limit"]
    assert over.failed, str(over)
    assert 2500 < over.result["clock_skew_ms"] < 3500
    assert over.result["kucoin_code"] is None
    assert "clock is 3.0" in over.msg or "clock is 2.9" in over.msg
    assert "behind KuCoin's" in over.msg
    assert "time sync" in over.msg
    warned = out["limit 5 s"]
    assert not warned.failed, str(warned)
    assert any("more than half of max_clock_skew" in w for w in warned.warnings)
    quiet = out["limit 10 s"]
    assert not quiet.failed
    assert not quiet.warnings


def test_no_secret_in_verbose_output(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import hmac_base64

    good = sandbox.add_key(
        make_key(
            key_version=2,
            permissions=("General", "Spot"),
            created_at_ms=int(time.time() * 1000) - 5 * DAY_MS,
            secret="Sx-VERBOSE-SECRET-" + "4e1f9b27",
            passphrase="Px-VERBOSE-PASS-" + "b8c03d5a",
        )
    )
    v1 = sandbox.add_key(
        make_key(key_version=1, secret="Sx-V1-SECRET-" + "0d2a7c", passphrase="Px-V1-PASS-" + "93e1f0")
    )
    creds = {
        "good": {
            "api_key": good.api_key,
            "api_secret": good.secret,
            "api_passphrase": good.passphrase,
            "key_version": 2,
        },
        "v1": {"api_key": v1.api_key, "api_secret": v1.secret, "api_passphrase": v1.passphrase},
        "spot_url": sandbox.spot_url,
        "futures_url": sandbox.futures_url,
    }
    run = run_verbose(tmp_path, creds)
    assert run.returncode == 0, str(run)
    output = run.output
    # The run did what the test is about: one success (with a warning), three diagnosed failures.
    assert "ok=" in output
    assert "ignored=3" in output, str(run)
    assert "400004" in output
    assert "400005" in output
    assert "lacks the Futures permission" in output  # KuCoin said 400007; the key info says why
    assert "days old" in output
    assert "clock_skew_ms" in output, "the module's full results were printed"
    if '"invocation"' in output:
        # Cores before 2.21 also print each task's module arguments at -vvvv, the secret ones masked.
        assert output.count("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") >= 12, "four tasks, three secret options each"
    forbidden = {
        "secret": good.secret,
        "passphrase": good.passphrase,
        "passphrase HMAC": hmac_base64(good.secret, good.passphrase),
        "wrong passphrase": good.passphrase + "-wrong",
        "wrong passphrase HMAC": hmac_base64(good.secret, good.passphrase + "-wrong"),
        "v1 secret": v1.secret,
        "v1 passphrase": v1.passphrase,
        "v1 passphrase HMAC": hmac_base64(v1.secret, v1.passphrase),
        "whole api key": good.api_key,
    }
    for what, value in forbidden.items():
        assert value not in output, f"the {what} appears in the -vvvv output"
    # Distinctive fragments too, in case something printed part of a value.
    for fragment in ("VERBOSE-SECRET", "VERBOSE-PASS", "V1-SECRET", "V1-PASS"):
        assert fragment not in output, fragment


def test_defaults_refuse_what_a_trading_bot_must_not_have(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    """key_check with its own defaults (only credentials and URLs given), as a new user runs it."""
    add = sandbox.add_key
    transfer = add(make_key(permissions=("General", "Spot", "Transfer")))
    inner = add(make_key(permissions=("General", "Spot", "InnerTransfer")))
    general = add(make_key(permissions=("General",)))
    spot = add(make_key(permissions=("General", "Spot")))
    v3 = add(make_key(key_version=3, permissions=("General", "Spot")))
    v2 = add(make_key(key_version=2, permissions=("General", "Spot")))
    pinned = add(make_key(permissions=("General", "Spot"), ip_whitelist=("10.1.2.3", "127.0.0.1")))
    novel = add(make_key(permissions=("General", "Spot", "Options")))

    def case(name: str, key: Any, **extra: Any) -> dict[str, Any]:
        args = {"api_key": key.api_key, "api_secret": key.secret, "api_passphrase": key.passphrase}
        return {"name": name, "args": {**args, "base_url": sandbox.spot_url, **extra}}

    futures = {"api": "futures", "base_url": sandbox.futures_url, "key_info_url": sandbox.spot_url}
    out = run_cases(
        [
            case("Transfer", transfer),
            case("InnerTransfer", inner),
            case("General only, spot bot", general),
            case("General and Spot, futures bot", spot, **futures),
            case("version 3, key_version left out", v3),
            case("version 2, key_version left out", v2),
            case("masked whitelist covering this host", pinned, whitelist_addresses=["127.0.0.1"]),
            case("masked whitelist not covering", pinned, whitelist_addresses=["127.0.0.2"]),
            case("unknown permission", novel),
        ],
        tmp_path,
    )

    def refused(name: str, *words: str) -> Outcome:
        outcome = out[name]
        assert outcome.failed, str(outcome)
        assert outcome.result["valid"] is False
        assert (outcome.result["kucoin_code"], outcome.result["http_status"]) == (None, 200), str(outcome)
        for word in words:
            assert word in outcome.msg, f"{name}: {word!r} not in {outcome.msg!r}"
        return outcome

    refused("Transfer", "has the Transfer permission", "withdraw", "API management page", "untick Transfer")
    refused("InnerTransfer", "has the InnerTransfer permission", "API management page", "untick InnerTransfer")
    refused("General only, spot bot", "lacks the Spot permission", "tick Spot")
    refused("General and Spot, futures bot", "lacks the Futures permission", "futures bot", "tick Futures")
    for name in ("version 3, key_version left out", "version 2, key_version left out"):
        outcome = out[name]
        assert not outcome.failed, str(outcome)
        assert outcome.result["key_version"] == 3
        assert outcome.warnings == [], "no warning about key versions 2 and 3"
        assert outcome.result["service_status"] == "open"
    covered = out["masked whitelist covering this host"]
    assert not covered.failed, str(covered)
    assert covered.result["ip_whitelist"] == ["10.**.3", "127.**.1"], "returned as KuCoin gives them"
    refused("masked whitelist not covering", "does not cover 127.0.0.2", "127.**.1")
    novel_outcome = out["unknown permission"]
    assert not novel_outcome.failed, str(novel_outcome)
    assert any("does not know: Options" in w for w in novel_outcome.warnings)


def test_service_status_warns_or_fails(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    key = sandbox.add_key(make_key(permissions=("General", "Futures")))
    sandbox.set_service_status("close", "maintenance", listener="futures")
    futures = {"api": "futures", "base_url": sandbox.futures_url, "key_info_url": sandbox.spot_url}
    out = run_cases(
        [
            {"name": "warns", "args": key_args(key, sandbox, **futures)},
            {"name": "fails", "args": key_args(key, sandbox, require_service_open=True, **futures)},
        ],
        tmp_path,
    )
    assert not out["warns"].failed, str(out["warns"])
    assert out["warns"].result["service_status"] == "close"
    assert any("futures service as 'close' (maintenance)" in w for w in out["warns"].warnings)
    assert out["fails"].failed
    assert "require_service_open" in out["fails"].msg
    assert {(r.listener, r.path) for r in sandbox.requests if r.path == "/api/v1/status"} == {
        ("futures", "/api/v1/status")
    }


def test_a_trickling_server_fails_within_the_documented_bound(sandbox: KucoinSandbox, tmp_path: Path) -> None:
    """Every answer arrives one byte a second: each read is quick, so only a deadline on whole calls ends it."""
    from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import CHECK_TIMEOUT_FACTOR

    key = sandbox.add_key(make_key())
    trickled = sandbox.add_key(make_key())
    sandbox.set_faults(trickled.api_key, trickle_ms=1000)  # its signed call; then every call, server-wide
    timeout = 3.0
    timed = [
        {"name": "baseline", "args": key_args(key, sandbox, timeout=timeout)},
        {"name": "key info trickles", "args": key_args(trickled, sandbox, timeout=timeout)},
    ]
    out = run_cases([], tmp_path, timed=timed)
    sandbox.set_faults(trickle_ms=1000)
    everything = run_cases(
        [], tmp_path, timed=[{"name": "all trickle", "args": key_args(key, sandbox, timeout=timeout)}]
    )
    bound = CHECK_TIMEOUT_FACTOR * timeout  # documented: the whole check ends within 3 x timeout
    for name, outcome in (("key info trickles", out["key info trickles"]), ("all trickle", everything["all trickle"])):
        assert outcome.failed, str(outcome)
        assert f"did not answer within {timeout:g} seconds" in outcome.msg, str(outcome)
        # Beyond what the task takes against a prompt server (Ansible's own overhead, which a busy machine
        # stretches): within the documented bound; a few hundred bytes at one a second would take minutes.
        extra = overrun({**out, name: outcome}, name)
        assert extra < bound, f"{name}: {extra:.1f} s more than with a prompt server; documented bound {bound:g} s"
