"""The human-readable e2e report: reports/e2e-summary.md and reports/hpa-timeline.png.

Built from what the run recorded: reports/e2e-results.json (the tests'
measurements and outcomes per promise, the bring-up's facts) and the run's
phase file (reports/e2e-phases.jsonl, wall time per step of every process).
The JUnit XML (reports/e2e-junit.xml) comes from pytest. `python -m e2e.report`
(`nox -s report`) rebuilds both from those files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from toolchain.progress import phases_file, read_phases

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"
PHASES_FILE = REPORTS_DIR / "e2e-phases.jsonl"

DEFAULT_PROMISES = {
    0: "cluster",
    1: "install",
    2: "startup",
    3: "health",
    4: "backend -> MCP",
    5: "resources",
    6: "HPA",
    7: "rollback and switches",
    8: "faults",
    9: "security",
    10: "helm test",
    11: "node drain",
    12: "upgrade",
}


def plot_hpa(samples: list[dict[str, Any]], summary: dict[str, Any], path: Path) -> Path | None:
    """Replicas, HPA CPU % and req/s over time, one PNG."""
    if not samples:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, sharex=True, figsize=(9, 7))
    ax1.step(t, [s["replicas"] for s in samples], where="post", label="desired (Deployment)")
    ax1.step(t, [s["ready"] for s in samples], where="post", label="ready", linestyle="--")
    ax1.set_ylabel("MCP replicas")
    ax1.set_ylim(0, (summary.get("max_replicas") or 3) + 1)
    ax1.legend(loc="upper right")
    cpu = [(s["t"], s["cpu_percent"]) for s in samples if s.get("cpu_percent") is not None]
    if cpu:
        ax2.plot([c[0] for c in cpu], [c[1] for c in cpu], color="tab:red")
    target = summary.get("target_cpu_percent")
    if target:
        ax2.axhline(target, color="grey", linestyle=":", label=f"target {target}%")
        ax2.legend(loc="upper right")
    ax2.set_ylabel("HPA CPU % of request")
    rps = [(s["t"], s["rps"]) for s in samples if s.get("rps") is not None]
    if rps:
        ax3.plot([r[0] for r in rps], [r[1] for r in rps], color="tab:green")
    ax3.set_ylabel("req/s (Locust)")
    ax3.set_xlabel("seconds since load start")
    stop = summary.get("load_seconds")
    for ax in (ax1, ax2, ax3):
        if stop:
            ax.axvline(stop, color="black", linewidth=0.8, linestyle="--")
        ax.grid(alpha=0.3)
    fig.suptitle("MCP server HPA under Locust load (dashed line: load stops)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def _resource_rows(data: dict[str, Any]) -> list[str]:
    idle = (data.get("resources_idle") or {}).get("peaks") or {}
    load = (data.get("resources_load") or {}).get("peaks") or {}
    limits = (data.get("resources_load") or data.get("resources_idle") or {}).get("limits") or {}
    rows = []
    for key in sorted(set(idle) | set(load)):
        component = next((c for c in limits if f"-{c}-" in key), None)
        lim = limits.get(component, {}) if component else {}
        i, ld = idle.get(key, {}), load.get(key, {})
        rows.append(
            f"| {key} | {_fmt(i.get('cpu_m'), 'm')} | {_fmt(ld.get('cpu_m'), 'm')} | "
            f"{_fmt(lim.get('cpu_m'), 'm')} | {_fmt(i.get('mem_mi'), 'Mi')} | "
            f"{_fmt(ld.get('mem_mi'), 'Mi')} | {_fmt(lim.get('mem_mi'), 'Mi')} |"
        )
    return rows


def _step_table(steps: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| step | seconds | requests | failed | longest gap (s) | acknowledged | data kept | MCP "
        "| MCP replicas (lowest) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for st in steps:
        lowest = st.get("mcp_replicas_lowest")
        lines.append(
            f"| {st['step']} | {st['seconds']} | {st['requests']} | {st['failed']} | "
            f"{st['longest_gap_s']} | {st['acknowledged']} | {st.get('data_kept', 'yes')} | "
            f"{'yes' if st.get('mcp_server', True) else 'no'} | "
            f"{'-' if lowest is None else lowest} |"
        )
    return [*lines, ""]


def _verdict(tests: dict[str, str]) -> str:
    """PASS, FAIL, NOT PROVABLE (with every unproven test saying why) or not run."""
    if not tests:
        return "not run"
    if all(v == "passed" for v in tests.values()):
        return "PASS"
    if any(v == "failed" for v in tests.values()):
        return "FAIL"
    if all(v.startswith("not applicable") for v in tests.values()):
        return "N/A"
    if all(v == "passed" or v.startswith("not provable") for v in tests.values()):
        return "NOT PROVABLE" if all(v != "passed" for v in tests.values()) else "PASS (part)"
    return "FAIL"


def _bring_up(facts: dict[str, Any]) -> list[str]:
    if not facts:
        return []
    choice = facts.get("choice") or {}
    images = choice.get("images") or {}
    cluster = facts.get("cluster") or {}
    lines = [
        f"Cluster `{cluster.get('name')}` ({'kind' if cluster.get('kind') else 'not kind'}, "
        f"{cluster.get('nodes')} node(s), "
        f"{'created by this run' if cluster.get('created_by_run') else 'not created by this run'}"
        f"). Values: {facts.get('values')}.",
        "",
        f"Decided once for the run: image source **{choice.get('source')}** "
        f"({choice.get('source_reason')}); NetworkPolicy enforcer **{choice.get('enforcer')}** "
        f"({choice.get('enforcer_reason')}). Images: node `{images.get('node')}`, app "
        f"`{images.get('app')}`, PostgreSQL `{images.get('postgres_repository')}:"
        f"{images.get('postgres_tag')}`.",
        "",
    ]
    caps = facts.get("capabilities") or {}
    if caps:
        lines += ["What the cluster offers: " + ", ".join(
            f"{need} {'yes' if why is None else 'no (' + why + ')'}" for need, why in caps.items()
        ) + ".", ""]  # fmt: skip
    for key in ("created", "deleted"):
        if facts.get(key):
            lines += [f"The run {key}: " + "; ".join(facts[key]) + ".", ""]
    return lines


def write_report(out_dir: Path = REPORTS_DIR, promises: dict[int, str] | None = None) -> Path:
    promises = promises or DEFAULT_PROMISES
    data = json.loads((out_dir / "e2e-results.json").read_text())
    phases = read_phases(phases_file() or PHASES_FILE)
    outcomes: dict[str, dict[str, str]] = data.get("outcomes", {})
    lines = [f"# e2e summary (run {data.get('run_id')})", ""]
    lines += _bring_up(data.get("bring_up") or {})

    lines += ["## Promises", "", "| # | promise | result | tests |", "|---|---|---|---|"]
    for number, text in promises.items():
        tests = outcomes.get(str(number), {})
        verdict = _verdict(tests)
        detail = "; ".join(f"{k}: {v}" for k, v in tests.items() if v != "passed")
        lines.append(
            f"| {number} | {text} | {verdict} | {len(tests)} run{'; ' + detail if detail else ''} |"
        )
    lines.append("")

    if phases:
        ordered = sorted(phases, key=lambda p: p.get("started", 0.0))
        lines += ["## Phases (wall time)", "", "| phase | seconds | status |", "|---|---|---|"]
        lines += [
            f"| {'&nbsp;&nbsp;' * p['depth']}{p['name']} | {p['seconds']:.1f} | {p['status']} |"
            for p in ordered
        ]
        lines.append("")

    startup = data.get("startup") or {}
    if startup:
        lines += [
            "## Startup (pod created -> Ready)",
            "",
            "| pod | component | seconds |",
            "|---|---|---|",
        ]
        lines += [
            f"| {r['pod']} | {r['component']} | {r['seconds']:.1f} |" for r in startup["pods"]
        ]
        if startup.get("objects_created_to_all_ready_s") is not None:
            lines += [
                "",
                "Release objects created -> every pod Ready: "
                f"{startup['objects_created_to_all_ready_s']:.1f} s. Per pod, seconds after "
                "creation: "
                + "; ".join(f"{r['component']} {r.get('steps_s')}" for r in startup["pods"]),
            ]
        med = startup.get("median_by_component") or {}
        lines += [
            "",
            "Median per component: " + ", ".join(f"{c} {v:.1f} s" for c, v in sorted(med.items())),
            "",
        ]

    hpa = data.get("hpa") or {}
    if hpa:
        lines += [
            "## HPA timeline",
            "",
            f"HPA {hpa['min_replicas']} -> {hpa['max_replicas']} at "
            f"{hpa['target_cpu_percent']}% CPU; load ran {hpa['load_seconds']} s "
            f"({(hpa.get('locust') or {}).get('users')} Locust users).",
            "",
            "| figure | seconds |",
            "|---|---|",
            f"| load start -> 2 replicas (decided) | {_fmt(hpa.get('to_2_replicas_s'))} |",
            f"| load start -> {hpa['max_replicas']} replicas (decided) | "
            f"{_fmt(hpa.get('to_max_replicas_s'))} |",
            f"| load start -> 2 ready | {_fmt(hpa.get('to_2_ready_s'))} |",
            f"| load start -> {hpa['max_replicas']} ready | {_fmt(hpa.get('to_max_ready_s'))} |",
            f"| load stop -> back to {hpa['min_replicas']} | "
            f"{_fmt(hpa.get('back_to_min_after_stop_s'))} |",
            "",
            f"Peak HPA CPU {_fmt(hpa.get('peak_cpu_percent'), '%')}, peak "
            f"{_fmt(hpa.get('peak_rps'))} req/s. Locust totals: {hpa.get('locust')}.",
            "",
        ]
        if hpa.get("new_pod_startup_s"):
            lines += [
                "Startup of pods the HPA added: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in hpa["new_pod_startup_s"].items()),
                "",
            ]
        png = plot_hpa(data.get("hpa_samples") or [], hpa, out_dir / "hpa-timeline.png")
        if png:
            lines += [f"![HPA timeline]({png.name})", ""]

    rows = _resource_rows(data)
    if rows:
        lines += [
            "## Resources (metrics-server peaks vs limits)",
            "",
            "| pod/container | CPU idle | CPU load | CPU limit | mem idle | mem load | mem limit |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]

    upgrade = data.get("upgrade") or {}
    if upgrade.get("steps"):
        lines += [
            "## Upgrade, rollback, switch of values (in-cluster client writing throughout)",
            "",
            f"Earlier revision: `{upgrade['from'][:12]}` ({upgrade['chosen_by']}), with values "
            f"{', '.join(upgrade.get('values') or []) or 'as shipped'}.",
            "",
            *_step_table(upgrade["steps"]),
        ]
    drain = data.get("drain") or {}
    if drain.get("steps"):
        lines += ["## Node drain", "", f"Spread before the drain: {drain.get('spread')}.", "",
                  *_step_table(drain["steps"])]  # fmt: skip

    for key, title in (("faults", "Faults"), ("netpol", "NetworkPolicy")):
        if data.get(key):
            lines += [f"## {title}", "", "```json", json.dumps(data[key], indent=2), "```", ""]

    path = out_dir / "e2e-summary.md"
    path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    print(write_report())
    sys.exit(0)
