"""SLO file loading and checks: messages name the endpoint and the figure."""

from __future__ import annotations

import pytest

from perf import slo
from perf.summary import AGGREGATED


def fig(p95=10.0, requests=100, error_rate=0.0, rps=10.0, p99=None):
    return {
        "p95_ms": p95,
        "p99_ms": p99 if p99 is not None else p95,
        "requests": requests,
        "error_rate": error_rate,
        "rps": rps,
    }


@pytest.fixture
def rules():
    return slo.Slo(
        p95_ms={"default": 100, "POST /api/v1/tasks": 50},
        error_rate=0.01,
        endpoint_error_rate=0.02,
        required=("POST /api/v1/tasks", "mcp:add_task"),
    )


def test_the_repository_slo_file_loads():
    rules = slo.load()
    assert rules.p95_limit("POST /api/v1/tasks") > 0
    assert rules.p95_limit("something new") == rules.p95_ms["default"]
    assert 0 <= rules.error_rate <= 1 and rules.tolerance >= 0
    assert "mcp:add_task" in rules.required


def test_invalid_slo_file_names_each_problem(tmp_path):
    bad = tmp_path / "slo.yaml"
    bad.write_text(
        "p95_ms: {x: -1}\nerror_rate: 2\nrequired: 5\nbaseline: {tolerance: -1}\nmin_samples: 0\n"
    )
    with pytest.raises(slo.SloError) as err:
        slo.load(bad)
    text = str(err.value)
    expected = ("default", "p95_ms['x']", "error_rate", "endpoint_error_rate", "tolerance")
    for part in (*expected, "required", "min_samples"):
        assert part in text


def test_thin_endpoints_use_the_files_min_samples(rules):
    endpoints = {"POST /api/v1/tasks": fig(900, requests=16), AGGREGATED: fig(10)}
    assert slo.check(endpoints, rules, require=False) == []  # rules.min_samples is 20
    assert slo.check({"POST /api/v1/tasks": fig(900, requests=20)}, rules, require=False)


def test_check_passes_when_everything_is_within(rules):
    endpoints = {"POST /api/v1/tasks": fig(40), "mcp:add_task": fig(90), AGGREGATED: fig(90)}
    assert slo.check(endpoints, rules) == []


def test_check_names_endpoint_and_figure(rules):
    endpoints = {
        "POST /api/v1/tasks": fig(312),
        "GET /x": fig(20, error_rate=0.05),
        AGGREGATED: fig(300, error_rate=0.03),
    }
    messages = [str(v) for v in slo.check(endpoints, rules)]
    assert "POST /api/v1/tasks: p95 312 ms > SLO 50 ms" in messages
    assert "GET /x: error_rate 5.00% > SLO 2.00%" in messages
    assert "Aggregated: error_rate 3.00% > SLO 1.00%" in messages
    assert "mcp:add_task: no requests (the scenario must exercise it)" in messages


def test_min_samples_skips_thin_endpoints(rules):
    endpoints = {"POST /api/v1/tasks": fig(500, requests=3), AGGREGATED: fig(10)}
    assert slo.check(endpoints, rules, require=False, min_samples=10) == []
    assert slo.check(endpoints, rules, require=False, min_samples=1)


def test_sustained_is_the_fastest_stage_that_met_the_slo(rules):
    def stage(users, rps, p95):
        return {"users": users, "endpoints": {"GET /x": fig(p95), AGGREGATED: fig(p95, rps=rps)}}

    stages = [stage(5, 10, 20), stage(10, 20, 60), stage(20, 35, 150), stage(40, 36, 900)]
    best = slo.sustained(stages, rules)
    assert best["users"] == 10 and best["rps"] == 20
    assert slo.sustained([stage(40, 36, 900)], rules) is None
