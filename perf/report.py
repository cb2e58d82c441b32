"""report.md: the run's figures in one page a person can read."""

from __future__ import annotations

from perf import slo as slo_mod
from perf.summary import AGGREGATED, SETUP_NAMES


def _n(value, fmt: str = ".0f", unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:{fmt}}{unit}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def _endpoint_table(endpoints: dict, rules: slo_mod.Slo) -> list[str]:
    lines = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors | p95 SLO | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, f in endpoints.items():
        limit = rules.p95_limit(name) if name != AGGREGATED else None
        ok = ""
        if limit is not None and f["requests"] < rules.min_samples:
            ok = f"not judged (< {rules.min_samples} requests)"
        elif limit is not None and f["p95_ms"] is not None:
            ok = (
                "ok"
                if f["p95_ms"] <= limit and f["error_rate"] <= rules.endpoint_error_rate
                else "**MISS**"
            )
        lines.append(
            f"| {name} | {f['requests']} | {_n(f['rps'], '.1f')} | {_n(f['p50_ms'])} | "
            f"{_n(f['p95_ms'])} | {_n(f['p99_ms'])} | {_pct(f['error_rate'])} | "
            f"{_n(limit)} | {ok} |"
        )
    return lines


def _balance(split: dict | None) -> list[str]:
    if not split:
        return []
    pods = ", ".join(f"{pod[-5:]} {cpu:.0f} m" for pod, cpu in sorted(split["pods"].items()))
    line = (
        f"- MCP CPU across pods at {split['t']:.0f} s: {pods}; the busiest pod does "
        f"{split['share']:.0%} of the work"
    )
    if split["share"] > 0.6:
        line += (
            " (**unbalanced**: kube-proxy balances connections, not requests, and the "
            "backend's keep-alive connections stay on the pods that existed when they opened)"
        )
    return [line]


