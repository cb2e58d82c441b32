"""A repeated perf run: per run, per SLO, and the errors by kind of every run."""

from __future__ import annotations

import json
from pathlib import Path

from perf import repeat


def _run(folder: Path, index: int, *, incomplete: str = "", violations=(), errors=None) -> None:
    run = repeat.run_folder(index, folder)
    run.mkdir(parents=True)
    endpoints = {"POST /api/v1/tasks": {"p95_ms": 50.0},
                 "Aggregated": {"errors_by_kind": errors or {}}}  # fmt: skip
    meta = {"phases_asked": ["main"], **({"incomplete": incomplete} if incomplete else {})}
    main = {"endpoints": endpoints, "violations": list(violations)}
    summary = {"meta": meta, "phases": {"main": main}}
    (run / "summary.json").write_text(json.dumps(summary))


def test_each_red_run_is_classified_and_errors_are_summed_by_kind(tmp_path: Path) -> None:
    _run(tmp_path, 1, errors={"HTTP 503": 2})
    _run(tmp_path, 2, violations=["POST /api/v1/tasks: p95 412 ms > SLO 300 ms"],
         errors={"HTTP 503": 1, "ReadTimeout: timed out": 1})  # fmt: skip
    _run(tmp_path, 3, incomplete="the run failed: timed out after 120 s waiting for "
         "todo-perf-locust-worker-x to write its samples")  # fmt: skip
    tally = repeat.tally(tmp_path)
    assert [r["green"] for r in tally["runs"]] == [True, False, False]
    assert tally["runs"][1]["failures"][0]["owner"] == "product"
    assert tally["runs"][2]["failures"][0]["name"] == "a wait of the harness ran out"
    assert tally["errors_by_kind"] == {"HTTP 503": 3, "ReadTimeout: timed out": 1}
    assert tally["slos"]["POST /api/v1/tasks"] == {"runs": 3, "met": 2}
    assert repeat.summarize(tmp_path) == 1
    assert "| 2 | main | no | HTTP 503 1, ReadTimeout: timed out 1 |" in (
        (tmp_path / "summary.md").read_text()
    )
