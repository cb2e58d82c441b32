"""The hosted-runner stand-in follows the workflow: every step it will meet has a stand-in."""

from __future__ import annotations

import pytest
import yaml

from toolchain import runner


def _workflow() -> dict:
    return yaml.safe_load(runner.WORKFLOW.read_text())


@pytest.mark.parametrize("job_name", ["matrix", "e2e"])
def test_every_step_of_the_workflow_has_a_stand_in(job_name: str) -> None:
    """A new action, input, condition or shell in e2e.yml fails here first, with the
    step named, rather than in the middle of a runner session."""
    job = _workflow()["jobs"][job_name]
    for spec in job["steps"]:
        assert spec.get("if") in (None, "always()"), spec
        assert spec.get("shell") in (None, "bash"), spec
        if "uses" in spec:
            action = runner._action(spec["uses"])
            assert action in runner.KNOWN_INPUTS, f"no stand-in for {action}"
            assert set(spec.get("with") or {}) <= runner.KNOWN_INPUTS[action], spec
        else:
            assert spec["run"].strip()


def test_the_workflow_expressions_all_evaluate_for_a_leg() -> None:
    """Every `${{ }}` in the e2e job's env and inputs is one the stand-in fills in."""
    job_spec = _workflow()["jobs"]["e2e"]
    leg = {"kubernetes": "v1.99", "node_image": "kindest/node:v1.99.0", "values": "kind",
           "values_files": "", "nodes": 1, "helm": "4"}  # fmt: skip
    job = runner.Job("e2e", "c", {}, matrix=leg, outputs={"go": {"go-version": "1.26.8"}})
    for value in (job_spec.get("env") or {}).values():
        assert "${{" not in runner.evaluate(str(value), job, runner.ROOT)
    for spec in job_spec["steps"]:
        for value in (spec.get("with") or {}).values():
            assert "${{" not in runner.evaluate(str(value), job, runner.ROOT)


def test_an_expression_without_a_stand_in_stops_the_session_naming_it() -> None:
    job = runner.Job("e2e", "c", {})
    with pytest.raises(runner.RunnerError, match=r"github\.sha"):
        runner.evaluate("key-${{ github.sha }}", job, runner.ROOT)


def test_a_cache_key_depends_on_the_pinned_files() -> None:
    job = runner.Job("e2e", "c", {}, outputs={"go": {"go-version": "1.26.8"}})
    template = (
        "k-${{ runner.os }}-go${{ steps.go.outputs.go-version }}-"
        "${{ hashFiles('toolchain/versions.py') }}"
    )
    key = runner.evaluate(template, job, runner.ROOT)
    assert key.startswith("k-Linux-go1.26.8-") and len(key.split("-")[-1]) == 64


def test_the_leg_is_the_one_asked_with_the_kind_values_on_one_node() -> None:
    matrix = {"include": [
        {"kubernetes": "v1.37", "values": "production", "nodes": 1},
        {"kubernetes": "v1.37", "values": "kind", "nodes": 3},
        {"kubernetes": "v1.37", "values": "kind", "nodes": 1, "helm": "4"},
    ]}  # fmt: skip
    assert runner.pick_leg(matrix, "v1.37")["helm"] == "4"
    with pytest.raises(runner.RunnerError, match="no Kubernetes v1.30 leg"):
        runner.pick_leg(matrix, "v1.30")
