"""The report and the flat figures from a synthetic run (no Locust, no cluster)."""

from __future__ import annotations

import csv
import json

from perf import report, run, slo, summary
from perf.samples import COLUMNS, Sample
from perf.shapes import Step
from report.markdown import render
from report.model import FAIL, INCOMPLETE, PASS

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
        failed = "" if t != 33 else "McpError: task service unavailable"
        out.append(Sample(t + 0.2, "MCP", "mcp:add_task", 30, 10, not failed, users, failed))
    out.append(Sample(0.05, "POST", "POST /api/v1/users", 900, 10, True, 2))
    return out


def _result():
    rules = slo.load()
    got = _samples()
    profile = Step(steps=(2, 4), step_seconds=20)
    stages = summary.stage_stats(got, profile.stages())
    rows = [
        {
            "t": 0,
            "deployments": {"mcp-server": {"replicas": 1, "ready": 1}},
            "hpa": {"desired": 1},
            "pods": [{"pod": "mcp-a", "component": "mcp-server", "cpu_m": 50.0, "mem_mib": 70.0}],
        },
        {
            "t": 5,
            "deployments": {"mcp-server": {"replicas": 3, "ready": 3}},
            "hpa": {"desired": 3},
            "pods": [{"pod": "mcp-a", "component": "mcp-server", "cpu_m": 250.0, "mem_mib": 90.0}],
        },
    ]
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
        "meta": {
            "timestamp": "T",
            "git": "abc",
            "target": "local",
            "backend_url": "local",
            "seconds": 60,
            "notes": ["a note"],
            "phases_asked": ["main", "capacity", "ceiling"],
        },
        "phases": phases,
        "figures": figures,
        "baseline": {"file": "b.json", "tolerance": 0.3, "comparisons": [REGRESSED]},
    }


def _recorded(tmp_path, result: dict):
    """The run's folder as perf.run leaves it: summary.json and the main phase's requests."""
    (tmp_path / "summary.json").write_text(json.dumps(result))
    with (tmp_path / "samples_main.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows((s.t, s.type, s.name, s.ms, 10, int(s.ok), s.users) for s in _samples())
    return report.read_run(tmp_path)


def test_flat_figures_cover_every_phase(tmp_path):
    _, result = _result()
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
    _, result = _result()
    model = _recorded(tmp_path, result)
    assert model.verdict == FAIL  # the failed MCP call misses its endpoint's SLO
    text = render(model)
    assert "# todo-app perf T: FAIL" in text
    assert "- sustained at the SLO with 1 MCP replica(s): " in text
    assert "3 ready MCP replicas 5 s into the load" in text
    assert "- mcp:add_task: error_rate" in text
    assert "Sustained at the SLO: **" in text
    assert "1->3 at 5 s" in text
    assert "the busiest pod does 95% of the work (**unbalanced**" in text
    assert "create-task / direct insert: **0.10**" in text
    assert "| main.rps | 10 | 9 .. 11 | 5 | 0.50 | **REGRESSION** |" in text
    figures = ["main-latency", "main-throughput", "main-replicas-cpu", "capacity", "baseline"]
    for name in figures:
        assert f"(figures/{name}.svg)" in text
    by_name = {b.name: b for s in model.legs[0].sections for b in s.blocks if hasattr(b, "svg")}
    assert list(by_name) == figures
    latency = by_name["main-latency"].svg
    for endpoint in ("Aggregated", "POST /api/v1/tasks", "mcp:add_task"):
        assert f">{endpoint}<" in latency  # a small chart per endpoint
    assert ">POST /api/v1/users<" not in latency  # one sign-up: too few calls to chart


def test_an_slo_table_judges_each_endpoint_called_often_enough(tmp_path):
    _, result = _result()
    model = _recorded(tmp_path, result)
    slo_section = next(s for s in model.legs[0].sections if s.id == "slo")
    table = next(b for b in slo_section.blocks if hasattr(b, "rows"))
    verdicts = {row[0]: row[-1] for row in table.rows}
    assert verdicts["POST /api/v1/tasks"].verdict == PASS
    assert verdicts["mcp:add_task"].verdict == FAIL
    assert verdicts["POST /api/v1/users"].text == "not judged (< 20 requests)"
    kinds = next(b for b in slo_section.blocks if getattr(b, "caption", "") == "Failed requests "
                 "by kind")  # fmt: skip
    assert kinds.rows == [["mcp:add_task", "McpError: task service unavailable", "1"]]


def test_a_run_against_an_unreadable_baseline_says_so(tmp_path):
    _, result = _result()
    unreadable = "b.json: each figure needs median, low, high and runs"
    result["baseline"] = {
        "file": "b.json",
        "tolerance": 0.0,
        "comparisons": [],
        "unreadable": unreadable,
    }
    text = render(_recorded(tmp_path, result))
    assert "Baseline not compared: b.json: each figure needs median" in text
    assert "REGRESSION" not in text


def test_a_run_that_stopped_early_shows_what_it_measured_marked_incomplete(tmp_path):
    _, result = _result()
    del result["phases"]["ceiling"]
    result["meta"]["incomplete"] = "the run failed: locust (ceiling_health) exited with 2"
    model = _recorded(tmp_path, result)
    assert model.missing == [
        "the run failed: locust (ceiling_health) exited with 2",
        "phases not measured: ceiling",
    ]
    assert model.verdict == FAIL  # what was measured still failed an SLO
    result["phases"]["main"]["violations"] = []
    assert _recorded(tmp_path, result).verdict == INCOMPLETE


def test_a_folder_without_a_summary_is_an_incomplete_run(tmp_path):
    model = report.read_run(tmp_path)
    assert model.verdict == INCOMPLETE
    assert model.missing == ["no `summary.json`: the run stopped before it recorded any figure"]