def _hpa_section(main: dict) -> list[str]:
    rows = main.get("cluster") or []
    if not rows:
        return ["No cluster sampling in this run (local target)."]
    hpa = main["hpa"]
    errors = sorted({r["metrics_error"][:160] for r in rows if r.get("metrics_error")})
    errors += sorted({r["error"][:160] for r in rows if r.get("error")})
    lines = [
        *[f"- sampling problem seen: `{e}`" for e in errors],
        f"- 2 ready MCP replicas first seen at: {_n(hpa['first_at_2_s'], '.0f', ' s')}; "
        f"3 at: {_n(hpa['first_at_3_s'], '.0f', ' s')} (seconds into the phase; the HPA "
        f"asked for 3 at {_n(hpa.get('desired_3_at_s'), '.0f', ' s')}); "
        f"most ready replicas seen: {_n(hpa.get('max_ready'))}",
        *_balance(hpa.get("busiest_share")),
        "- replica changes: "
        + (
            ", ".join(f"{c['from']}->{c['to']} at {c['t']:.0f} s" for c in hpa["changes"]) or "none"
        ),
        "",
        "| t (s) | MCP ready | HPA desired | HPA CPU % | backend ready "
        "| MCP pods CPU m | MCP pods MiB |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        deps = row.get("deployments") or {}
        mcp = deps.get("mcp-server") or {}
        backend = deps.get("backend") or {}
        hpa_row = row.get("hpa") or {}
        pods = [p for p in row.get("pods") or [] if p["component"] == "mcp-server"]
        lines.append(
            f"| {row['t']:.0f} | {mcp.get('ready', '-')} | {hpa_row.get('desired', '-')} | "
            f"{_n(hpa_row.get('cpu_pct'))} | {backend.get('ready', '-')} | "
            f"{', '.join(_n(p['cpu_m']) for p in pods) or '-'} | "
            f"{', '.join(_n(p['mem_mib']) for p in pods) or '-'} |"
        )
    return lines


def _pods_peak(rows: list[dict]) -> list[str]:
    peak: dict[str, tuple[float, float]] = {}
    for row in rows:
        for p in row.get("pods") or []:
            cpu, mem = peak.get(p["pod"], (0.0, 0.0))
            peak[p["pod"]] = (max(cpu, p["cpu_m"]), max(mem, p["mem_mib"]))
    if not peak:
        return []
    lines = ["| pod | peak CPU (m) | peak memory (MiB) |", "|---|---:|---:|"]
    lines += [f"| {pod} | {cpu:.0f} | {mem:.0f} |" for pod, (cpu, mem) in sorted(peak.items())]
    return lines


def _capacity(caps: dict, rules: slo_mod.Slo) -> list[str]:
    lines = []
    for cap in caps.values():
        best = cap["sustained"]
        lines += [
            f"### {cap['mcp_replicas']} MCP replica(s) ({cap['shape']})",
            "",
            "Sustained at the SLO: "
            + (
                f"**{best['rps']:.1f} req/s** at {best['users']} users "
                f"(p95 {best['p95_ms']:.0f} ms, p99 {best['p99_ms']:.0f} ms, "
                f"errors {best['error_rate']:.2%})"
                if best
                else "**no step met the SLO**"
            ),
            "",
            "| users | req/s | p50 ms | p95 ms | p99 ms | errors | worst endpoint p95 | SLO |",
            "|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for stage in cap["stages"]:
            eps = stage["endpoints"]
            total = eps[AGGREGATED]
            steady = {k: v for k, v in eps.items() if k not in SETUP_NAMES}
            missed = slo_mod.check(
                steady, rules, require=False, min_samples=slo_mod.STAGE_MIN_SAMPLES
            )
            worst = max(
                ((k, v["p95_ms"]) for k, v in steady.items() if k != AGGREGATED and v["p95_ms"]),
                key=lambda kv: kv[1],
                default=("-", None),
            )
            lines.append(
                f"| {stage['users']} | {total['rps']:.1f} | {_n(total['p50_ms'])} | "
                f"{_n(total['p95_ms'])} | {_n(total['p99_ms'])} | {_pct(total['error_rate'])} | "
                f"{worst[0]} {_n(worst[1])} | {'ok' if not missed else 'miss: ' + str(missed[0])} |"
            )
        lines.append("")
        lines += _saturated(cap.get("saturation"))
        pods = _pods_peak(cap.get("cluster") or [])
        if pods:
            lines += ["Peak use per pod during this run:", "", *pods, ""]
    return lines


def _saturated(found: dict | None) -> list[str]:
    """Which process runs out of CPU first, from the CPU sampled in the highest step."""
    if not found:
        return []
    first = found["ranked"][0]
    others = ", ".join(
        f"{r['component']} {r['cpu_m']}m" + (f" ({r['share']:.0%})" if r["share"] else "")
        for r in found["ranked"][1:]
    )
    share = (
        f"{first['share']:.0%} of its {first['limit_m']:.0f}m limit"
        if first["share"]
        else "no limit"
    )
    return [
        f"Saturates first at {found['users']} users: **{first['component']}** "
        f"(busiest pod {first['cpu_m']}m, {share}); then {others or 'nothing else sampled'}.",
        "",
    ]


def _ceiling(ceil: dict, local: bool) -> list[str]:
    h, c, db = ceil["health"], ceil["create"], ceil["db"]
    r = ceil["ratios"]
    return [
        f"Same Locust settings for both HTTP rows: {ceil['users']} users, no think time, "
        f"{ceil['seconds']:.0f} s (first seconds skipped); the database loop uses "
        f"{db['insert']['workers']} threads.",
        "",
        "| what | ops/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| GET /health via NodePort (network path, no-op) | {_n(h.get('rps'), '.1f')} | "
        f"{_n(h.get('p50_ms'))} | {_n(h.get('p95_ms'))} | {_n(h.get('p99_ms'))} |",
        f"| POST /api/v1/tasks (backend -> MCP -> PostgreSQL) | {_n(c.get('rps'), '.1f')} | "
        f"{_n(c.get('p50_ms'))} | {_n(c.get('p95_ms'))} | {_n(c.get('p99_ms'))} |",
        f"| direct SQLAlchemy INSERT task | {_n(db['insert']['ops_per_s'], '.1f')} | "
        f"{_n(db['insert']['p50_ms'], '.1f')} | {_n(db['insert']['p95_ms'], '.1f')} | "
        f"{_n(db['insert']['p99_ms'], '.1f')} |",
        f"| direct SQLAlchemy SELECT open tasks | {_n(db['select']['ops_per_s'], '.1f')} | "
        f"{_n(db['select']['p50_ms'], '.1f')} | {_n(db['select']['p95_ms'], '.1f')} | "
        f"{_n(db['select']['p99_ms'], '.1f')} |",
        *(
            [
                f"| pgbench INSERT next to the database ({db['pgbench']['insert']['clients']} "
                f"clients, mean latency) | {_n(db['pgbench']['insert']['ops_per_s'], '.1f')} | "
                f"{_n(db['pgbench']['insert']['mean_ms'], '.1f')} (mean) | - | - |",
                f"| pgbench SELECT next to the database | "
                f"{_n(db['pgbench']['select']['ops_per_s'], '.1f')} | "
                f"{_n(db['pgbench']['select']['mean_ms'], '.1f')} (mean) | - | - |",
            ]
            if db.get("pgbench")
            else []
        ),
        "",
        (
            "Local target: the SQLAlchemy loop and pgbench reach the throwaway PostgreSQL "
            "on loopback."
            if local
            else "The SQLAlchemy loop runs on this machine and reaches PostgreSQL through a "
            "`kubectl port-forward` (a hop the service does not pay for); pgbench runs inside "
            "the PostgreSQL container and shares its CPU limit. Both are lower bounds of what "
            "the database allows."
        ),
        "",
        f"- create-task / direct insert: **{_n(r['create_vs_db_insert'], '.2f')}** "
        "(design target >= 0.5)",
        f"- create-task / no-op endpoint: **{_n(r['create_vs_health'], '.2f')}**",
        f"- no-op endpoint / direct select: {_n(r['health_vs_db_select'], '.2f')}",
        *(
            [f"- create-task / pgbench insert: **{_n(r['create_vs_pgbench_insert'], '.2f')}**"]
            if r.get("create_vs_pgbench_insert") is not None
            else []
        ),
    ]


def _glance(phases: dict) -> list[str]:
    """The headline figures, one line each."""
    lines = []
    main = phases.get("main")
    if main:
        total = main["endpoints"][AGGREGATED]
        steady = main["steady_endpoints"][AGGREGATED]
        hpa = main["hpa"]
        lines.append(
            f"- main phase: {steady['rps']:.1f} req/s, p95 {_n(steady['p95_ms'])} ms, "
            f"p99 {_n(steady['p99_ms'])} ms (sign-up excluded), error rate "
            f"{total['error_rate']:.2%}; SLO "
            + ("met" if not main["violations"] else f"**missed ({len(main['violations'])})**")
        )
        if main.get("cluster"):
            lines.append(
                f"- HPA: 3 ready MCP replicas {_n(hpa['first_at_3_s'], '.0f', ' s')} into the "
                f"load (asked for at {_n(hpa.get('desired_3_at_s'), '.0f', ' s')}); "
                f"most ready: {_n(hpa.get('max_ready'))}"
            )
    for cap in (phases.get("capacity") or {}).values():
        best = cap["sustained"]
        first = ((cap.get("saturation") or {}).get("ranked") or [{}])[0].get("component")
        lines.append(
            f"- sustained at the SLO with {cap['mcp_replicas']} MCP replica(s): "
            + (
                f"{best['rps']:.1f} req/s ({best['users']} users, p95 {best['p95_ms']:.0f} ms, "
                f"p99 {best['p99_ms']:.0f} ms)"
                if best
                else "no step met the SLO"
            )
            + (f"; saturates first: {first}" if first else "")
        )
    ceil = phases.get("ceiling")
    if ceil:
        r = ceil["ratios"]
        lines.append(
            f"- service/ceiling: create-task / direct insert {_n(r['create_vs_db_insert'], '.2f')}"
            f", create-task / no-op endpoint {_n(r['create_vs_health'], '.2f')}"
        )
    return lines


def _distributed(compared: dict | None) -> list[str]:
    """The in-cluster run next to the same scenario from one process on the host."""
    if not compared:
        return []
    rows = []
    for label, key in (
        ("in the cluster", "distributed"),
        ("one process on the host", "single_process"),
    ):
        fig = compared[key]
        rows.append(f"| {label} | {fig['requests']} | {fig['rps']:.1f} | {fig['p95_ms']} | "
                    f"{fig['error_rate']:.2%} |")  # fmt: skip
    return [
        "",
        f"Locust in the cluster: {compared['workers_connected']} of {compared['workers']} "
        "worker(s) connected before the load started. The same scenario, both ways:",
        "",
        "| Locust | requests | req/s | p95 ms | errors |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def render(result: dict, rules: slo_mod.Slo) -> str:
    meta = result["meta"]
    phases = result["phases"]
    out = [
        f"# todo-app perf report {meta['timestamp']}",
        "",
        f"- target: {meta['target']} ({meta['backend_url']}), git {meta['git'] or '?'}, "
        f"run took {meta['seconds']:.0f} s",
        *[f"- {note}" for note in meta.get("notes", [])],
        "",
        "## At a glance",
        "",
        *_glance(phases),
        "",
    ]
    main = phases.get("main")
    if main:
        v = main["violations"]
        out += [
            "## SLO (main phase)",
            "",
            "All SLOs met." if not v else "**SLO missed:**",
            *[f"- {x}" for x in v],
            "",
            f"## Main phase: {main['shape']}, MCP server HPA on",
            "",
            f"Steady throughput (sign-up excluded): "
            f"{main['steady_endpoints'][AGGREGATED]['rps']:.1f} req/s; "
            f"error rate {main['endpoints'][AGGREGATED]['error_rate']:.2%}.",
            "",
            *_endpoint_table(main["endpoints"], rules),
            *_distributed(main.get("distributed")),
            "",
            "### HPA timeline",
            "",
            *_hpa_section(main),
            "",
            *(
                ["Peak use per pod:", "", *_pods_peak(main["cluster"]), ""]
                if main["cluster"]
                else []
            ),
        ]
    caps = phases.get("capacity")
    if caps:
        out += ["## Capacity: step load with the MCP server pinned", "", *_capacity(caps, rules)]
    ceil = phases.get("ceiling")
    if ceil:
        out += ["## Ceiling: how far from what the database and the network path allow", ""]
        out += [*_ceiling(ceil, meta["target"] == "local"), ""]
    comps = result["baseline"]["comparisons"]
    out += ["## Against the baseline", ""]
    if result["baseline"].get("unreadable"):
        out += [f"Baseline not compared: {result['baseline']['unreadable']}"]
    elif not comps:
        out += [f"No baseline figures to compare ({result['baseline']['file']})."]
    else:
        flagged = [c for c in comps if c["regression"]]
        out += [
            "A figure is flagged only outside the spread the baseline's runs measured "
            f"(plus a margin of {result['baseline']['tolerance']:.0%} of the median); "
            f"{len(flagged)} of {len(comps)} figures flagged as regressions.",
            "",
            "| figure | baseline median | measured spread | this run | ratio | |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for c in comps:
            out.append(
                f"| {c['figure']} | {c['baseline']:.4g} | {c['low']:.4g} .. {c['high']:.4g} | "
                f"{c['current']:.4g} | {_n(c['ratio'], '.2f')} | "
                f"{'**REGRESSION**' if c['regression'] else ''} |"
            )
    out += ["", "## Plots", ""]
    out += [f"![{name}]({name})" for name in result.get("plots", [])]
    out += [
        "",
        "## Files",
        "",
        "- `summary.json`: every figure above, timelines and cluster samples",
        "- `<phase>_stats.csv`, `<phase>_stats_history.csv`, `<phase>_failures.csv`, "
        "`<phase>.html`: Locust's own CSV and HTML reports",
        "- `samples_<phase>.csv`: one row per request "
        "(the figures here are exact percentiles over them)",
        "",
    ]
    return "\n".join(out)
