"""The e2e report from recorded results (no cluster)."""

from __future__ import annotations

import json

from e2e import report


def test_report_marks_each_promise(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "PHASES_FILE", tmp_path / "none.jsonl")
    monkeypatch.delenv("TODO_PHASES_FILE", raising=False)
    results = {
        "run_id": "r1",
        "outcomes": {
            "1": {"test_a": "passed"},
            "2": {"test_b": "failed"},
            "5": {"test_c": "not provable on this cluster: no metrics API"},
            "6": {"test_d": "not applicable: these values leave autoscaling off"},
            "12": {"test_e": "not provable in this checkout: no earlier chart revision"},
        },
        "startup": {
            "pods": [{"pod": "p", "component": "backend", "seconds": 2.0}],
            "median_by_component": {"backend": 2.0},
        },
    }
    (tmp_path / "e2e-results.json").write_text(json.dumps(results))
    text = report.write_report(tmp_path).read_text()
    assert "| 1 | install | PASS |" in text
    assert "| 2 | startup | FAIL |" in text
    assert "| 3 | health | not run |" in text
    assert (
        "| 5 | resources | NOT PROVABLE | 1 run; test_c: not provable on this cluster: no" in text
    )
    assert "| 6 | HPA | N/A |" in text
    assert "| 12 | upgrade | NOT PROVABLE | 1 run; test_e: not provable in this checkout" in text
    assert "| p | backend | 2.0 |" in text


def test_report_names_the_values_the_earlier_revision_ran_with(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "PHASES_FILE", tmp_path / "none.jsonl")
    monkeypatch.delenv("TODO_PHASES_FILE", raising=False)
    step = {"step": "upgrade", "seconds": 17.2, "requests": 65, "failed": 1,
            "longest_gap_s": 5.83, "acknowledged": 74}  # fmt: skip
    for values, shown in (([], "as shipped"), (["harness/values-small-nodes.yaml"],
                                                "harness/values-small-nodes.yaml")):  # fmt: skip
        results = {"run_id": "r1", "outcomes": {},
                   "upgrade": {"from": "e42c7fe8b82fb3a2", "chosen_by": "--upgrade-from e42c7fe",
                               "values": values, "steps": [step]}}  # fmt: skip
        (tmp_path / "e2e-results.json").write_text(json.dumps(results))
        text = report.write_report(tmp_path).read_text()
        assert f"(--upgrade-from e42c7fe), with values {shown}." in text
        assert "| upgrade | 17.2 | 65 | 1 | 5.83 | 74 | yes | yes | - |" in text
