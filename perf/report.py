"""A perf run as the report's model, read from its folder (reports/perf/<UTC timestamp>/).

Recorded there by `perf.run`: `summary.json` (every figure, the timelines, the
cluster samples, the SLOs the run was judged by, the bring-up's facts),
`samples_<phase>.csv` (one row per request), `phases.jsonl` (the run's timed
steps), Locust's own `<phase>.html`. `read_run(folder)` makes the
`report.model.Run`; `write(folder)` renders it (`index.html`, `report.md`,
`figures/`). A run that stopped early is shown with what it recorded, marked
incomplete.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import fields
from pathlib import Path

from perf import plots, samples
from perf import slo as slo_mod
from perf.summary import AGGREGATED, SETUP_NAMES
from perf.summary import timeline as bucketed
from report import Written, timeline
from report import bring_up as bring_up_facts
from report import write as write_renderings
from report.model import (
    FAIL,
    PASS,
    Bullets,
    Cell,
    Fact,
    Leg,
    Link,
    Links,
    Paragraph,
    Run,
    Section,
    Table,
)

SUMMARY = "summary.json"
MARKDOWN = "report.md"
PHASES = "phases.jsonl"
PERF_PHASES = ("main", "capacity", "ceiling")


def _n(value, fmt: str = ".0f", unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:{fmt}}{unit}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def rules_of(result: dict) -> slo_mod.Slo:
    """The SLOs the run was judged by (recorded with it), else today's perf/slo.yaml."""
    recorded = result.get("slo")
    if not recorded:
        return slo_mod.load()
    known = {f.name for f in fields(slo_mod.Slo)}
    given = {k: v for k, v in recorded.items() if k in known}
    given["required"] = tuple(given.get("required") or ())
    return slo_mod.Slo(**given)


# --- sections ------------------------------------------------------------------------------------


def _glance(phases: dict) -> list[str]:
    """The headline figures, one line each."""
    lines = []
    main = phases.get("main")
    if main:
        total = main["endpoints"][AGGREGATED]
        steady = main["steady_endpoints"][AGGREGATED]
        hpa = main["hpa"]
        lines.append(
            f"main phase: {steady['rps']:.1f} req/s, p95 {_n(steady['p95_ms'])} ms, "
            f"p99 {_n(steady['p99_ms'])} ms (sign-up excluded), error rate "
            f"{total['error_rate']:.2%}; SLO "
            + ("met" if not main["violations"] else f"**missed ({len(main['violations'])})**")
        )
        if main.get("cluster"):
            lines.append(
                f"HPA: 3 ready MCP replicas {_n(hpa['first_at_3_s'], '.0f', ' s')} into the "
                f"load (asked for at {_n(hpa.get('desired_3_at_s'), '.0f', ' s')}); "
                f"most ready: {_n(hpa.get('max_ready'))}"
            )
    for cap in (phases.get("capacity") or {}).values():
        best = cap["sustained"]
        first = ((cap.get("saturation") or {}).get("ranked") or [{}])[0].get("component")
        lines.append(
            f"sustained at the SLO with {cap['mcp_replicas']} MCP replica(s): "
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
            f"service/ceiling: create-task / direct insert {_n(r['create_vs_db_insert'], '.2f')}"
            f", create-task / no-op endpoint {_n(r['create_vs_health'], '.2f')}"
        )
    return lines


