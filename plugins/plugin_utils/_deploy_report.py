# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a deploy did, per host and strategy: the role's report, the fleet summary and its JSON form.

Nothing here sees a secret value except API keys, which leave only masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import mask_api_key

REPORT_VERSION = 1

# The key check's option names as the role calls them, for errors that name an option. The role passes
# bot_host_kucoin_base_url as the key info URL, and the futures base URL as base_url for futures strategies.
_ROLE_OPTION_NAMES = {
    "spot": {"key_info_url": "bot_host_kucoin_base_url", "base_url": "bot_host_kucoin_base_url"},
    "futures": {"key_info_url": "bot_host_kucoin_base_url", "base_url": "bot_host_kucoin_futures_base_url"},
}
_PASSED_THROUGH = ("proxy", "ca_path", "timeout", "validate_certs", "expected_sub_account")
_OPTION = re.compile(r"(?<![\w.])(" + "|".join(("key_info_url", "base_url", *_PASSED_THROUGH)) + r")(?!\w)")


def role_wording(reason: str, api: str) -> str:
    """A key check diagnosis with the module's options named as the role's variables."""
    names = {**{o: f"bot_host_key_check_{o}" for o in _PASSED_THROUGH}, **_ROLE_OPTION_NAMES.get(api, {})}
    if api not in _ROLE_OPTION_NAMES:
        names.update(_ROLE_OPTION_NAMES["spot"])
    out = _OPTION.sub(lambda m: names[m.group(1)], reason)
    if api == "futures" and "key_info_url" in reason:
        out += " (the key check reads the key's details from the spot API, bot_host_kucoin_base_url, for futures too)"
    # Two options the role sets from one variable would otherwise be named twice in a row.
    for variable in set(names.values()):
        out = out.replace(f"{variable} and {variable}", variable).replace(f"{variable}, {variable}", variable)
    return out


def key_check_skip_reason(
    enabled: bool,
    dry_fresh: bool,
    run_tags: Sequence[str],
    skip_tags: Sequence[str],
) -> str:
    """Why the key check did not run on a host ('' when it was meant to run)."""
    if not enabled:
        return "bot_host_key_check is false"
    tags = set(run_tags or ["all"])
    if "credentials" in set(skip_tags or []) or not tags & {"all", "credentials", "always"}:
        return "the credentials tag was not selected (--tags/--skip-tags)"
    if dry_fresh:
        return "check mode on a host that lacks the packages the key check needs"
    return ""


def _changes(name: str, facts: Mapping[str, Any], check_mode: bool) -> list[str]:
    changed = facts.get("changed") or {}
    items = [label for key, label in _CHANGE_LABELS if name in (changed.get(key) or [])]
    items += [label for key, label in _HOST_CHANGE_LABELS if changed.get(key)]
    if name in (facts.get("restarted") or []):
        items.append("would restart" if check_mode else "restarted")
    return items


_CHANGE_LABELS = (("env_file", "environment file"), ("credentials", "credentials"), ("drop_in", "unit drop-in"))
_HOST_CHANGE_LABELS = (("unit", "unit template"), ("program", "program files"))


def _vault_source(creds: Any) -> dict[str, Any] | None:
    source = creds.get("vault") if isinstance(creds, Mapping) else None
    if not isinstance(source, Mapping):
        return None
    return {"mount": source.get("mount"), "path": source.get("path"), "version": source.get("version")}


def _mask(value: Any) -> str:
    return mask_api_key(str(value)) if value else ""


