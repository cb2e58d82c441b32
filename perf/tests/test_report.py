"""The report and the flat figures from a synthetic run (no Locust, no cluster)."""

from __future__ import annotations

from perf import report, run, slo, summary
from perf.samples import Sample
from perf.shapes import Step

REGRESSED = {
    "figure": "main.rps",
    "baseline": 10.0,
    "low": 9.0,
    "high": 11.0,
    "current": 5.0,
    "ratio": 0.5,
    "regression": True,
}


def _samples():
    out = []
    for t in range(40):
        users = 2 if t < 20 else 4
        out.append(Sample(t + 0.1, "POST", "POST /api/v1/tasks", 20 + t, 10, True, users))
        out.append(Sample(t + 0.2, "MCP", "mcp:add_task", 30, 10, t != 33, users))
    out.append(Sample(0.05, "POST", "POST /api/v1/users", 900, 10, True, 2))
    return out


def _result(tmp_path):
    rules = slo.load()
    got = _samples()
    profile = Step(steps=(2, 4), step_seconds=20)
    stages = summary.stage_stats(got, profile.stages())
    rows = [
        {"t": 0, "deployments": {"mcp-server": {"replicas": 1, "ready": 1}}, "hpa": {"desired": 1},
         "pods": [{"pod": "mcp-a", "component": "mcp-server", "cpu_m": 50.0, "mem_mib": 70.0}]},
        {"t": 5, "deployments": {"mcp-server": {"replicas": 3, "ready": 3}}, "hpa": {"desired": 3},
         "pods": [{"pod": "mcp-a", "component": "mcp-server", "cpu_m": 250.0, "mem_mib": 90.0}]},
    ]  # fmt: skip
    endpoints = summary.endpoint_stats(got)
    phases = {
        "main": {
            "shape": profile.describe(),
            "endpoints": endpoints,
            "steady_endpoints": summary.endpoint_stats(got, exclude=summary.SETUP_NAMES),
            "timeline": summary.timeline(got),
            "cluster": rows,
            "hpa": {
                "changes": [{"t": 5, "from": 1, "to": 3}],
                "first_at_2_s": 5,
                "first_at_3_s": 5,
                "busiest_share": {"t": 5, "pods": {"mcp-a": 190.0, "mcp-b": 10.0}, "share": 0.95},
            },
            "violations": [str(v) for v in slo.check(endpoints, rules)],
        },
        "capacity": {
            "capacity_1": {
                "mcp_replicas": 1,
                "shape": profile.describe(),
                "stages": stages,
                "sustained": slo.sustained(stages, rules),
                "cluster": rows,
            }
        },
        "ceiling": {
            "users": 4,
            "seconds": 10,
            "health": {"rps": 500.0, "p50_ms": 2, "p95_ms": 5, "p99_ms": 9},
            "create": {"rps": 100.0, "p50_ms": 15, "p95_ms": 40, "p99_ms": 60},
            "db": {
                "insert": {
                    "ops_per_s": 1000.0,
                    "p50_ms": 1,
                    "p95_ms": 3,
                    "p99_ms": 5,
                    "workers": 4,
                },
                "select": {
                    "ops_per_s": 2000.0,
                    "p50_ms": 1,
                    "p95_ms": 2,
                    "p99_ms": 4,
                    "workers": 4,
                },
            },
            "ratios": {
                "create_vs_db_insert": 0.1,
                "create_vs_health": 0.2,
                "health_vs_db_select": 0.25,
            },
        },
    }
    figures = run.flat_figures(phases, min_samples=rules.min_samples)
    return rules, {
        "meta": {"timestamp": "T", "git": "abc", "target": "local", "backend_url": "local",
                 "seconds": 60, "notes": ["a note"]},
        "phases": phases,
        "figures": figures,
        "baseline": {"file": "b.json", "tolerance": 0.3, "comparisons": [REGRESSED]},
        "plots": run.make_plots(tmp_path, phases),
    }  # fmt: skip


def test_flat_figures_cover_every_phase(tmp_path):
    _, result = _result(tmp_path)
    figures = result["figures"]
    assert figures["main.p95_ms[POST /api/v1/tasks]"] is not None
    # one sign-up is fewer calls than the SLO judges: no latency figures to compare
    assert "main.p95_ms[POST /api/v1/users]" not in figures
    assert "main.p99_ms[POST /api/v1/users]" not in figures
    assert figures["main.error_rate"] > 0
    assert figures["main.hpa_first_at_3_s"] == 5
    assert figures["capacity_1.sustained_rps"] > 0
    assert figures["ceiling.ratio_create_vs_db_insert"] == 0.1


def test_report_tells_the_story(tmp_path):
    rules, result = _result(tmp_path)
    text = report.render(result, rules)
    assert "# todo-app perf report T" in text
    assert "- sustained at the SLO with 1 MCP replica(s): " in text
    assert "3 ready MCP replicas 5 s into the load" in text
    assert "mcp:add_task: error_rate" in text  # the failed MCP call misses the per-endpoint SLO
    assert "Sustained at the SLO: **" in text
    assert "1->3 at 5 s" in text
    assert "the busiest pod does 95% of the work (**unbalanced**" in text
    assert "create-task / direct insert: **0.10**" in text
    assert "**REGRESSION**" in text
    for name in ("latency.png", "throughput.png", "replicas_cpu.png", "capacity.png"):
        assert (tmp_path / name).stat().st_size > 1000
        assert f"![{name}]({name})" in text


def test_a_run_against_an_unreadable_baseline_says_so(tmp_path):
    rules, result = _result(tmp_path)
    unreadable = "b.json: each figure needs median, low, high and runs"
    result["baseline"] = {"file": "b.json", "tolerance": 0.0, "comparisons": [],
                          "unreadable": unreadable}  # fmt: skip
    text = report.render(result, rules)
    assert "Baseline not compared: b.json: each figure needs median" in text
    assert "**REGRESSION**" not in text