def _endpoint_table(endpoints: dict, rules: slo_mod.Slo) -> Table:
    rows = []
    for name, f in endpoints.items():
        limit = rules.p95_limit(name) if name != AGGREGATED else None
        verdict = None
        note = ""
        if limit is not None and f["requests"] < rules.min_samples:
            note = f"not judged (< {rules.min_samples} requests)"
        elif limit is not None and f["p95_ms"] is not None:
            met = f["p95_ms"] <= limit and f["error_rate"] <= rules.endpoint_error_rate
            verdict = PASS if met else FAIL
        elif name == AGGREGATED and f["requests"]:
            verdict = PASS if f["error_rate"] <= rules.error_rate else FAIL
            note = f"error rate SLO {rules.error_rate:.0%}"
        rows.append(
            [
                name,
                str(f["requests"]),
                _n(f["rps"], ".1f"),
                _n(f["p50_ms"]),
                _n(f["p95_ms"]),
                _n(f["p99_ms"]),
                _pct(f["error_rate"]),
                _n(limit),
                Cell(note, verdict=verdict),
            ]
        )
    return Table(
        [
            "endpoint",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "p95 SLO",
            "verdict",
        ],
        rows,
        numeric=(1, 2, 3, 4, 5, 6, 7),
    )


def _distributed(compared: dict | None) -> list:
    """The in-cluster run next to the same scenario from one process on the host."""
    if not compared:
        return []
    rows = []
    for label, key in (
        ("in the cluster", "distributed"),
        ("one process on the host", "single_process"),
    ):
        fig = compared[key]
        rows.append(
            [
                label,
                str(fig["requests"]),
                f"{fig['rps']:.1f}",
                _n(fig["p95_ms"]),
                _pct(fig["error_rate"]),
            ]
        )
    return [
        Paragraph(
            f"Locust in the cluster: {compared['workers_connected']} of "
            f"{compared['workers']} worker(s) connected before the load started. The "
            "same scenario, both ways:"
        ),
        Table(["Locust", "requests", "req/s", "p95 ms", "errors"], rows, numeric=(1, 2, 3, 4)),
    ]


def _slo_section(main: dict, rules: slo_mod.Slo) -> Section:
    violations = main["violations"]
    blocks: list = [
        Paragraph(
            f"Main phase: {main['shape']}, the MCP server's HPA on. "
            + ("**All SLOs met.**" if not violations else "**SLO missed:**")
        ),
    ]
    if violations:
        blocks.append(Bullets(list(violations)))
    steady = main["steady_endpoints"][AGGREGATED]
    blocks.append(
        Paragraph(
            f"Steady throughput (sign-up excluded): {steady['rps']:.1f} req/s; "
            f"error rate {main['endpoints'][AGGREGATED]['error_rate']:.2%}."
        )
    )
    blocks.append(_endpoint_table(main["endpoints"], rules))
    blocks += _errors_by_kind(main["endpoints"])
    blocks += _distributed(main.get("distributed"))
    return Section("slo", "SLOs (main phase)", blocks)


def _errors_by_kind(endpoints: dict) -> list:
    """The failed requests of each endpoint by kind (HTTP status, or exception)."""
    rows = [
        [name, kind, str(count)]
        for name, f in endpoints.items()
        if name != AGGREGATED
        for kind, count in (f.get("errors_by_kind") or {}).items()
    ]
    if not rows:
        return [Paragraph("No request failed.")]
    return [Table(["endpoint", "failed as", "requests"], rows, numeric=(2,),
                  caption="Failed requests by kind")]  # fmt: skip


def _per_endpoint(folder: Path, phase: str, rules: slo_mod.Slo) -> dict[str, list[dict]]:
    """5 s buckets per endpoint (every endpoint called at least min_samples times), from the
    phase's recorded requests; the aggregated row first."""
    path = folder / f"samples_{phase}.csv"
    if not path.exists():
        return {}
    got = samples.read(path)
    by_name: dict[str, list] = defaultdict(list)
    for s in got:
        by_name[s.name].append(s)
    out = {AGGREGATED: bucketed([s for s in got if s.name not in SETUP_NAMES])}
    for name in sorted(by_name):
        if len(by_name[name]) >= rules.min_samples and name not in SETUP_NAMES:
            out[name] = bucketed(by_name[name])
    return out


