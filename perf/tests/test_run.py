"""`python -m perf`'s exit status, recorded in the run's folder as it is returned."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from perf import EXIT_FILE, run
from perf.baseline import Comparison


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target that measures nothing (no phase is asked for), and no report written."""

    @contextlib.contextmanager
    def target(_args):
        yield run.Target(backend_url="http://127.0.0.1:1", mcp=contextlib.nullcontext,
                         database=contextlib.nullcontext)  # fmt: skip

    monkeypatch.setattr(run, "cluster_target", target)
    monkeypatch.delenv("PERF_FAIL_ON_REGRESSION", raising=False)


def test_a_run_failing_on_a_regression_records_exit_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_cluster
) -> None:
    slower = Comparison("main.rps", baseline=100.0, low=90.0, high=110.0, current=50.0,
                        ratio=0.5, regression=True)  # fmt: skip
    monkeypatch.setattr(run, "write_outputs", lambda *args: [slower])
    monkeypatch.setenv("PERF_FAIL_ON_REGRESSION", "1")
    assert run.main(["--phases", "", "--out", str(tmp_path)]) == 1
    recorded = json.loads((tmp_path / EXIT_FILE).read_text())
    assert recorded["exit_status"] == 1
    assert recorded["reason"].endswith("outside the baseline's measured spread: main.rps")


def test_a_green_run_records_exit_status_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_cluster
) -> None:
    monkeypatch.setattr(run, "write_outputs", lambda *args: [])
    assert run.main(["--phases", "", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / EXIT_FILE).read_text()) == {"exit_status": 0,
                                                              "reason": "all SLOs met"}  # fmt: skip
