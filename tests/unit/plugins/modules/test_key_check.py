"""The module entry point: options as documented, Ansible-shaped results, no secret in any exit."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import CheckOutcome, CheckRequest
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import hmac_base64
from ansible_collections.tradebot.kucoin.plugins.modules import key_check
from unit.plugins.modules.runner import run_module as run_in_process

from ..module_docs import documented_options

SECRET = "secret-MODULE-0c4e9a"
PASSPHRASE = "pass-MODULE-31d7"
API_KEY = "65a1b2c3d4e5f60718293a4b"
ARGS = {"api_key": API_KEY, "api_secret": SECRET, "api_passphrase": PASSPHRASE}


def run_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: dict[str, Any]) -> dict:
    return run_in_process(monkeypatch, capsys, key_check.main, args)


def fake_check(outcome: CheckOutcome, seen: list[CheckRequest]) -> Any:
    def run(request: CheckRequest, **_kwargs: Any) -> CheckOutcome:
        seen.append(request)
        return outcome

    return run


def base_result(**overrides: Any) -> dict[str, Any]:
    result = {"valid": True, "api_key": "65a1…4b", "key_version": 2, "permissions": ["General"], "warnings": []}
    result.update(overrides)
    return result


def test_documented_options_match_the_argument_spec() -> None:
    documented = documented_options(key_check.DOCUMENTATION)
    assert set(documented) == set(key_check.ARGUMENT_SPEC)
    for name, spec in key_check.ARGUMENT_SPEC.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert doc.get("elements") == spec.get("elements"), name
        assert bool(doc.get("required")) == bool(spec.get("required")), name
    assert {n for n, s in key_check.ARGUMENT_SPEC.items() if s.get("no_log")} == {
        "api_key",
        "api_secret",
        "api_passphrase",
    }
    for section in ("EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(key_check, section))


def test_missing_httpx_fails_with_ansibles_message(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(key_check, "HTTPX_IMPORT_ERROR", "Traceback: No module named 'httpx'")
    out = run_module(monkeypatch, capsys, ARGS)
    assert out["failed"] is True
    assert "Failed to import the required Python library (httpx)" in out["msg"]


def test_success_in_check_mode_is_unchanged_and_carries_warnings(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    seen: list[CheckRequest] = []
    outcome = CheckOutcome(base_result(warnings=["the key is 120 days old"]), failed=False)
    monkeypatch.setattr(key_check, "run_key_check", fake_check(outcome, seen))
    out = run_module(monkeypatch, capsys, {**ARGS, "_ansible_check_mode": True, "api": "futures"})
    assert out["changed"] is False
    assert out.get("failed", False) is False
    assert out["valid"] is True
    assert out["policy_warnings"] == ["the key is 120 days old"]
    # Also given as Ansible warnings. Once controller code is loaded in this process (other unit tests),
    # ansible-core 2.19+ routes them to its display instead of the result, so only check them when present.
    if "warnings" in out:
        # 2.19+ sends them to the controller as structured events; older cores as strings.
        shown = [w["event"]["msg"] if isinstance(w, dict) else w for w in out["warnings"]]
        assert shown == ["the key is 120 days old"]
    request = seen[0]
    assert request.api == "futures"
    assert request.credentials.key_version == 3
    assert request.resolved_base_url == "https://api-futures.kucoin.com"
    assert request.resolved_key_info_url == "https://api.kucoin.com"
    # The safe defaults: the futures trade permission is needed, money-moving permissions are refused.
    assert request.policy.needed_permissions() == ["Futures"]
    assert request.policy.refused_permissions() == {"transfer", "innertransfer", "withdrawal"}
    assert request.require_service_open is False
    assert request.policy.max_clock_skew == 2.0


def test_failure_reports_code_status_and_diagnosis_as_msg(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    diagnosis = "KuCoin code 400005 (HTTP 401) from x: KuCoin rejected the signature; copy the secret again"
    result = base_result(valid=False, kucoin_code="400005", http_status=401, diagnosis=diagnosis)
    monkeypatch.setattr(key_check, "run_key_check", fake_check(CheckOutcome(result, failed=True), []))
    out = run_module(monkeypatch, capsys, ARGS)
    assert out["failed"] is True
    assert out["changed"] is False
    assert out["msg"] == out["diagnosis"] == diagnosis
    assert (out["kucoin_code"], out["http_status"]) == ("400005", 401)


def test_an_unexpected_error_is_one_scrubbed_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    hmac_form = hmac_base64(SECRET, PASSPHRASE)

    def explode(request: CheckRequest, **_kwargs: Any) -> CheckOutcome:
        raise RuntimeError(f"boom {SECRET} {PASSPHRASE} {hmac_form}")

    monkeypatch.setattr(key_check, "run_key_check", explode)
    out = run_module(monkeypatch, capsys, ARGS)
    text = json.dumps(out)
    assert out["failed"] is True
    assert "RuntimeError: boom" in out["msg"]
    for secret in (SECRET, PASSPHRASE, hmac_form, API_KEY):
        assert secret not in text
    assert "Traceback" not in text


def test_escaped_forms_of_the_secrets_are_masked_too(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    # An HTTP library quotes a refused header value with its escapes: b'pass-...\\n', not the raw newline.
    v1_passphrase = f"{PASSPHRASE}\n"
    outcome = CheckOutcome(
        base_result(valid=False, kucoin_code=None, http_status=None, diagnosis=f"failed: {v1_passphrase.encode()!r}"),
        failed=True,
    )
    monkeypatch.setattr(key_check, "run_key_check", fake_check(outcome, []))
    proxy = "http://user:p%40ss-PROXY-8c1@proxy.test:3128"
    out = run_module(monkeypatch, capsys, {**ARGS, "api_passphrase": v1_passphrase, "key_version": 1, "proxy": proxy})
    text = json.dumps(out)
    assert out["failed"] is True
    assert PASSPHRASE not in text
    assert "ss-PROXY-8c1" not in text


def test_nonsense_limits_are_refused(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    out = run_module(monkeypatch, capsys, {**ARGS, "timeout": 0})
    assert out["failed"] is True
    assert "greater than 0" in out["msg"]


def test_unknown_key_version_is_refused_by_the_argument_spec(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    out = run_module(monkeypatch, capsys, {**ARGS, "key_version": 4})
    assert out["failed"] is True
    assert "key_version" in out["msg"]
