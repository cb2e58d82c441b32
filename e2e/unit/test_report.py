"""The e2e run read from its recorded files into the report's model (no cluster)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from e2e import report
from report.model import FAIL, INCOMPLETE, NOT_APPLICABLE, NOT_PROVABLE, NOT_RUN, PARTLY, PASS

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture
def recorded(tmp_path):
    """A copy of a recorded run (reports/ and artifacts/), to read and write pages in."""

    def copy(name: str) -> Path:
        shutil.copytree(FIXTURES / name, tmp_path / name)
        return tmp_path / name / "reports"

    return copy


def _results(reports: Path) -> dict:
    return json.loads((reports / "e2e-results.json").read_text())


def _save(reports: Path, data: dict) -> None:
    (reports / "e2e-results.json").write_text(json.dumps(data))


def test_each_promise_gets_its_verdict_from_its_tests_outcomes(tmp_path):
    """Results recorded before per-test records (outcomes only) still read."""
    reports = tmp_path / "reports"
    reports.mkdir()
    _save(
        reports,
        {
            "run_id": "r1",
            "finished": {"exit_status": 1, "at": 1.0},
            "outcomes": {
                "1": {"test_a": "passed"},
                "2": {"test_b": "failed"},
                "5": {"test_c": "not provable on this cluster: no metrics API"},
                "6": {"test_d": "not applicable: these values leave autoscaling off"},
                "9": {"test_e": "passed", "test_f": "not provable on this cluster: no enforcer"},
                "11": {"test_g": "passed", "test_h": "not applicable: one node"},
                "12": {"test_i": "not provable in this checkout: no earlier chart revision"},
            },
        },
    )
    run = report.read_run(reports)
    verdicts = {p.key: p.verdict for p in run.legs[0].promises}
    assert verdicts == {
        "0": NOT_RUN,
        "1": PASS,
        "2": FAIL,
        "3": NOT_RUN,
        "4": NOT_RUN,
        "5": NOT_PROVABLE,
        "6": NOT_APPLICABLE,
        "7": NOT_RUN,
        "8": NOT_RUN,
        "9": PARTLY,
        "10": NOT_RUN,
        "11": PASS,
        "12": NOT_PROVABLE,
        "13": NOT_RUN,
    }
    assert run.verdict == FAIL
    text = report.write(reports).markdown.read_text()
    assert "| 5 | resources | **NOT PROVABLE** | 1 | - | test_c: not provable on this" in text


def test_a_recorded_run_reads_with_its_facts_durations_and_pictures(recorded):
    run = report.read_run(recorded("passing-run"))
    assert run.verdict == PASS and run.complete
    assert run.commit == "9e708d7c3f1b"
    decided = {f.label: f for f in run.decided}
    assert decided["Image source"].value == "local"
    assert "no container registry" in decided["Image source"].why
    assert decided["Cluster"].value == "kind cluster `todo-e2e`, made by this run"
    versions = {f.label: f.value for f in run.versions}
    assert versions["Kubernetes (server)"] == "v1.34.0"
    assert "sha256:4f1c2a9d" in versions["App image"]
    promises = {p.key: p for p in run.legs[0].promises}
    assert promises["5"].seconds == pytest.approx(83.3, abs=0.1)
    assert promises["11"].verdict == NOT_APPLICABLE
    sections = {s.id: s for s in run.legs[0].sections}
    assert list(sections) == [
        "startup",
        "hpa",
        "resources",
        "rollouts",
        "frontend",
        "faults",
        "netpol",
        "helm-test",
    ]
    figures = [b.name for s in sections.values() for b in s.blocks if hasattr(b, "svg")]
    assert figures == ["startup", "hpa", "resources", "rollouts"]
    stages = {p.stage for p in run.phases}
    assert stages == {"prepare", "bring-up", "tests", "teardown", "report"}
    assert {p.name: p.stage for p in run.phases}["load run (Locust)"] == "tests"


def test_a_failed_test_shows_its_message_and_links_what_was_saved_for_it(recorded):
    reports = recorded("failing-run")
    run = report.read_run(reports)
    assert run.verdict == FAIL
    faults = next(p for p in run.legs[0].promises if p.key == "8")
    failed = next(t for t in faults.tests if t.verdict == FAIL)
    assert failed.message.startswith("AssertionError: acknowledged writes lost")
    assert failed.where == "e2e/test_faults.py:124"
    groups = {a.group for a in failed.artifacts}
    assert groups == {"logs", "events", "describe", "helm", "objects"}
    for artifact in failed.artifacts:
        assert artifact.href.startswith("../artifacts/todo-e2e-")
        assert (reports / artifact.href).is_file()
    text = report.write(reports).markdown.read_text()
    assert "### FAIL: promise 8, `test_mcp_pod_kill_under_load_loses_no_acknowledged_write`" in text
    head = text.split("## The run")[0]  # what the summary says before any detail
    assert (
        "**Failed:**\n\n- promise 8, `test_mcp_pod_kill_under_load_loses_no_acknowledged_write`: "
        "AssertionError: acknowledged writes lost" in head
    )


def test_artifacts_recorded_on_another_machine_are_found_beside_the_reports(recorded):
    reports = recorded("failing-run")
    data = _results(reports)
    test = data["tests"][
        "e2e/test_faults.py::test_mcp_pod_kill_under_load_loses_no_acknowledged_write"
    ]
    test["artifacts"] = "/home/runner/work/todo-app/" + test["artifacts"]
    _save(reports, data)
    failed = next(
        t for p in report.read_run(reports).legs[0].promises for t in p.tests if t.verdict == FAIL
    )
    assert len(failed.artifacts) == 13


def test_a_run_that_stopped_before_the_tests_is_incomplete_and_names_the_step(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "e2e-phases.jsonl").write_text(
        '{"name": "python deps", "depth": 0, "seconds": 4.0, "status": "ok", "started": 100.0}\n'
        '{"name": "images", "depth": 0, "seconds": 9.0, "status": "failed", "started": 105.0}\n'
    )
    run = report.read_run(reports)
    assert run.verdict == INCOMPLETE
    assert run.missing == [
        "no promise was proven: the run stopped before the tests at `images` (failed)"
    ]
    assert run.legs == [] and run.timeline is not None
    assert "> - no promise was proven" in report.write(reports).markdown.read_text()


def test_results_of_an_earlier_run_are_not_shown_as_this_one(recorded):
    reports = recorded("passing-run")
    (reports / "e2e-phases.jsonl").write_text(
        '{"name": "python deps", "depth": 0, "seconds": 4.0, "status": "failed", '
        '"started": 1896520000.0}\n'
    )
    run = report.read_run(reports)
    assert run.legs == []
    assert "the results on disk are from an earlier run" in run.missing[0]


@pytest.mark.parametrize(
    ("finished", "missing"),
    [
        ({"exit_status": 2, "at": 1796520400.0}, "the run was interrupted (Ctrl-C or a signal)"),
        (None, "the test session recorded no end: it was killed or is still running"),
    ],
)
def test_an_interrupted_or_killed_session_is_marked_incomplete(recorded, finished, missing):
    reports = recorded("passing-run")
    data = _results(reports)
    if finished is None:
        del data["finished"]
    else:
        data["finished"] = finished
    _save(reports, data)
    run = report.read_run(reports)
    assert run.verdict == INCOMPLETE
    assert run.missing[0].startswith(missing)


def test_the_rollout_legs_are_named_with_the_values_the_earlier_revision_ran_with(recorded):
    reports = recorded("failing-run")
    run = report.read_run(reports)
    rollouts = next(s for s in run.legs[0].sections if s.id == "rollouts")
    text = " ".join(getattr(b, "text", "") for b in rollouts.blocks)
    assert "earlier revision `6dc5dac1a2b3` (the commit before the last chart change" in text
    assert "with values harness/values-kind.yaml, harness/values-small-nodes.yaml" in text
    table = next(b for b in rollouts.blocks if hasattr(b, "rows"))
    assert [row[0] for row in table.rows] == ["upgrade", "rollback", "default -> production values"]
    switch = table.rows[2]
    assert switch[1] == "-"  # recorded before steps named their Helm
    assert switch[4].text == "16" and switch[4].verdict is None  # failed requests: no PASS badge


def test_the_run_says_which_kubernetes_and_helm_ran_and_how(recorded):
    reports = recorded("passing-run")
    data = _results(reports)
    data["bring_up"]["cluster"].update(kubelet_versions=["v1.37.0"], kubelet_on_cgroup_v1=True)
    data["bring_up"]["choice"].update(helm="4", helm_reason="the default: TODO_HELM unset")
    data["upgrade"]["steps"][0].update(step="upgrade (Helm 3 release, Helm 4 upgrade)",
                                       helm="3 -> 4")  # fmt: skip
    _save(reports, data)
    run = report.read_run(reports)
    decided = {f.label: f for f in run.decided}
    assert decided["Kubelets"].value == "v1.37.0"
    assert "deprecated escape hatch (failCgroupV1: false)" in decided["Kubelets"].why
    assert (decided["Helm"].value, decided["Helm"].why) == ("4", "the default: TODO_HELM unset")
    rollouts = next(s for s in run.legs[0].sections if s.id == "rollouts")
    table = next(b for b in rollouts.blocks if hasattr(b, "rows"))
    assert table.rows[0][:2] == ["upgrade (Helm 3 release, Helm 4 upgrade)", "3 -> 4"]
    data["bring_up"]["cluster"]["kubelet_on_cgroup_v1"] = False
    _save(reports, data)
    kubelets = {f.label: f for f in report.read_run(reports).decided}["Kubelets"]
    assert "escape hatch" not in kubelets.why


def test_the_page_links_the_perf_runs_beside_it_newest_first(recorded):
    reports = recorded("passing-run")
    for stamp in ("20261201T100000Z", "20261205T100000Z"):
        (reports / "perf" / stamp).mkdir(parents=True)
        (reports / "perf" / stamp / "index.html").write_text("<!doctype html><title>x</title>")
    section = report.read_run(reports).sections[-1]
    assert [(link.text, link.href) for link in section.blocks[0].links] == [
        ("20261205T100000Z (latest)", "perf/20261205T100000Z/index.html"),
        ("20261201T100000Z", "perf/20261201T100000Z/index.html"),
    ]


def test_a_run_that_could_not_collect_its_tests_names_the_files(tmp_path):
    """pytest's exit status is the same for Ctrl-C and for files it cannot import."""
    reports = tmp_path / "reports"
    reports.mkdir()
    _save(
        reports,
        {
            "run_id": "r",
            "finished": {"exit_status": 2, "at": 2.0},
            "stopped_by": "2 errors during collection",
            "tests": {},
        },
    )
    (reports / "e2e-junit.xml").write_text(
        '<testsuites><testsuite name="todo-app-e2e" errors="2">'
        '<testcase classname="" name="services.tests.core.test_security">'
        '<error message="collection failure">ImportError</error></testcase>'
        '<testcase classname="" name=".ci.tests.test_sessions_start">'
        '<error message="collection failure">ImportError</error></testcase>'
        "</testsuite></testsuites>"
    )
    run = report.read_run(reports)
    assert run.title == "todo-app e2e"
    assert run.missing == [
        "pytest stopped before any test ran, with 2 errors during collection: "
        "`services/tests/core/test_security.py`, `.ci/tests/test_sessions_start.py`"
    ]
