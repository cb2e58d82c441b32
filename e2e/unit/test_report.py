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
    assert "| p | backend | 2.0 |" in text