def _over_time(folder: Path, main: dict, rules: slo_mod.Slo) -> Section:
    per_endpoint = _per_endpoint(folder, "main", rules)
    note = []
    if not per_endpoint and main.get("timeline"):
        per_endpoint = {AGGREGATED: main["timeline"]}
        note = [
            Paragraph(
                "The phase's requests were not kept (`samples_main.csv`): all "
                "endpoints together only."
            )
        ]
    limit = lambda name: None if name == AGGREGATED else rules.p95_limit(name)  # noqa: E731
    blocks = [f for f in (plots.latency(per_endpoint, limit), plots.throughput(per_endpoint)) if f]
    return Section("over-time", "Latency and throughput over time", note + blocks)


def _hpa_section(main: dict) -> Section:
    rows = main.get("cluster") or []
    if not rows:
        return Section(
            "hpa",
            "The MCP server's HPA (main phase)",
            [Paragraph("No cluster sampling in this run (local target).")],
        )
    hpa = main["hpa"]
    errors = sorted({r["metrics_error"][:160] for r in rows if r.get("metrics_error")})
    errors += sorted({r["error"][:160] for r in rows if r.get("error")})
    bullets = [f"sampling problem seen: `{e}`" for e in errors]
    bullets.append(
        f"2 ready MCP replicas first seen at: {_n(hpa['first_at_2_s'], '.0f', ' s')}; "
        f"3 at: {_n(hpa['first_at_3_s'], '.0f', ' s')} (seconds into the phase; the HPA "
        f"asked for 3 at {_n(hpa.get('desired_3_at_s'), '.0f', ' s')}); "
        f"most ready replicas seen: {_n(hpa.get('max_ready'))}"
    )
    split = hpa.get("busiest_share")
    if split:
        pods = ", ".join(f"{pod[-5:]} {cpu:.0f} m" for pod, cpu in sorted(split["pods"].items()))
        line = (
            f"MCP CPU across pods at {split['t']:.0f} s: {pods}; the busiest pod does "
            f"{split['share']:.0%} of the work"
        )
        if split["share"] > 0.6:
            line += (
                " (**unbalanced**: kube-proxy balances connections, not requests, and the "
                "backend's keep-alive connections stay on the pods that existed when they "
                "opened)"
            )
        bullets.append(line)
    bullets.append(
        "replica changes: "
        + (", ".join(f"{c['from']}->{c['to']} at {c['t']:.0f} s" for c in hpa["changes"]) or "none")
    )
    table_rows = []
    for row in rows:
        deps = row.get("deployments") or {}
        mcp, backend = deps.get("mcp-server") or {}, deps.get("backend") or {}
        hpa_row = row.get("hpa") or {}
        pods = [p for p in row.get("pods") or [] if p["component"] == "mcp-server"]
        table_rows.append(
            [
                f"{row['t']:.0f}",
                str(mcp.get("ready", "-")),
                str(hpa_row.get("desired", "-")),
                _n(hpa_row.get("cpu_pct")),
                str(backend.get("ready", "-")),
                ", ".join(_n(p["cpu_m"]) for p in pods) or "-",
                ", ".join(_n(p["mem_mib"]) for p in pods) or "-",
            ]
        )
    blocks: list = [Bullets(bullets)]
    figure = plots.replicas_cpu(rows)
    if figure:
        blocks.append(figure)
    blocks.append(
        Table(
            [
                "t (s)",
                "MCP ready",
                "HPA desired",
                "HPA CPU %",
                "backend ready",
                "MCP pods CPU m",
                "MCP pods MiB",
            ],
            table_rows,
            numeric=(0, 1, 2, 3, 4),
        )
    )
    peaks = _pods_peak(rows)
    if peaks:
        blocks.append(peaks)
    return Section("hpa", "The MCP server's HPA (main phase)", blocks)


