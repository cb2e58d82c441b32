"""A repeated perf run: per run, per SLO, and the errors by kind of every run."""

from __future__ import annotations

import json
from pathlib import Path

from perf import EXIT_FILE, repeat


def _run(folder: Path, index: int, *, incomplete: str = "", violations=(), errors=None,
         exit_status: int | None = None, reason: str = "") -> None:  # fmt: skip
    run = repeat.run_folder(index, folder)
    run.mkdir(parents=True)
    endpoints = {"POST /api/v1/tasks": {"p95_ms": 50.0},
                 "Aggregated": {"errors_by_kind": errors or {}}}  # fmt: skip
    meta = {"phases_asked": ["main"], **({"incomplete": incomplete} if incomplete else {})}
    main = {"endpoints": endpoints, "violations": list(violations)}
    summary = {"meta": meta, "phases": {"main": main}}
    (run / "summary.json").write_text(json.dumps(summary))
    if exit_status is None:  # as perf.run decides it
        exit_status = 2 if incomplete else 1 if violations else 0
    (run / EXIT_FILE).write_text(json.dumps({"exit_status": exit_status, "reason": reason}))


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


def test_a_run_folder_without_a_summary_is_a_red_run(tmp_path: Path) -> None:
    _run(tmp_path, 1)
    repeat.run_folder(2, tmp_path).mkdir()  # python -m perf refused its arguments
    tally = repeat.tally(tmp_path)
    assert [(r["run"], r["green"]) for r in tally["runs"]] == [(1, True), (2, False)]
    failure = tally["runs"][1]["failures"][0]
    assert failure["owner"] == "harness" and "wrote no readable summary.json" in failure["what"]
    assert repeat.summarize(tmp_path) == 1


def test_a_run_is_green_only_when_it_exited_0(tmp_path: Path) -> None:
    _run(tmp_path, 1, exit_status=1,
         reason="2 figure(s) fell outside the baseline's measured spread: main.rps")  # fmt: skip
    _run(tmp_path, 2)
    (repeat.run_folder(2, tmp_path) / EXIT_FILE).unlink()  # stopped after its summary
    tally = repeat.tally(tmp_path)
    assert [r["green"] for r in tally["runs"]] == [False, False]
    assert "exited with 1: 2 figure(s) fell outside" in tally["runs"][0]["failures"][0]["what"]
    assert "recorded no exit status" in tally["runs"][1]["failures"][0]["what"]


def test_summarizing_a_folder_that_is_not_there_is_one_line(tmp_path, capsys) -> None:
    from perf.repeat import main

    assert main([str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
