"""What e2e/conftest.py records of each promise test, and the page it writes at the end:
run on a small suite of stand-in promises in a pytest of its own (no cluster)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

PROMISES = """
import time

import pytest

pytestmark = pytest.mark.promise(3)


def test_passes():
    time.sleep(0.2)


def test_fails():
    assert 1 + 1 == 3, "arithmetic is broken"


@pytest.mark.promise(5)
def test_is_not_provable():
    pytest.skip("not provable on this cluster: no metrics API")
"""

# The harness plugin notes where it saved a failure's diagnostics in the report's sections.
HARNESS = """
import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        report.sections.append(("artifacts", f"saved under {item.config.rootpath}/artifacts/ns/x"))
    return report
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """The e2e conftest as it is, in a folder of its own, and a run of it."""
    pytester.makeconftest(HARNESS)
    pytester.makeini("[pytest]\nmarkers =\n    promise(n): a promise\n    cluster: on a cluster\n")
    folder = pytester.mkdir("suite")
    (folder / "conftest.py").write_text((REPO / "e2e" / "conftest.py").read_text())
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("TODO_PHASES_FILE", raising=False)

    def run(source: str) -> tuple[pytest.RunResult, dict]:
        (folder / "test_promises.py").write_text(source)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pytest-kind-ng")
        reports = pytester.path / "reports"
        return result, json.loads((reports / "e2e-results.json").read_text())

    return run


def test_each_promise_test_is_recorded_with_its_time_and_failure(suite, pytester):
    result, data = suite(PROMISES)
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    tests = {t["name"]: t for t in data["tests"].values()}
    assert tests["test_passes"]["outcome"] == "passed"
    assert tests["test_passes"]["seconds"] >= 0.2
    assert tests["test_passes"]["started"] < tests["test_passes"]["stopped"]
    failed = tests["test_fails"]
    assert failed["outcome"] == "failed" and failed["promise"] == "3"
    assert failed["message"].startswith("AssertionError: arithmetic is broken")
    assert failed["where"].endswith("test_promises.py:14")
    assert failed["artifacts"] == "artifacts/ns/x"
    assert tests["test_is_not_provable"]["outcome"] == (
        "not provable on this cluster: no metrics API"
    )
    assert data["finished"]["exit_status"] == 1
    assert data["session_started"] <= tests["test_passes"]["started"]
    page = (pytester.path / "reports" / "index.html").read_text()
    assert "arithmetic is broken" in page


def test_an_interrupted_run_still_writes_its_page_marked_incomplete(suite, pytester):
    interrupted = PROMISES.replace(
        '    assert 1 + 1 == 3, "arithmetic is broken"', "    raise KeyboardInterrupt"
    )
    result, data = suite(interrupted)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert data["finished"]["exit_status"] == 2
    assert [t["name"] for t in data["tests"].values()] == ["test_passes", "test_fails"]
    page = (pytester.path / "reports" / "index.html").read_text()
    assert "Incomplete:" in page
    assert "the run was interrupted (Ctrl-C or a signal)" in page