def _pods_peak(rows: list[dict]) -> Table | None:
    peak: dict[str, tuple[float, float]] = {}
    for row in rows:
        for p in row.get("pods") or []:
            cpu, mem = peak.get(p["pod"], (0.0, 0.0))
            peak[p["pod"]] = (max(cpu, p["cpu_m"]), max(mem, p["mem_mib"]))
    if not peak:
        return None
    return Table(
        ["pod", "peak CPU (m)", "peak memory (MiB)"],
        [[pod, f"{cpu:.0f}", f"{mem:.0f}"] for pod, (cpu, mem) in sorted(peak.items())],
        numeric=(1, 2),
        caption="Peak use per pod",
    )


def _saturated(found: dict | None) -> list:
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
        Paragraph(
            f"Saturates first at {found['users']} users: **{first['component']}** "
            f"(busiest pod {first['cpu_m']}m, {share}); then "
            f"{others or 'nothing else sampled'}."
        )
    ]


def _capacity(caps: dict, rules: slo_mod.Slo) -> Section:
    blocks: list = []
    figure = plots.capacity(
        {f"{c['mcp_replicas']} MCP replica(s)": c["stages"] for c in caps.values()}
    )
    if figure:
        blocks.append(figure)
    for cap in caps.values():
        best = cap["sustained"]
        held = (
            f"**{best['rps']:.1f} req/s** at {best['users']} users (p95 "
            f"{best['p95_ms']:.0f} ms, p99 {best['p99_ms']:.0f} ms, errors "
            f"{best['error_rate']:.2%})"
            if best
            else "**no step met the SLO**"
        )
        replicas = f"**{cap['mcp_replicas']} MCP replica(s)** ({cap['shape']})"
        blocks.append(Paragraph(f"{replicas}. Sustained at the SLO: {held}"))
        rows = []
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
            rows.append(
                [
                    str(stage["users"]),
                    f"{total['rps']:.1f}",
                    _n(total["p50_ms"]),
                    _n(total["p95_ms"]),
                    _n(total["p99_ms"]),
                    _pct(total["error_rate"]),
                    f"{worst[0]} {_n(worst[1])}",
                    Cell(
                        "" if not missed else str(missed[0]), verdict=PASS if not missed else FAIL
                    ),
                ]
            )
        blocks.append(
            Table(
                [
                    "users",
                    "req/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "errors",
                    "worst endpoint p95",
                    "SLO",
                ],
                rows,
                numeric=(0, 1, 2, 3, 4, 5),
            )
        )
        blocks += _saturated(cap.get("saturation"))
        peaks = _pods_peak(cap.get("cluster") or [])
        if peaks:
            blocks.append(peaks)
    return Section("capacity", "Capacity: step load with the MCP server pinned", blocks)


