"""Baseline comparison: ratios, direction of 'worse', regressions beyond the tolerance."""

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
    # an endpoint name inside brackets does not change the figure's direction
    assert not baseline.lower_is_better("main.rps[GET /api/v1/tasks_ms]")


def test_compare_flags_only_changes_beyond_tolerance():
    base = {"main.p95_ms[A]": 100, "main.rps": 50, "main.p99_ms[A]": 100, "only.base": 1}
    cur = {"main.p95_ms[A]": 140, "main.rps": 30, "main.p99_ms[A]": 120, "only.cur": 1}
    rows = {c.figure: c for c in baseline.compare(cur, base, tolerance=0.3)}
    assert set(rows) == {"main.p95_ms[A]", "main.rps", "main.p99_ms[A]"}
    assert rows["main.p95_ms[A]"].ratio == pytest.approx(1.4) and rows["main.p95_ms[A]"].regression
    assert rows["main.rps"].ratio == pytest.approx(0.6) and rows["main.rps"].regression
    assert not rows["main.p99_ms[A]"].regression


def test_improvements_are_not_regressions():
    rows = baseline.compare({"x.p95_ms": 10, "x.rps": 500}, {"x.p95_ms": 100, "x.rps": 50}, 0.1)
    assert not any(r.regression for r in rows)


def test_zero_and_missing_values():
    rows = {
        c.figure: c
        for c in baseline.compare(
            {"a.error_rate": 0.02, "b.error_rate": 0.0, "c.rps": None},
            {"a.error_rate": 0.0, "b.error_rate": 0.0, "c.rps": 5},
            0.3,
        )
    }
    assert rows["a.error_rate"].ratio is None and rows["a.error_rate"].regression
    assert rows["b.error_rate"].ratio == 1.0 and not rows["b.error_rate"].regression
    assert "c.rps" not in rows
    with pytest.raises(ValueError):
        baseline.compare({}, {}, -0.1)


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "baseline.json"
    assert baseline.load(path) is None
    baseline.save({"meta": {"git": "abc"}, "figures": {"main.rps": 12.5}}, path)
    assert baseline.load(path) == {"main.rps": 12.5}
    assert json.loads(path.read_text())["meta"] == {"git": "abc"}


def test_the_committed_baseline_covers_every_phase():
    figures = baseline.load()
    assert figures is not None, (
        "perf/baseline.json is missing: run nox -s perf -- --update-baseline"
    )
    for key in (
        "main.rps",
        "main.error_rate",
        "main.p95_ms[POST /api/v1/tasks]",
        "capacity_1.sustained_rps",
        "capacity_3.sustained_rps",
        "ceiling.ratio_create_vs_db_insert",
    ):
        assert isinstance(figures.get(key), int | float), key
