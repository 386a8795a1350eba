# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key rotation (the rotate_keys playbook): which strategies a run covers, whether a bot runs on a given key,
and what each strategy's rotation did, as summary lines and a JSON-ready report.

Nothing here returns a secret, and API keys leave only masked. Module results are read by field name and never
echoed whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_check import mask_api_key
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._deploy_report import old_api_keys
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._strategies import normalise

REPORT_VERSION = 1
DEFAULT_AFTER_DAYS = 80
# KuCoin allows a remark of 1 to 24 characters on a sub-account key.
REMARK_LIMIT = 24
# The trade permission each api needs; the new key gets exactly these (General is KuCoin's read right).
TRADE_PERMISSIONS = {"spot": "Spot", "futures": "Futures"}

# Outcomes, from the operator's point of view.
ROTATED = "rotated"
NOT_DUE = "not due"
WOULD_ROTATE = "would rotate"
SKIPPED = "skipped"
ROLLED_BACK = "rolled back"  # the rotation failed; everything is as it was before the run
FAILED = "failed"  # the rotation failed before it changed anything
ATTENTION = "needs attention"  # consistent for the bot, but something is left for the operator
NOT_ATTEMPTED = "not attempted"
FAILING = (ROLLED_BACK, FAILED, ATTENTION, NOT_ATTEMPTED)


class RotationError(ValueError):
    """A rotation request that cannot run; the message says what to change."""


@dataclass(frozen=True)
class PlanSettings:
    after_days: int = DEFAULT_AFTER_DAYS
    named: tuple[str, ...] = ()
    allow_any_ip: bool = False


def parse_named(value: Any) -> tuple[str, ...]:
    """rotate_strategies as given on the command line: "a,b", a list, or nothing."""
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def _place(strategy: Mapping[str, Any]) -> str:
    return f"{strategy['host']}/{strategy['name']}"


def _whitelist(strategy: Mapping[str, Any], host_vars: Mapping[str, Any]) -> list[str]:
    """The new key's IP whitelist: the strategy's key_check.whitelist_addresses, else the host's
    rotate_ip_whitelist, else its bot_host_key_check_whitelist_addresses."""
    for value in (
        (strategy.get("key_check") or {}).get("whitelist_addresses"),
        host_vars.get("rotate_ip_whitelist"),
        host_vars.get("bot_host_key_check_whitelist_addresses"),
    ):
        if value:
            return [str(v) for v in ([value] if isinstance(value, str) else value)]
    return []


def _permissions(strategy: Mapping[str, Any], api: str) -> list[str]:
    permissions = ["General", TRADE_PERMISSIONS.get(api, "Spot")]
    if strategy.get("margin"):
        permissions.append("Margin")
    return permissions