def _ceiling(ceil: dict, local: bool) -> Section:
    h, c, db = ceil["health"], ceil["create"], ceil["db"]
    r = ceil["ratios"]
    rows = [
        [
            "GET /health via NodePort (network path, no-op)",
            _n(h.get("rps"), ".1f"),
            _n(h.get("p50_ms")),
            _n(h.get("p95_ms")),
            _n(h.get("p99_ms")),
        ],
        [
            "POST /api/v1/tasks (backend -> MCP -> PostgreSQL)",
            _n(c.get("rps"), ".1f"),
            _n(c.get("p50_ms")),
            _n(c.get("p95_ms")),
            _n(c.get("p99_ms")),
        ],
        [
            "direct SQLAlchemy INSERT task",
            _n(db["insert"]["ops_per_s"], ".1f"),
            _n(db["insert"]["p50_ms"], ".1f"),
            _n(db["insert"]["p95_ms"], ".1f"),
            _n(db["insert"]["p99_ms"], ".1f"),
        ],
        [
            "direct SQLAlchemy SELECT open tasks",
            _n(db["select"]["ops_per_s"], ".1f"),
            _n(db["select"]["p50_ms"], ".1f"),
            _n(db["select"]["p95_ms"], ".1f"),
            _n(db["select"]["p99_ms"], ".1f"),
        ],
    ]
    bench = db.get("pgbench")
    if bench:
        rows += [
            [
                f"pgbench INSERT next to the database ({bench['insert']['clients']} clients, mean "
                "latency)",
                _n(bench["insert"]["ops_per_s"], ".1f"),
                _n(bench["insert"]["mean_ms"], ".1f") + " (mean)",
                "-",
                "-",
            ],
            [
                "pgbench SELECT next to the database",
                _n(bench["select"]["ops_per_s"], ".1f"),
                _n(bench["select"]["mean_ms"], ".1f") + " (mean)",
                "-",
                "-",
            ],
        ]
    where = (
        "Local target: the SQLAlchemy loop and pgbench reach the throwaway PostgreSQL on loopback."
        if local
        else "The SQLAlchemy loop runs on this machine and reaches PostgreSQL through a "
        "`kubectl port-forward` (a hop the service does not pay for); pgbench runs inside the "
        "PostgreSQL container and shares its CPU limit. Both are lower bounds of what the "
        "database allows."
    )
    ratios = [
        f"create-task / direct insert: **{_n(r['create_vs_db_insert'], '.2f')}** "
        "(design target >= 0.5)",
        f"create-task / no-op endpoint: **{_n(r['create_vs_health'], '.2f')}**",
        f"no-op endpoint / direct select: {_n(r['health_vs_db_select'], '.2f')}",
    ]
    if r.get("create_vs_pgbench_insert") is not None:
        ratios.append(
            f"create-task / pgbench insert: **{_n(r['create_vs_pgbench_insert'], '.2f')}**"
        )
    return Section(
        "ceiling",
        "Ceiling: how far from what the database and the network allow",
        [
            Paragraph(
                f"Same Locust settings for both HTTP rows: {ceil['users']} users, no think "
                f"time, {ceil['seconds']:.0f} s (first seconds skipped); the database loop "
                f"uses {db['insert']['workers']} threads."
            ),
            Table(["what", "ops/s", "p50 ms", "p95 ms", "p99 ms"], rows, numeric=(1, 2, 3, 4)),
            Paragraph(where),
            Bullets(ratios),
        ],
    )


def _baseline(base: dict) -> Section:
    comps = base.get("comparisons") or []
    if base.get("unreadable"):
        blocks: list = [Paragraph(f"Baseline not compared: {base['unreadable']}")]
    elif not comps:
        blocks = [Paragraph(f"No baseline figures to compare ({base.get('file')}).")]
    else:
        flagged = [c for c in comps if c["regression"]]
        blocks = [
            Paragraph(
                "A figure is flagged only outside the spread the baseline's runs measured (plus a "
                f"margin of {base['tolerance']:.0%} of the median); {len(flagged)} of {len(comps)} "
                "figures flagged as regressions."
            )
        ]
        figure = plots.baseline(comps, base["tolerance"])
        if figure:
            blocks.append(figure)
        blocks.append(
            Table(
                ["figure", "baseline median", "measured spread", "this run", "ratio", ""],
                [
                    [
                        c["figure"],
                        f"{c['baseline']:.4g}",
                        f"{c['low']:.4g} .. {c['high']:.4g}",
                        f"{c['current']:.4g}",
                        _n(c["ratio"], ".2f"),
                        Cell("", verdict="REGRESSION") if c["regression"] else "",
                    ]
                    for c in comps
                ],
                numeric=(1, 3, 4),
            )
        )
    return Section("baseline", "Against the baseline", blocks)


def _locust_pages(folder: Path) -> Section | None:
    pages = sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime)
    pages = [p for p in pages if p.name != "index.html"]
    if not pages:
        return None
    return Section(
        "locust",
        "Locust's own reports",
        [Links([Link(f"{p.stem} ({p.stat().st_size // 1024} KiB)", p.name) for p in pages])],
    )


# --- the run ----------------------------------------------------------------------------------