def host_report(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The role's bot_host_report from the facts its tasks registered on one host.

    facts: strategies (the host's normalised list), settled (present strategies with api and base_url),
    key_checks (name -> the secret-free part of each key check), held (names whose check failed),
    key_check (enabled, dry_fresh, run_tags, skip_tags), changed (env_file, credentials, drop_in: names;
    unit, program: bools), restarted (names), removed, stopped (names), credentials (name -> the lookup's
    result; only the API key, masked, and the Vault source are kept), old_api_keys (name -> the key the
    environment file held before), check_mode, clock_offset, time_source.
    """
    check_mode = bool(facts.get("check_mode"))
    key_checks = facts.get("key_checks") or {}
    held = list(facts.get("held") or [])
    creds = facts.get("credentials") or {}
    old_keys = old_api_keys(facts.get("old_api_keys") or [], str(facts.get("api_key_variable") or "KUCOIN_API_KEY"))
    gate = facts.get("key_check") or {}
    skip_reason = key_check_skip_reason(
        bool(gate.get("enabled", True)),
        bool(gate.get("dry_fresh")),
        gate.get("run_tags") or ["all"],
        gate.get("skip_tags") or [],
    )
    strategies: dict[str, dict[str, Any]] = {}
    for item in facts.get("settled") or []:
        name = item["name"]
        api = item.get("api") or "spot"
        check = key_checks.get(name)
        own = creds.get(name) if isinstance(creds, Mapping) else None
        new_key = _mask(own.get("api_key")) if isinstance(own, Mapping) else ""
        entry: dict[str, Any] = {
            "api": api,
            "secret_delivery": item.get("secret_delivery", "environment"),
            "state": "present",
            "key_checked": check is not None,
            "key_valid": bool(check.get("valid")) if check is not None else None,
            "key_check_skipped": "" if check is not None else (skip_reason or "not run"),
            "api_key": (check or {}).get("api_key") or new_key,
            "vault": _vault_source(own),
            "permissions": list((check or {}).get("permissions") or []),
            "ip_whitelist": list((check or {}).get("ip_whitelist") or []),
            "key_age_days": (check or {}).get("age_days"),
            "warnings": list((check or {}).get("warnings") or []),
        }
        if check is not None and check.get("service_status") is not None:
            entry["service_status"] = check["service_status"]
        if name in held:
            reason = role_wording(str((check or {}).get("msg") or "the key check failed"), api)
            entry.update(outcome="failed", reason=f"key check: {reason}", changed=[])
        else:
            entry["changed"] = _changes(name, facts, check_mode)
            entry["outcome"] = ("would change" if check_mode else "changed") if entry["changed"] else "unchanged"
            entry["reason"] = ""
        old = old_keys.get(name)
        if old and new_key and _mask(old) != new_key and name not in held:
            entry["key_change"] = {"old": _mask(old), "new": new_key}
        strategies[name] = entry
    for name in facts.get("stopped") or []:
        strategies[name] = {
            "state": "stopped",
            "outcome": "stopped",
            "changed": [],
            "reason": "",
            "key_checked": False,
            "key_check_skipped": "the strategy is stopped",
        }
    report = {
        "clock_offset": facts.get("clock_offset"),
        "time_source": facts.get("time_source"),
        "check_mode": check_mode,
        "strategies": strategies,
        "removed": list(facts.get("removed") or []),
        "failed": bool(held),
        "failure": failure_message(strategies, check_mode) if held else "",
    }
    return report


def failure_message(strategies: Mapping[str, Mapping[str, Any]], check_mode: bool) -> str:
    """One line: which strategies failed and why, that they were left alone, and what else happened."""
    failed = [(name, s) for name, s in strategies.items() if s.get("outcome") == "failed"]
    others = [(name, s) for name, s in strategies.items() if s.get("outcome") != "failed"]
    parts = [f"{name}: {s.get('reason')}" for name, s in failed]
    names = ", ".join(name for name, _entry in failed)
    parts.append(
        f"{names} left as {'it was' if len(failed) == 1 else 'they were'} (no file written, bot not restarted)"
    )
    done = [
        f"{name} ({'would change: ' if check_mode else 'changed: '}{', '.join(s['changed'])})"
        for name, s in others
        if s.get("changed")
    ]
    same = [name for name, s in others if not s.get("changed")]
    if done:
        parts.append(("would update " if check_mode else "updated ") + ", ".join(done))
    if same:
        parts.append("unchanged " + ", ".join(same))
    return "; ".join(parts)


def old_api_keys(lines: Sequence[str] | Mapping[str, str], variable: str) -> dict[str, str]:
    """Strategy name -> API key, from `grep -H '^VARIABLE='` over the strategies' environment files."""
    if isinstance(lines, Mapping):
        return dict(lines)
    keys: dict[str, str] = {}
    prefix = f"{variable}="
    for line in lines:
        path, _colon, assignment = line.partition(":")
        name = path.rsplit("/", 1)[-1]
        if not name.endswith(".env") or not assignment.startswith(prefix):
            continue
        value = assignment[len(prefix) :]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            # The env_file_quote form: only backslash and double quote are escaped.
            value = re.sub(r'\\([\\"])', r"\1", value[1:-1])
        keys[name[: -len(".env")]] = value
    return keys


def _get(vars_of_host: Any, name: str) -> Any:
    try:
        value = vars_of_host.get(name)
    except Exception:  # a hostvars entry that cannot be templated is as good as absent
        return None
    return value


def halted(hostvars: Mapping[str, Any], hosts: Sequence[str]) -> list[str]:
    """Hosts of an earlier serial batch that failed entirely ([] when the rollout may go on).

    Ansible stops a serial rollout when every host of a batch fails; the deploy playbook rescues failures so
    that its summary still runs, and stops the rollout itself with this.
    """
    batches: dict[tuple[str, ...], list[bool]] = {}
    for host in hosts:
        own = hostvars.get(host) if hasattr(hostvars, "get") else None
        batch = _get(own, "_deploy_batch") if own is not None else None
        if not batch:
            continue
        batches.setdefault(tuple(batch), []).append(bool(_get(own, "_deploy_failure")))
    for batch, failures in batches.items():
        if failures and len(failures) == len(batch) and all(failures):
            return list(batch)
    return []


def _strategy_line(name: str, s: Mapping[str, Any], check_mode: bool) -> str:
    if s.get("state") == "stopped":
        return f"  {name}: stopped and disabled, files kept"
    head = f"  {name} ({s.get('api')}, secrets in {s.get('secret_delivery')}): "
    if s.get("key_checked"):
        key = "key valid" if s.get("key_valid") else "key INVALID"
    else:
        key = f"key not checked ({s.get('key_check_skipped') or 'not run'})"
    if s.get("api_key"):
        key += f" {s['api_key']}"
    details = []
    if s.get("key_checked") and s.get("key_valid"):
        age = s.get("key_age_days")
        details.append(f"permissions {'+'.join(s.get('permissions') or []) or 'none'}")
        details.append(f"key age {age if age is not None else '?'} d")
        details.append(f"IP whitelist {' '.join(s.get('ip_whitelist') or []) or 'none'}")
    if s.get("key_checked"):
        details.append(f"KuCoin service {s.get('service_status') or '?'}")
    vault = s.get("vault") or {}
    if vault.get("path"):
        version = vault.get("version")
        details.append(f"Vault {vault.get('mount')}/{vault['path']}" + (f" v{version}" if version is not None else ""))
    line = head + ", ".join([key, *details])
    if s.get("outcome") == "failed":
        return f"{line}; FAILED, left as it was: {s.get('reason')}"
    change = s.get("key_change")
    if change:
        line += f"; key {'would change' if check_mode else 'changed'} {change['old']} -> {change['new']}"
    changed = s.get("changed") or []
    line += f"; {('would change: ' if check_mode else 'changed: ') + ', '.join(changed) if changed else 'unchanged'}"
    for warning in s.get("warnings") or []:
        line += f"; WARNING: {warning}"
    return line


def _host_lines(host: str, entry: Mapping[str, Any], check_mode: bool) -> list[str]:
    report = entry.get("report")
    if entry["status"] == "not attempted":
        return [f"{host}: not deployed - {entry['reason']}"]
    if report is None:
        return [f"{host}: FAILED - {entry['reason']}"]
    offset = report.get("clock_offset")
    try:
        clock = f"clock offset {float(offset):+.6f} s" if offset not in (None, "") else "clock offset not measured"
    except (TypeError, ValueError):
        clock = "clock offset not measured"
    if report.get("time_source"):
        clock += f" against {report['time_source']}"
    first = f"{host}: {clock}"
    if entry["status"] == "failed":
        first = f"{host}: FAILED - {entry['reason']} ({clock})"
    lines = [first]
    lines += [_strategy_line(name, s, check_mode) for name, s in (report.get("strategies") or {}).items()]
    verb = (
        "would be removed (stopped, disabled, files deleted)"
        if check_mode
        else "removed (stopped, disabled, files deleted)"
    )
    lines += [f"  {name}: {verb}" for name in report.get("removed") or []]
    return lines


def fleet_summary(hostvars: Mapping[str, Any], hosts: Sequence[str], check_mode: bool = False) -> dict[str, Any]:
    """Every host's outcome: lines to print, a JSON-ready report, and the failed hosts with their reasons."""
    entries: dict[str, dict[str, Any]] = {}
    for host in hosts:
        own = hostvars.get(host) if hasattr(hostvars, "get") else None
        report = _get(own, "bot_host_report") if own is not None else None
        failure = _get(own, "_deploy_failure") if own is not None else None
        skipped = _get(own, "_deploy_not_attempted") if own is not None else None
        report = dict(report) if isinstance(report, Mapping) else None
        if skipped:
            entries[host] = {"status": "not attempted", "reason": str(skipped), "report": report}
            continue
        if isinstance(failure, Mapping) or (report or {}).get("failed"):
            reason = (report or {}).get("failure") or _failure_reason(failure or {})
            entries[host] = {"status": "failed", "reason": reason, "report": report}
        elif report is None:
            entries[host] = {"status": "failed", "reason": "unreachable or stopped before the role ran", "report": None}
        else:
            entries[host] = {"status": "ok", "reason": "", "report": report}
    lines = [line for host, entry in entries.items() for line in _host_lines(host, entry, check_mode)]
    failed = {host: e["reason"] for host, e in entries.items() if e["status"] == "failed"}
    return {
        "lines": lines,
        "failed_hosts": failed,
        "report": {
            "version": REPORT_VERSION,
            "check_mode": check_mode,
            "ok": not failed,
            "hosts": {
                host: {
                    "status": e["status"],
                    "reason": e["reason"],
                    **{k: v for k, v in (e["report"] or {}).items() if k not in ("failed", "failure")},
                }
                for host, e in entries.items()
            },
        },
    }


def _failure_reason(failure: Mapping[str, Any]) -> str:
    msg = " ".join(str(failure.get("msg") or "no message").split())
    task = failure.get("task")
    return f"{msg} (at task '{task}'; the role's later steps did not run on this host)" if task else msg