def targets(
    hostvars: Mapping[str, Mapping[str, Any]], group: Sequence[str], hosts: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The present strategies of `hosts` (default: all of `group`), each with its host.

    Every host of the group is checked with the strategy model, as deploy_bot's preflight does, so that a
    broken list elsewhere fails here too and not in the middle of a rotation.
    """
    wanted = set(group if hosts is None else hosts)
    found: list[dict[str, Any]] = []
    for host in group:
        own = hostvars.get(host) or {}
        strategies = normalise(
            own.get("bot_host_strategies"), host=str(host), legacy=own.get("kucoin_strategies"), require_vault_path=True
        )
        if host in wanted:
            found += [{**s, "host": host} for s in strategies if s["state"] == "present"]
    return found


def _skip_reason(strategy: Mapping[str, Any]) -> str:
    vault = strategy.get("vault") or {}
    if vault.get("version") is not None:
        return f"pinned to Vault version {vault['version']} (vault.version); unpin it to rotate"
    if vault.get("kv_version") == 1:
        return "its secret is in a KV version 1 engine, which keeps no versions; rotation needs KV version 2"
    return ""


def plan(
    targets: Sequence[Mapping[str, Any]],
    host_vars: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]] | None = None,
    settings: PlanSettings | None = None,
) -> list[dict[str, Any]]:
    """One entry per present strategy with a sub_account: the subaccount_api_key options for it, or why not.

    targets: present strategies (bot_strategies' form) with their `host`. host_vars: host -> its variables.
    current: "host/name" -> the strategy's credentials from Vault (only `api` and `api_key` are read).
    """
    settings = settings or PlanSettings()
    current = current or {}
    rotatable = [s for s in targets if s.get("sub_account")]
    names = {s["name"] for s in rotatable} | {_place(s) for s in rotatable}
    unknown = [n for n in settings.named if n not in names]
    if unknown:
        without = sorted({_place(s) for s in targets if s["name"] in unknown or _place(s) in unknown})
        hint = f" ({', '.join(without)} {'has' if len(without) == 1 else 'have'} no sub_account)" if without else ""
        raise RotationError(
            f"rotate_strategies names {', '.join(unknown)}, which is no present strategy with a sub_account{hint}; "
            f"rotatable: {', '.join(sorted(_place(s) for s in rotatable)) or 'none'}"
        )
    entries = []
    for strategy in rotatable:
        place = _place(strategy)
        creds = current.get(place) or {}
        api = str(strategy.get("api") or creds.get("api") or "spot")
        whitelist = _whitelist(strategy, host_vars.get(strategy["host"]) or {})
        vault = {k: v for k, v in (strategy.get("vault") or {}).items() if k not in ("version", "kv_version")}
        entry: dict[str, Any] = {
            "host": strategy["host"],
            "name": strategy["name"],
            "sub_account": strategy["sub_account"],
            "api": api,
            "vault_path": strategy.get("vault_path"),
            "vault": {"path": strategy.get("vault_path"), **vault},
            "permissions": _permissions(strategy, api),
            "ip_whitelist": whitelist,
            "allow_any_ip": settings.allow_any_ip,
            "rotate": strategy["name"] in settings.named or place in settings.named,
            "max_age_days": settings.after_days,
            "remark": f"tradebot {strategy['name']}"[:REMARK_LIMIT],
            # Masked: the plan is a fact, which Ansible prints at -v.
            "current_key": _mask(creds.get("api_key")),
            "skip": _skip_reason(strategy),
            "error": "",
        }
        if not entry["skip"] and not whitelist and not settings.allow_any_ip:
            entry["error"] = (
                "no IP whitelist for the new key: set rotate_ip_whitelist (the host's public addresses) or "
                "bot_host_key_check_whitelist_addresses for the host, or key_check.whitelist_addresses for the "
                "strategy (rotate_allow_any_ip: true allows any address, which KuCoin advises against)"
            )
        entries.append(entry)
    return entries


# --- what a bot runs with --------------------------------------------------------------------------------


def _unit_blocks(text: str) -> tuple[int | None, dict[str, dict[str, str]]]:
    """`date +%s` then `systemctl show --timestamp=unix` output: (now, unit Id -> properties)."""
    lines = text.strip().splitlines()
    now = None
    if lines and lines[0].strip().isdigit():
        now = int(lines.pop(0).strip())
    units: dict[str, dict[str, str]] = {}
    for block in "\n".join(lines).split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("Id"):
            units[fields["Id"]] = fields
    return now, units


def _since(value: str | None) -> int | None:
    """A `--timestamp=unix` value ("@1764665401") as seconds; None when unset."""
    if not value or not value.startswith("@"):
        return None
    try:
        return int(float(value[1:]))
    except ValueError:
        return None


def running(
    expected: Mapping[str, str],
    units_text: str,
    state_json: str,
    env_lines: Sequence[str],
    api_key_variable: str = "KUCOIN_API_KEY",
    settle_seconds: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per strategy: whether its bot runs on the expected API key.

    expected: strategy -> the API key it should run on. units_text: `date +%s` and `systemctl show
    --timestamp=unix -p Id,ActiveState,SubState,ActiveEnterTimestamp` of the units. state_json: the role's
    bot-state `status` answer ({"stale": {strategy: why}}). env_lines: `grep -H '^KUCOIN_API_KEY='` over the
    environment files. A bot runs on the key when its environment file names it, the unit is active and has
    been for settle_seconds, and it started with the files now on disk.
    Returns strategy -> {running: bool, settling: bool, on_file: bool, reason: str} (no key in clear).
    """
    now, units = _unit_blocks(units_text)
    try:
        stale = dict((json.loads(state_json or "{}") or {}).get("stale") or {})
    except ValueError:
        stale = {}
        state_unknown = True
    else:
        state_unknown = not state_json
    on_disk = old_api_keys(list(env_lines), api_key_variable)
    out: dict[str, dict[str, Any]] = {}
    for name, key in expected.items():
        unit = units.get(f"kucoin-bot@{name}.service", {})
        active = unit.get("ActiveState") == "active" and unit.get("SubState", "running") == "running"
        since = _since(unit.get("ActiveEnterTimestamp"))
        up_for = (now - since) if (now is not None and since is not None) else None
        on_file = bool(key) and on_disk.get(name) == key
        reason = ""
        # Whatever the files say: the wait before the verdict polls on this alone.
        settling = bool(active and settle_seconds and (up_for is None or up_for < settle_seconds))
        if not on_file:
            found = on_disk.get(name)
            reason = f"its environment file names key {mask_api_key(found)}" if found else "no environment file"
        elif not active:
            state = unit.get("ActiveState") or "unknown"
            sub = unit.get("SubState")
            reason = f"the unit is {state}" + (f" ({sub})" if sub and sub != state else "")
        elif state_unknown:
            reason = "what the bot started with could not be read"
        elif name in stale:
            reason = f"the bot {stale[name]}"
        elif settling:
            reason = f"running for {up_for if up_for is not None else '?'} s, less than {settle_seconds} s"
        out[name] = {"running": not reason, "settling": settling, "on_file": on_file, "reason": reason}
    return out


# --- the summary -----------------------------------------------------------------------------------------


def _mask(value: Any) -> str:
    return mask_api_key(str(value)) if value else "none"


def _results(registered: Any) -> dict[str, Mapping[str, Any]]:
    """A looped task's results by the strategy name in each item."""
    found: dict[str, Mapping[str, Any]] = {}
    if not isinstance(registered, Mapping):
        return found
    for result in registered.get("results") or []:
        item = result.get("item") if isinstance(result, Mapping) else None
        if isinstance(item, Mapping) and item.get("name"):
            found[str(item["name"])] = result
    return found


def _failed(result: Mapping[str, Any] | None) -> bool:
    """The playbook registers with failed_when: false (which clears `failed`); the module's `error` stays."""
    return bool(result) and bool(result.get("failed") or result.get("error"))


# A word as long as an API key (KuCoin's are 24 characters): the module's messages name keys in full.
_KEY_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{20,}(?![0-9A-Za-z])")


def _msg(result: Mapping[str, Any] | None) -> str:
    """The module's one-line message with every API key masked, as the rest of the summary shows keys."""
    text = " ".join(str((result or {}).get("msg") or "no message").split())
    return _KEY_LIKE.sub(lambda match: mask_api_key(match.group(0)), text)[:400]


def _age(value: Any) -> str:
    return f"{value} d" if isinstance(value, (int, float)) and not isinstance(value, bool) else "? d"


@dataclass
class Outcome:
    outcome: str
    what: str
    old_key: str = "none"
    new_key: str = "none"
    old_age: Any = None
    new_age: Any = None
    vault_version: Any = None
    leftover: str = ""  # a key left at KuCoin that the operator should delete (masked)


def _why_not_running(name: str, facts: Mapping[str, Any]) -> str:
    report = ((facts.get("report") or {}).get("strategies") or {}).get(name) or {}
    if report.get("outcome") == "failed" and report.get("reason"):
        return str(report["reason"])
    failure = facts.get("deploy_failure")
    if isinstance(failure, Mapping) and failure:
        task = failure.get("task")
        return " ".join(str(failure.get("msg") or "failed").split()) + (f" (at task '{task}')" if task else "")
    status = (facts.get("confirm") or {}).get(name) or {}
    if not status and facts.get("stopped"):
        return " ".join(str(facts["stopped"]).split())
    return f"the bot does not run on the new key: {status.get('reason') or 'not confirmed'}"


def _rolled_back(name: str, facts: Mapping[str, Any], o: Outcome, why: str) -> Outcome:
    rollback = _results(facts.get("rollback")).get(name)
    restored = (facts.get("restored") or {}).get(name)
    redeployed = name in (facts.get("redeployed") or [])
    if rollback is None:
        o.outcome, o.leftover = ATTENTION, o.new_key
        o.what = f"{why}; the new key was not deleted (the run stopped): delete {o.new_key} and roll Vault back"
        return o
    vault_back = bool(rollback.get("rolled_back"))
    version = rollback.get("vault_version")
    vault_note = f"Vault rolled back to the old key (v{version})" if vault_back else "Vault rollback not confirmed"
    if _failed(rollback):
        o.outcome, o.leftover = ATTENTION, o.new_key
        o.what = f"{why}; the new key {o.new_key} could NOT be deleted at KuCoin ({_msg(rollback)}), {vault_note}"
        return o
    o.vault_version = version
    if redeployed and not (restored or {}).get("running"):
        reason = (restored or {}).get("reason") or _redeploy_reason(facts)
        o.outcome = ATTENTION
        o.what = (
            f"{why}; new key deleted, {vault_note}, but putting the old key back on the host failed: {reason}; "
            f"run deploy_bot for {facts.get('host')}"
        )
        return o
    o.outcome = ROLLED_BACK if vault_back else ATTENTION
    where = "bot restarted on the old key" if redeployed else "bot left running on the old key"
    o.what = f"{why}; rolled back: new key deleted, {vault_note}, {where}"
    return o


def _redeploy_reason(facts: Mapping[str, Any]) -> str:
    failure = facts.get("redeploy_failure")
    if isinstance(failure, Mapping) and failure:
        return " ".join(str(failure.get("msg") or "failed").split())
    return "not confirmed"


def _create_failed(create: Mapping[str, Any], o: Outcome) -> Outcome:
    o.old_age = create.get("previous_key_age_days", create.get("key_age_days"))
    if create.get("created") and not create.get("deleted"):
        o.outcome, o.leftover = ATTENTION, _mask(create.get("api_key"))
        o.new_key = o.leftover
        o.what = f"creating the new key failed after KuCoin made it ({_msg(create)}); delete {o.leftover}"
    else:
        o.outcome = FAILED
        o.what = f"creating the new key failed, nothing changed, bot on the old key: {_msg(create)}"
    return o


def _not_created(entry: Mapping[str, Any], create: Mapping[str, Any], o: Outcome, check_mode: bool) -> Outcome:
    o.old_age = create.get("key_age_days")
    o.vault_version = create.get("vault_version")
    if create.get("changed") and check_mode:
        o.outcome, o.what = WOULD_ROTATE, f"would rotate ({_due_words(entry, create)})"
    else:
        o.outcome = NOT_DUE
        o.what = f"not due (key age {_age(o.old_age)}, rotated after {entry.get('max_age_days')} d)"
    return o


def _confirmed(name: str, create: Mapping[str, Any], facts: Mapping[str, Any], o: Outcome) -> Outcome:
    o.vault_version = create.get("vault_version")
    if not create.get("previous_api_key"):
        o.outcome, o.what = ROTATED, "new key live, bot restarted on it (there was no old key)"
        return o
    delete = _results(facts.get("delete_old")).get(name)
    if delete is None or _failed(delete):
        o.outcome, o.leftover = ATTENTION, o.old_key
        detail = _msg(delete) if delete is not None else "the run stopped before it"
        o.what = f"new key live, bot restarted on it, but the old key {o.old_key} was NOT deleted at KuCoin ({detail})"
        return o
    gone = "old key deleted" if delete.get("deleted") else "old key was already gone at KuCoin"
    o.outcome, o.what = ROTATED, f"new key live, bot restarted on it, {gone}"
    return o


def strategy_outcome(entry: Mapping[str, Any], facts: Mapping[str, Any], check_mode: bool) -> Outcome:
    """What happened to one planned strategy, from the facts its host recorded (see host_facts)."""
    name = str(entry["name"])
    o = Outcome(outcome=SKIPPED, what="", old_key=str(entry.get("current_key") or "none"))
    create = _results(facts.get("create")).get(name)
    if entry.get("skip"):
        o.what = f"not rotated: {entry['skip']}"
    elif entry.get("error"):
        o.outcome, o.what = FAILED, f"not rotated: {entry['error']}"
    elif create is None:
        o.outcome = NOT_ATTEMPTED
        o.what = str(facts.get("stopped") or "the host was unreachable or stopped before the rotation began")
    else:
        previous = create.get("previous_api_key") if create.get("created") else create.get("api_key")
        if previous:
            o.old_key = _mask(previous)
        if _failed(create):
            return _create_failed(create, o)
        if not create.get("created"):
            return _not_created(entry, create, o, check_mode)
        o.new_key = _mask(create.get("api_key"))
        o.old_age = create.get("previous_key_age_days")
        o.new_age = create.get("key_age_days", 0)
        if not ((facts.get("confirm") or {}).get(name) or {}).get("running"):
            return _rolled_back(name, facts, o, _why_not_running(name, facts))
        return _confirmed(name, create, facts, o)
    return o


def _due_words(entry: Mapping[str, Any], create: Mapping[str, Any]) -> str:
    if entry.get("rotate"):
        return "named in rotate_strategies"
    age = create.get("key_age_days")
    if create.get("due"):
        return f"key age {_age(age)} over {entry.get('max_age_days')} d"
    return str(create.get("msg") or "the key in Vault is missing at KuCoin")


def _line(entry: Mapping[str, Any], o: Outcome) -> str:
    head = f"  {entry['name']} (sub-account {entry.get('sub_account')}): "
    keys = f"key {o.old_key}"
    if o.old_age is not None:
        keys += f" ({_age(o.old_age)})"
    if o.new_key != "none":
        keys += f" -> {o.new_key}" + (f" ({_age(o.new_age)})" if o.new_age is not None else "")
    if o.vault_version is not None and o.outcome in (ROTATED, ROLLED_BACK):
        keys += f", Vault v{o.vault_version}"
    label = o.outcome.upper() if o.outcome in FAILING else o.outcome
    return f"{head}{label}; {keys}; {o.what}"


def _get(vars_of_host: Any, name: str) -> Any:
    try:
        return vars_of_host.get(name)
    except Exception:  # a hostvars entry that cannot be templated is as good as absent
        return None


def host_facts(hostvars: Mapping[str, Any], host: str) -> dict[str, Any]:
    """What the rotate_keys playbook registered on one host, by the names the summary reads."""
    own = hostvars.get(host) if hasattr(hostvars, "get") else None
    names = {
        "create": "_rotate_create",
        "deploy_failure": "_rotate_deploy_failure",
        "report": "bot_host_report",
        "confirm": "_rotate_confirm",
        "delete_old": "_rotate_delete_old",
        "rollback": "_rotate_rollback",
        "redeployed": "_rotate_redeployed",
        "redeploy_failure": "_rotate_redeploy_failure",
        "restored": "_rotate_restored",
        "stopped": "_rotate_stopped",
    }
    facts: dict[str, Any] = {"host": host}
    for key, variable in names.items():
        facts[key] = _get(own, variable) if own is not None else None
    return facts


def summary(
    hostvars: Mapping[str, Any], hosts: Sequence[str], entries: Sequence[Mapping[str, Any]], check_mode: bool = False
) -> dict[str, Any]:
    """Lines to print, a JSON-ready report, and the failed hosts with one line each."""
    lines: list[str] = []
    report_hosts: dict[str, dict[str, Any]] = {}
    failed: dict[str, list[str]] = {}
    for host in hosts:
        mine = [e for e in entries if e.get("host") == host]
        if not mine:
            continue
        facts = host_facts(hostvars, host)
        lines.append(f"{host}:")
        strategies: dict[str, Any] = {}
        for entry in mine:
            o = strategy_outcome(entry, facts, check_mode)
            lines.append(_line(entry, o))
            strategies[str(entry["name"])] = {
                "sub_account": entry.get("sub_account"),
                "outcome": o.outcome,
                "what": o.what,
                "old_api_key": o.old_key,
                "new_api_key": o.new_key,
                "old_key_age_days": o.old_age,
                "new_key_age_days": o.new_age,
                "vault_version": o.vault_version,
                "delete_at_kucoin": o.leftover or None,
            }
            if o.outcome in FAILING:
                failed.setdefault(host, []).append(f"{entry['name']}: {o.outcome}: {o.what}")
        report_hosts[host] = {"strategies": strategies}
    if not lines:
        lines = ["no strategy with a sub_account: nothing to rotate"]
    counts: dict[str, int] = {}
    for host in report_hosts.values():
        for s in host["strategies"].values():
            counts[s["outcome"]] = counts.get(s["outcome"], 0) + 1
    if counts:
        lines.append("rotation: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return {
        "lines": lines,
        "failed_hosts": {host: "; ".join(reasons) for host, reasons in failed.items()},
        "report": {"version": REPORT_VERSION, "check_mode": check_mode, "ok": not failed, "hosts": report_hosts},
    }
