"""The GitHub workflows: actionlint-clean, pinned actions, least permissions, the matrix
from toolchain/versions.py. Runs in `nox -s tests` (no cluster). actionlint comes from
`python -m toolchain tools` (<cache>/bin/actionlint); missing means FAIL, not skip."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from harness.__main__ import matrix
from toolchain import cache, versions

ROOT = Path(__file__).resolve().parents[2]

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_there_are_e2e_and_ci_workflows():
    assert {p.name for p in WORKFLOWS} >= {"e2e.yml", "ci.yml", "perf.yml"}


def test_perf_runs_on_a_schedule_and_on_demand_and_uploads_its_report():
    perf = (ROOT / ".github" / "workflows" / "perf.yml").read_text()
    assert "schedule:" in perf and "workflow_dispatch:" in perf
    assert "nox -s perf" in perf and "PERF_WORKERS:" in perf
    assert "upload-artifact" in perf and "reports/perf/" in perf


def test_actionlint_passes():
    actionlint = cache.bin_dir() / "actionlint"
    assert actionlint.exists(), f"{actionlint} is missing: run `python -m toolchain tools`"
    result = subprocess.run(  # noqa: S603 - the pinned tool on our own files
        [str(actionlint), "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit():
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)", line)
            if m:
                ref = m.group(1)
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}"


def test_workflows_grant_read_only_contents():
    for path in WORKFLOWS:
        text = path.read_text()
        assert re.search(r"^permissions:\n  contents: read\n", text, re.M), path.name
        assert "write" not in re.sub(r"#.*", "", text).split("jobs:")[0], path.name


def test_e2e_matrix_comes_from_versions():
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "harness", "matrix"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    include = json.loads(out)["include"]
    assert include == matrix()["include"]
    assert len(versions.KUBERNETES_SUPPORTED) >= 3
    single = [e for e in include if e["nodes"] == 1 and e["helm"] == "4"]
    supported = [e for e in single if e["kubernetes"] in versions.KUBERNETES_SUPPORTED]
    assert {(e["kubernetes"], e["node_image"]) for e in supported} == set(
        versions.KUBERNETES_SUPPORTED.items()
    )
    assert {e["values"] for e in supported} == {"kind", "shipped", "production"}
    assert len(supported) == 3 * len(versions.KUBERNETES_SUPPORTED)
    extended = [e for e in single if e["kubernetes"] in versions.KUBERNETES_EXTENDED]
    assert [(e["kubernetes"], e["values"]) for e in extended] == [
        (minor, "kind") for minor in versions.KUBERNETES_EXTENDED
    ]
    newest = next(iter(versions.KUBERNETES_SUPPORTED))
    multi = [e for e in include if e["nodes"] > 1]
    assert [(e["kubernetes"], e["nodes"], e["values"]) for e in multi] == [
        (newest, 3, "production")
    ]
    helm3 = [e for e in include if e["helm"] == "3"]
    assert [(e["kubernetes"], e["values"], e["nodes"]) for e in helm3] == [(newest, "kind", 1)]
    e2e = (ROOT / ".github" / "workflows" / "e2e.yml").read_text()
    assert "python -m harness matrix" in e2e
    assert "fromJSON(needs.matrix.outputs.matrix)" in e2e
    assert "nox -s e2e" in e2e
    assert "E2E_NODES: ${{ matrix.nodes }}" in e2e
    assert "E2E_VALUES: ${{ matrix.values_files }}" in e2e
    assert "TODO_HELM: ${{ matrix.helm }}" in e2e


def test_every_matrix_leg_pins_its_node_image_by_digest():
    """A tag can be moved to other content; a digest cannot. Every leg, supported or
    extended, runs the node image kind's release notes name, by digest."""
    for leg in matrix()["include"]:
        image = leg["node_image"]
        assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", image), leg
        assert image.startswith(f"kindest/node:{leg['kubernetes']}."), leg


def _jobs() -> list[tuple[str, str, dict]]:
    """(workflow file, job id, job) for every job of every workflow."""
    out = []
    for path in WORKFLOWS:
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items():
            out.append((path.name, job_id, job))
    return out


def test_each_job_keeps_its_own_tools_cache_keyed_by_its_go_and_pins():
    """Jobs that build different tools must not share a cache entry: with one key for all,
    the first job to save (ci's helm + actionlint) fixed its contents, and e2e's legs
    restored it and built kind and kubectl again every time. The Go version is in the key
    (tools built by another Go), and the Go module cache is kept with the tools."""
    keys = {}
    for workflow, job_id, job in _jobs():
        steps = job.get("steps", [])
        caches = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
        if not caches:
            continue
        go = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/setup-go@")]
        assert go and steps[go[0]].get("id") == "go", f"{workflow}/{job_id}: setup-go needs id go"
        for cache_step in caches:
            assert steps.index(cache_step) > go[0], f"{workflow}/{job_id}: cache before setup-go"
            key = cache_step["with"]["key"]
            assert "${{ github.job }}" in key, f"{workflow}/{job_id}: key is not per job"
            assert "${{ steps.go.outputs.go-version }}" in key, f"{workflow}/{job_id}: no Go"
            assert "~/go/pkg/mod" in cache_step["with"]["path"], f"{workflow}/{job_id}"
            if "matrix" in job.get("strategy", {}):  # legs differ in what they build
                assert "${{ matrix.kubernetes }}" in key, f"{workflow}/{job_id}: no minor"
            rendered = key.replace("${{ github.job }}", job_id)
            assert rendered not in keys, f"{workflow}/{job_id} shares a key with {keys[rendered]}"
            keys[rendered] = f"{workflow}/{job_id}"
    assert len(keys) >= 3, keys


def test_the_e2e_legs_check_out_the_history_the_upgrade_promise_needs():
    e2e = yaml.safe_load((ROOT / ".github" / "workflows" / "e2e.yml").read_text())
    checkout = next(s for s in e2e["jobs"]["e2e"]["steps"]
                    if s.get("uses", "").startswith("actions/checkout@"))  # fmt: skip
    assert checkout["with"]["fetch-depth"] == 0


def test_root_steps_see_the_jobs_path_not_sudos_secure_path():
    """setup-python's and setup-go's tools are on the job's PATH only; under sudo's
    secure_path a hosted runner finds no python3.11 and the image's older /usr/bin/go,
    and the host check would stop every job."""
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job.get("steps", []):
                for line in step.get("run", "").splitlines():
                    if re.search(r"\bsudo\b", line):
                        assert 'sudo env "PATH=$PATH" ' in line, f"{workflow.name}: {line}"