def _missing(result: dict, asked: list[str]) -> list[str]:
    if not result:
        return ["no `summary.json`: the run stopped before it recorded any figure"]
    out = []
    meta = result.get("meta") or {}
    if meta.get("incomplete"):
        out.append(meta["incomplete"])
    left = [p for p in asked if p not in (result.get("phases") or {})]
    if left:
        out.append("phases not measured: " + ", ".join(left))
    return out


def _decided(meta: dict) -> list[Fact]:
    facts = [Fact("Target", f"{meta.get('target')} ({meta.get('backend_url')})")]
    if meta.get("shape"):
        facts.append(Fact("Main phase shape", str(meta["shape"])))
    if meta.get("phases_asked"):
        facts.append(Fact("Phases asked for", ", ".join(meta["phases_asked"])))
    facts += [Fact("Note", note) for note in meta.get("notes") or []]
    return facts


def _started(meta: dict) -> float | None:
    if meta.get("started"):
        return float(meta["started"])
    try:
        return time.mktime(time.strptime(meta["timestamp"], "%Y%m%dT%H%M%SZ")) - time.timezone
    except (KeyError, ValueError):
        return None


def _stage_times(phases) -> dict[str, float | None]:
    measured = [p for p in phases if p.name.startswith("phase ")]
    return {
        "bring_up_from": min((p.started for p in phases if p.name == "cluster up"), default=None),
        "tests_from": min((p.started for p in measured), default=None),
        "teardown_from": max((p.started + p.seconds for p in measured), default=None),
    }


def read_run(folder: Path) -> Run:
    summary = folder / SUMMARY
    try:
        result = json.loads(summary.read_text()) if summary.exists() else {}
    except ValueError:
        result = {}
    meta = result.get("meta") or {}
    bring_up = meta.get("bring_up") or {}
    rules = rules_of(result)
    phases = result.get("phases") or {}
    run = Run(
        kind="perf",
        title=f"todo-app perf {meta.get('timestamp') or folder.name}",
        run_id=meta.get("timestamp") or folder.name,
        commit=bring_up_facts.commit(bring_up) or str(meta.get("git") or ""),
        started=_started(meta),
        seconds=meta.get("seconds"),
        decided=_decided(meta) + bring_up_facts.decided(bring_up),
        versions=bring_up_facts.versions(bring_up),
        missing=_missing(result, meta.get("phases_asked") or []),
    )
    steps = timeline.read(folder / PHASES)
    run.phases = timeline.stages(steps, **_stage_times(steps))
    run.timeline = timeline.section(run.phases)
    main = phases.get("main")
    if main:
        run.own_verdict = PASS if not main["violations"] else FAIL
    sections = []
    glance = _glance(phases)
    if glance:
        sections.append(Section("glance", "At a glance", [Bullets(glance)]))
    if main:
        sections += [_slo_section(main, rules), _over_time(folder, main, rules), _hpa_section(main)]
    if phases.get("capacity"):
        sections.append(_capacity(phases["capacity"], rules))
    if phases.get("ceiling"):
        sections.append(_ceiling(phases["ceiling"], meta.get("target") == "local"))
    if result:
        sections.append(_baseline(result.get("baseline") or {}))
    locust = _locust_pages(folder)
    if locust:
        sections.append(locust)
    run.legs = [Leg(name=meta.get("target") or "perf", sections=sections)]
    names = [SUMMARY, MARKDOWN, PHASES, *sorted(p.name for p in folder.glob("samples_*.csv"))]
    run.files = [Link(n, n) for n in names if (folder / n).exists() or n == MARKDOWN]
    index = folder.parent.parent / "index.html"  # reports/index.html, beside perf/<run>/
    if index.exists():
        run.files.append(
            Link(
                "reports/index.html: the e2e run and every perf run", os.path.relpath(index, folder)
            )
        )
    return run


def write(folder: Path, *, step_summary: bool = False) -> Written:
    return write_renderings(read_run(folder), folder, MARKDOWN, step_summary=step_summary)
