"""docs/benchmarks.md, .csv and .png from one run's results: medians and ratios are computed here."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from itertools import product
from pathlib import Path

from bench import tables
from bench.config import BenchConfig
from bench.deploy import RATIO_GOAL, ratios
from bench.lookups import ANCHOR, FLOOR, OURS, VARIANTS
from bench.results import PartResult, median, median_field, ok_seconds, ratio, worker_variant
from bench.tables import FAILED, MISSING, markdown_table

PLOT_NAME = "benchmarks.png"
CPU_TARGET = 0.5  # ours above the floor, as a share of the anchor's above the floor
FLEET_QUERY = "tradebot_fleet_query"
FLEET_QUERY_HEADERS = [
    "strategies",
    "runs",
    "median wall (s)",
    "median CPU (s)",
    "CPU per strategy (ms)",
    "logins",
    "Vault requests",
]


def _failed_block(part: PartResult) -> str:
    lines = [f"**{FAILED}** — this part could not be measured completely in this run:", ""]
    lines += [f"- {failure.splitlines()[0] if failure else 'unknown'}" for failure in part.failures]
    details = [failure for failure in part.failures if "\n" in failure]
    if details:
        lines += ["", "```text", *(d.strip() for d in details), "```"]
    return "\n".join(lines) + "\n"


# --- part 1 -----------------------------------------------------------------------------------------------


def lookup_medians(part: PartResult, size: int) -> dict[str, float | None]:
    return {v.key: median(ok_seconds(part.select(v.key, size))) for v in VARIANTS}


def lookup_cpu_medians(part: PartResult, size: int) -> dict[str, float | None]:
    return {v.key: median_field(part.select(v.key, size), "cpu_seconds") for v in VARIANTS}


def _minus(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


LOOKUP_HEADERS = [
    "N",
    "lookup",
    "wall time (s)",
    "min-max (s)",
    "runs",
    "x anchor",
    "x floor",
    "above floor (s)",
    "CPU (s)",
    "CPU above floor (s)",
    "logins",
    "Vault requests",
]


def lookup_rows(part: PartResult, sizes: Sequence[int]) -> list[list[str]]:
    rows = []
    for size in sizes:
        medians = lookup_medians(part, size)
        cpu = lookup_cpu_medians(part, size)
        for variant in VARIANTS:
            samples = part.select(variant.key, size)
            times = ok_seconds(samples)
            failed = any(not s.ok for s in samples)
            value = medians[variant.key]
            if failed or not times:
                rows.append([str(size), variant.label, FAILED, *[MISSING] * (len(LOOKUP_HEADERS) - 3)])
                continue
            above = _minus(value, medians[FLOOR.key])
            rows.append(
                [
                    str(size),
                    variant.label,
                    tables.seconds(value),
                    f"{tables.seconds(min(times))}-{tables.seconds(max(times))}",
                    str(len(times)),
                    tables.times(ratio(value, medians[ANCHOR.key])),
                    tables.times(ratio(value, medians[FLOOR.key])),
                    tables.seconds(above),
                    tables.seconds(cpu[variant.key]),
                    tables.seconds(_minus(cpu[variant.key], cpu[FLOOR.key])),
                    tables.count(median_field(samples, "logins")) if variant.uses_vault else MISSING,
                    tables.count(median_field(samples, "vault_requests")) if variant.uses_vault else MISSING,
                ]
            )
    return rows


def lookup_verdict(part: PartResult, size: int) -> list[str]:
    """The issue's two claims at the largest N, computed from this run's medians."""
    medians = lookup_medians(part, size)
    ours, anchor, floor = medians[OURS.key], medians[ANCHOR.key], medians[FLOOR.key]
    if ours is None or anchor is None or floor is None:
        return [f"- At N={size}: {FAILED} — not every variant was measured, so no ratio is given."]
    our_logins = median_field(part.select(OURS.key, size), "logins")
    anchor_logins = median_field(part.select(ANCHOR.key, size), "logins")
    share = ratio(ours - floor, anchor - floor)
    logins_ok = our_logins == 1 and anchor_logins is not None and anchor_logins >= size
    cpu = lookup_cpu_medians(part, size)
    cpu_share = ratio(_minus(cpu[OURS.key], cpu[FLOOR.key]), _minus(cpu[ANCHOR.key], cpu[FLOOR.key]))
    cpu_ok = cpu_share is not None and cpu_share <= CPU_TARGET
    return [
        f"- At N={size}: {OURS.label} made **{tables.count(our_logins)}** login(s), "
        f"{ANCHOR.label} **{tables.count(anchor_logins)}** "
        f"({'as claimed: 1 against at least N' if logins_ok else 'NOT as claimed: 1 against at least N'}).",
        f"- The per-host template lookup's CPU time above the plain-variables floor: ours "
        f"{tables.seconds(_minus(cpu[OURS.key], cpu[FLOOR.key]))} s, the anchor "
        f"{tables.seconds(_minus(cpu[ANCHOR.key], cpu[FLOOR.key]))} s: **{tables.times(cpu_share)}** the anchor's "
        f"({'within' if cpu_ok else 'NOT within'} the target of at most {tables.times(CPU_TARGET)}).",
        f"- The same by wall time, which other load on the machine sways more: above the floor "
        f"({tables.seconds(floor)} s) ours took {tables.seconds(ours - floor)} s, the anchor "
        f"{tables.seconds(anchor - floor)} s: **{tables.times(share)}**.",
    ]


def lookup_section(part: PartResult, config: BenchConfig) -> str:
    out = [
        "## 1. Vault lookups at fleet size",
        "",
        "One play renders one env file per inventory host (`ansible.builtin.template`, local connection, "
        "default forks, each host its own secret in KV v2) three ways: with "
        f"`{OURS.label}`, with `{ANCHOR.label}` (the anchor, from the `ansible` package), and with the "
        "credentials as plain inventory variables (the floor: what Ansible costs without Vault). Both Vault "
        "variants log in with AppRole to the same OpenBao; the template binds the lookup's result once, so "
        "each variant evaluates its lookup once per host. The template's modules (`stat`, `copy`) run with "
        "the system Python, as interpreter discovery would pick on a Debian host (see the machine table).",
        "",
        f"Wall time is the median of {config.fleet_reps} runs of `ansible-playbook` per size and variant, "
        "taken in rotating order after one untimed warm-up run of each. Every run is **cold**: a fresh output "
        "directory and a fresh `TRADEBOT_VAULT_TOKEN_CACHE_DIR`, so ours pays for its own login each run (a "
        "second run within the token's TTL would make no login at all; that is not counted here). Logins "
        "and requests come from the OpenBao audit log of each run (medians; all Vault requests, logins "
        "included). CPU is the user and system time of `ansible-playbook` and every process it ran (not "
        "OpenBao's). Each run's env files are checked to hold each host's own credentials.",
        "",
        "The anchor is used as its examples use it: the auth options go to the lookup, which logs in on every "
        "call (here one call per host). A playbook can avoid those logins with an extra task that fetches one "
        "token with `community.hashi_vault.vault_login` and passes it to every `vault_kv2_get`; that form is "
        "not measured here.",
        "",
    ]
    if any(part.samples):
        headers = LOOKUP_HEADERS
        out += [markdown_table(headers, lookup_rows(part, config.fleet_sizes), "rlrrrrrrrrrr"), ""]
        out += [f"![wall time against N for the three variants]({PLOT_NAME})", ""]
    if part.failed:
        out += [_failed_block(part)]
    return "\n".join(out)


def plot(part: PartResult, sizes: Sequence[int], path: Path, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for variant, marker in zip(VARIANTS, ("o", "s", "^"), strict=True):
        runs = {n: ok_seconds(part.select(variant.key, n)) for n in sizes}
        runs = {n: times for n, times in runs.items() if times}
        if not runs:
            continue
        xs = list(runs)
        mids = [statistics.median(times) for times in runs.values()]
        low = [mid - min(times) for mid, times in zip(mids, runs.values(), strict=True)]
        high = [max(times) - mid for mid, times in zip(mids, runs.values(), strict=True)]
        axes.errorbar(xs, mids, yerr=[low, high], marker=marker, capsize=3, label=variant.label)
    axes.set_xlabel("inventory hosts (N)")
    axes.set_ylabel("wall time, median of runs (s)")
    axes.set_title(f"One env file per host from Vault\n{subtitle}", fontsize=10)
    axes.set_xticks(list(sizes))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


# --- part 2 -----------------------------------------------------------------------------------------------

KEYCHECK_VARIANTS = (("key_check", "tradebot.kucoin.key_check"), ("uri", "ansible.builtin.uri timestamp call"))


def keycheck_section(part: PartResult, config: BenchConfig) -> str:
    out = [
        "## 2. Key check",
        "",
        "`tradebot.kucoin.key_check` (proves the key with a signed call and compares the host's clock with the "
        "server's) against the local KuCoin sandbox, beside an `ansible.builtin.uri` task calling the sandbox's "
        f"public `/api/v1/timestamp`, over the same {config.keycheck_hosts} local inventory hosts. Median of "
        f"{config.keycheck_reps} runs each, in rotating order after a warm-up; HTTP requests counted by the "
        "sandbox.",
        "",
    ]
    base = median(ok_seconds(part.select("uri")))
    rows = []
    for key, label in KEYCHECK_VARIANTS:
        samples = part.select(key)
        times = ok_seconds(samples)
        if not times or any(not s.ok for s in samples):
            rows.append([label, str(config.keycheck_hosts), FAILED, MISSING, MISSING, MISSING])
            continue
        value = median(times)
        per_check = [s.http_requests / s.size for s in samples if s.http_requests is not None and s.size]
        rows.append(
            [
                label,
                str(config.keycheck_hosts),
                tables.seconds(value),
                f"{tables.seconds(min(times))}-{tables.seconds(max(times))}",
                tables.times(ratio(value, base)),
                tables.count(median(per_check)),
            ]
        )
    headers = ["task", "hosts", "wall time (s)", "min-max (s)", "x uri", "HTTP requests per check"]
    out += [markdown_table(headers, rows, "lrrrrr"), ""]
    if part.failed:
        out += [_failed_block(part)]
    return "\n".join(out)


# --- part 3 -----------------------------------------------------------------------------------------------


def deploy_section(part: PartResult, config: BenchConfig) -> str:
    out = [
        "## 3. Deploy scaling, and against a plain playbook",
        "",
        "`deploy_bot.yml` over freshly booted systemd container hosts (systemd-nspawn, SSH), with OpenBao, "
        "the KuCoin sandbox and a local NTP server set up as `make demo` does. A first run on pristine hosts, "
        "then a second, unchanged run (which must report no change). One run of each per fleet size.",
        "",
        "Beside it, on the same hosts booted afresh, `bench/playbooks/deploy_plain.yml`: what a user would "
        "assemble from common parts - a chrony config template without verification, community.hashi_vault "
        "lookups into an environment file template, a systemd unit, no key check. The ratio is deploy_bot.yml's "
        f"time over the plain playbook's; the goal is at most {RATIO_GOAL:g}x for the extra verification.",
        "",
    ]
    rows = []
    for size in config.deploy_sizes:
        cells = [str(size)]
        for run in ("first", "second"):
            ours, plain = part.select(run, size), part.select(f"plain_{run}", size)
            for samples in (ours, plain):
                ok = samples and all(s.ok for s in samples)
                cells.append(tables.seconds(median(ok_seconds(samples))) if ok else (FAILED if samples else MISSING))
            value = ratios(part, size)[run]
            cells.append(tables.times(value) if value is not None else MISSING)
        rows.append(cells)
    headers = ["hosts", "first run (s)", "plain first (s)", "ratio", "second run (s)", "plain second (s)", "ratio"]
    out += [markdown_table(headers, rows, "rrrrrrr"), ""]
    if part.failed:
        out += [_failed_block(part)]
    return "\n".join(out)


# --- part 4 -----------------------------------------------------------------------------------------------

MICRO_VARIANTS = (
    ("hvac", "one direct hvac KV v2 read (the floor)"),
    ("tradebot", "tradebot.kucoin.vault_credentials, token cached"),
    ("hashi_vault", "community.hashi_vault.vault_kv2_get (logs in every call)"),
)


WORKER_LOOKUPS = (
    ("tradebot", "tradebot.kucoin.vault_credentials"),
    ("hashi_vault", "community.hashi_vault.vault_kv2_get"),
)


def _worker_cpu(part: PartResult, lookup: str, scheme: str) -> float | None:
    return median_field(part.select(worker_variant(lookup, scheme)), "cpu_seconds")


def _percentile(values: Sequence[float], which: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=10, method="inclusive")[which - 1]


def micro_section(part: PartResult, config: BenchConfig) -> str:
    out = [
        "## 4. The lookup's own cost",
        "",
        f"{config.micro_calls} calls each in one warm Python process (plugins loaded through Ansible's plugin "
        "loader, one call made before timing). Ours finds its token in the cache and its per-process read "
        "memo is emptied before every call, so each call is a real Vault read; the direct `hvac` read with a "
        "logged-in client is the physical floor. Requests per call from the audit log.",
        "",
    ]
    floor = median(ok_seconds(part.select("hvac")))
    rows = []
    for key, label in MICRO_VARIANTS:
        samples = part.select(key)
        times = ok_seconds(samples)
        if not times:
            rows.append([label, FAILED, MISSING, MISSING, MISSING, MISSING, MISSING])
            continue
        value = median(times)
        rows.append(
            [
                label,
                tables.millis(value),
                tables.millis(_percentile(times, 1)),
                tables.millis(_percentile(times, 9)),
                tables.times(ratio(value, floor)),
                tables.count(median_field(samples, "vault_requests")),
                tables.count(median_field(samples, "logins")),
            ]
        )
    headers = ["call", "median (ms)", "p10 (ms)", "p90 (ms)", "x hvac read", "Vault requests", "logins"]
    out += [markdown_table(headers, rows, "lrrrrrr"), ""]
    out += [
        "What each host of a play pays instead: one call in a **freshly forked worker**, forked from a process "
        "that holds what `ansible-playbook`'s main process holds before it forks (ansible-core and the builtin "
        "routing, not the lookup plugins, hvac or requests), so the time includes loading the plugin and its "
        "libraries. Ours finds a cached token, as every worker after a run's first does. Part 1's OpenBao "
        "listens on plain HTTP; over HTTPS (the same server's TLS listener, a private CA) a worker of ours also "
        "loads Python's ssl module and the CA file, which the anchor's libraries load either way, and each "
        "connection adds a TLS handshake: one for ours, two (login and read) for the anchor.",
        "",
    ]
    worker_rows = []
    for scheme, (lookup, label) in product(("http", "https"), WORKER_LOOKUPS):
        samples = part.select(worker_variant(lookup, scheme))
        anchor_cpu = _worker_cpu(part, "hashi_vault", scheme)
        if not samples:
            worker_rows.append([label, scheme, FAILED, MISSING, MISSING, MISSING])
            continue
        cpu = median_field(samples, "cpu_seconds")
        worker_rows.append(
            [
                label,
                scheme,
                str(len(samples)),
                tables.millis(median(ok_seconds(samples))),
                tables.millis(cpu),
                tables.times(ratio(cpu, anchor_cpu)),
            ]
        )
    headers = ["call in a fresh worker", "Vault over", "calls", "median wall (ms)", "median CPU (ms)", "CPU x anchor"]
    out += [markdown_table(headers, worker_rows, "llrrrr"), ""]
    out += [
        "The fleet pattern (what `deploy_bot.yml` does): one `query` of every seeded strategy, made once in a "
        "freshly forked worker with an empty token cache, so it pays for loading the plugin and hvac, one login "
        "and one read per strategy. Median of the runs; logins and requests from the audit log.",
        "",
        markdown_table(FLEET_QUERY_HEADERS, fleet_query_rows(part), "rrrrrrr"),
        "",
    ]
    if part.failed:
        out += [_failed_block(part)]
    return "\n".join(out)


def fleet_query_rows(part: PartResult) -> list[list[str]]:
    samples = part.select(FLEET_QUERY)
    if not samples:
        return [[FAILED, *[MISSING] * 6]]
    size = samples[0].size
    cpu = median_field(samples, "cpu_seconds")
    return [
        [
            str(size),
            str(len(samples)),
            tables.seconds(median(ok_seconds(samples))),
            tables.seconds(cpu),
            tables.millis(ratio(cpu, size)),
            tables.count(median_field(samples, "logins")),
            tables.count(median_field(samples, "vault_requests")),
        ]
    ]


def fleet_query_summary(part: PartResult) -> str:
    samples = part.select(FLEET_QUERY)
    if not samples:
        return f"- The fleet pattern: {FAILED} (see section 4)."
    cpu = median_field(samples, "cpu_seconds")
    return (
        f"- The fleet pattern: one query of {samples[0].size} strategies on the controller cost "
        f"{tables.seconds(median(ok_seconds(samples)))} s ({tables.seconds(cpu)} s of CPU, loading hvac included), "
        f"**{tables.count(median_field(samples, 'logins'))}** login(s) and "
        f"{tables.count(median_field(samples, 'vault_requests'))} Vault requests; no host pays anything."
    )


# --- the whole report -------------------------------------------------------------------------------------

SECTIONS = {"lookups": lookup_section, "keycheck": keycheck_section, "deploy": deploy_section, "micro": micro_section}


def keycheck_summary(part: PartResult) -> str:
    ours, base = median(ok_seconds(part.select("key_check"))), median(ok_seconds(part.select("uri")))
    if part.failed or ours is None or base is None:
        return f"- Key check: {FAILED} (see section 2)."
    per_check = [s.http_requests / s.size for s in part.select("key_check") if s.http_requests and s.size]
    return (
        f"- Key check: `tradebot.kucoin.key_check` takes **{tables.times(ratio(ours, base))}** the wall time of a "
        f"plain `uri` timestamp call over the same hosts, with {tables.count(median(per_check))} HTTP requests "
        "per check against 1."
    )


def deploy_summary(part: PartResult, config: BenchConfig) -> str:
    size = max(config.deploy_sizes)
    first, second = median(ok_seconds(part.select("first", size))), median(ok_seconds(part.select("second", size)))
    if part.failed or first is None or second is None:
        return f"- Deploy scaling: {FAILED} (see section 3)."
    line = (
        f"- Deploy: `deploy_bot.yml` over {size} fresh host(s) took {tables.seconds(first, 1)} s "
        f"({tables.seconds(first / size, 1)} s per host); the unchanged second run {tables.seconds(second, 1)} s."
    )
    against = ratios(part, size)
    if against["first"] is not None and against["second"] is not None:
        worst = max(against["first"], against["second"])
        verdict = "within" if worst <= RATIO_GOAL else "over"
        line += (
            f" Against the plain playbook: {tables.times(against['first'])} (first run) and "
            f"{tables.times(against['second'])} (second run), {verdict} the {RATIO_GOAL:g}x goal."
        )
    return line


def micro_summary(part: PartResult) -> str:
    ours, floor = median(ok_seconds(part.select("tradebot"))), median(ok_seconds(part.select("hvac")))
    if part.failed or ours is None or floor is None:
        return f"- The lookup's own cost: {FAILED} (see section 4)."
    line = (
        f"- One lookup call in a warm process: {tables.millis(ours)} ms, against {tables.millis(floor)} ms for "
        f"the direct `hvac` read it wraps ({tables.times(ratio(ours, floor))})."
    )
    ours_cpu, anchor_cpu = _worker_cpu(part, "tradebot", "http"), _worker_cpu(part, "hashi_vault", "http")
    if ours_cpu is not None and anchor_cpu is not None:
        line += (
            f" In a freshly forked Ansible worker, which is what each host of a play pays, one call costs "
            f"{tables.millis(ours_cpu)} ms of CPU for ours and {tables.millis(anchor_cpu)} ms for the anchor, "
            "loading the plugin and its libraries included"
        )
        ours_tls, anchor_tls = _worker_cpu(part, "tradebot", "https"), _worker_cpu(part, "hashi_vault", "https")
        if ours_tls is not None and anchor_tls is not None:
            line += (
                f"; over HTTPS {tables.millis(ours_tls)} ms against {tables.millis(anchor_tls)} ms "
                f"({tables.times(ratio(ours_tls, anchor_tls))})"
            )
        line += "."
    return line


def summary(config: BenchConfig, parts: Sequence[PartResult], elapsed: float) -> list[str]:
    by_name = {part.name: part for part in parts}
    lines: list[str] = []
    if "lookups" in by_name:
        lines += lookup_verdict(by_name["lookups"], max(config.fleet_sizes))
    if "keycheck" in by_name:
        lines.append(keycheck_summary(by_name["keycheck"]))
    if "deploy" in by_name:
        lines.append(deploy_summary(by_name["deploy"], config))
    if "micro" in by_name:
        lines.append(micro_summary(by_name["micro"]))
        lines.append(fleet_query_summary(by_name["micro"]))
    lines.append(duration_summary(config, parts, elapsed))
    return lines


def duration_summary(config: BenchConfig, parts: Sequence[PartResult], elapsed: float) -> str:
    """`elapsed` is the whole run's wall time: the parts plus what they share (starting and seeding OpenBao)."""
    setup = max(elapsed - sum(part.seconds_spent for part in parts), 0.0)
    verdict = "within" if elapsed <= config.budget_minutes * 60 else "OVER"
    each = ", ".join([f"setup {setup / 60:.1f}"] + [f"{part.name} {part.seconds_spent / 60:.1f}" for part in parts])
    line = (
        f"- This run took {elapsed / 60:.1f} min ({each}): {verdict} the {config.budget_minutes} min budget of "
        f"a {config.label} run."
    )
    # The fleet plays are fixed by the design (sizes x variants x runs): no run can be shorter than their sum.
    plays = [sample.seconds for part in parts if part.name == "lookups" for sample in part.samples]
    if plays:
        line += f" Its {len(plays)} timed fleet plays alone took {sum(plays) / 60:.1f} min."
    return line


def render(
    config: BenchConfig, machine: Mapping[str, str], parts: Sequence[PartResult], finished: str, elapsed: float
) -> str:
    failed = [part.title for part in parts if part.failed]
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench`"
        + (" **QUICK=1** (smaller fleets, fewer runs: a smoke run, not the published figures)" if config.quick else "")
        + f". Every figure below was measured and computed in the same run ({finished}; the run took "
        f"{elapsed / 60:.1f} min); do not edit by hand. Raw per-run figures: [benchmarks.csv](benchmarks.csv).",
        "",
    ]
    if failed:
        out += [f"**{FAILED} in this run:** " + "; ".join(failed) + ". See the sections below.", ""]
    out += ["## Summary", "", *summary(config, parts, elapsed), ""]
    out += ["## Machine", "", markdown_table(["what", "measured on"], [[k, v] for k, v in machine.items()]), ""]
    for part in parts:
        out.append(SECTIONS[part.name](part, config))
    return "\n".join(out).rstrip() + "\n"
