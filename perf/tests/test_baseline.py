"""The baseline: medians and measured spreads from several runs; flags only outside them."""

from __future__ import annotations

import json

import pytest

from perf import baseline


def test_direction_of_each_kind_of_figure():
    assert baseline.lower_is_better("main.p95_ms[POST /api/v1/tasks]")
    assert baseline.lower_is_better("main.error_rate")
    assert baseline.lower_is_better("main.hpa_first_at_3_s")
    assert not baseline.lower_is_better("main.rps")
    assert not baseline.lower_is_better("capacity_1.sustained_rps")
    assert not baseline.lower_is_better("ceiling.ratio_create_vs_db_insert")
    assert not baseline.lower_is_better("ceiling.pgbench_insert_ops_per_s")
    assert not baseline.lower_is_better("ceiling.db_select_ops_per_s")
    # an endpoint name inside brackets does not change the figure's direction
    assert not baseline.lower_is_better("main.rps[GET /api/v1/tasks_ms]")


def _runs(*values: dict) -> list[dict]:
    return [{"meta": {"timestamp": f"t{i}"}, "figures": v} for i, v in enumerate(values)]


def test_record_keeps_median_and_spread_of_figures_every_run_has():
    doc = baseline.record(_runs({"main.rps": 100, "x.p95_ms": 20, "rare": 1},
                                {"main.rps": 120, "x.p95_ms": 30},
                                {"main.rps": 90, "x.p95_ms": 25}))  # fmt: skip
    assert doc["figures"]["main.rps"] == {"median": 100, "low": 90, "high": 120, "runs": 3}
    assert "rare" not in doc["figures"]
    assert [r["timestamp"] for r in doc["meta"]["runs"]] == ["t0", "t1", "t2"]
    with pytest.raises(ValueError, match="at least 3 runs"):
        baseline.record(_runs({"main.rps": 1}, {"main.rps": 2}))


def test_only_values_outside_the_measured_spread_are_flagged():
    spreads = {"main.rps": baseline.Spread(100, 90, 120, 3),
               "x.p95_ms": baseline.Spread(25, 20, 30, 3)}  # fmt: skip
    inside = baseline.compare({"main.rps": 91, "x.p95_ms": 29.9}, spreads)
    assert not any(c.regression for c in inside)
    outside = {c.figure: c for c in baseline.compare({"main.rps": 89, "x.p95_ms": 31}, spreads)}
    assert outside["main.rps"].regression and outside["x.p95_ms"].regression
    assert outside["main.rps"].ratio == pytest.approx(0.89)
    better = baseline.compare({"main.rps": 500, "x.p95_ms": 1}, spreads)
    assert not any(c.regression for c in better)


def test_a_margin_widens_the_spread_on_the_worse_side():
    spreads = {"main.rps": baseline.Spread(100, 90, 120, 3)}
    assert not baseline.compare({"main.rps": 85}, spreads, tolerance=0.1)[0].regression
    assert baseline.compare({"main.rps": 79}, spreads, tolerance=0.1)[0].regression
    with pytest.raises(ValueError):
        baseline.compare({}, spreads, -0.1)


def test_missing_and_non_numeric_values_are_skipped(tmp_path):
    spreads = {"c.rps": baseline.Spread(5, 4, 6, 3)}
    assert baseline.compare({"c.rps": None, "d.rps": 1}, spreads) == []
    path = tmp_path / "baseline.json"
    assert baseline.load(path) is None
    path.write_text(json.dumps({"figures": {"c.rps": 5}}))
    with pytest.raises(ValueError, match="record it again"):
        baseline.load(path)


def test_the_committed_baseline_covers_every_phase_with_a_spread():
    figures = baseline.load()
    assert figures is not None, "perf/baseline.json is missing: python -m perf.baseline record"
    for key in (
        "main.rps",
        "main.error_rate",
        "main.p95_ms[POST /api/v1/tasks]",
        "capacity_1.sustained_rps",
        "capacity_3.sustained_rps",
        "ceiling.ratio_create_vs_db_insert",
    ):
        assert figures[key].runs >= baseline.MIN_RUNS, key
        assert figures[key].low <= figures[key].median <= figures[key].high, key
