"""`helm lint --strict` passes for every values file the chart ships and every matrix case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from chartlib import CHART, KUBE_VERSION, MATRIX, OFFLINE_SECRETS, run_helm

VALUES_FILES = [CHART / "values.yaml", CHART / "values-production.yaml"]
FAIL_LOGGED = re.compile(r"\bFail: |funcMap fail")


def lint(helm: Path, *args: str) -> str:
    # Lint renders without the cluster: given the secrets, or the chart (rightly) refuses.
    proc = run_helm(
        helm,
        "lint",
        "--strict",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        *args,
        "-f",
        str(OFFLINE_SECRETS),
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out
    # In lint mode helm logs a template `fail` as INFO instead of failing: catch it here
    # (Helm 3 writes "Fail: <message>", Helm 4 `msg="funcMap fail" message=...`).
    assert not FAIL_LOGGED.search(out), out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out
    return out


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda p: p.name)
def test_lint_strict_values_file(helm: Path, values_file: Path) -> None:
    lint(helm, "-f", str(values_file))


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_lint_strict_matrix_case(helm: Path, case: str, tmp_path: Path) -> None:
    files, values = MATRIX[case]
    args: list[str] = []
    for f in files:
        args += ["-f", str(f)]
    if values:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        args += ["-f", str(path)]
    lint(helm, *args)


def test_lint_fails_on_schema_error(helm: Path, tmp_path: Path) -> None:
    """The lint check can fail: a value the schema refuses makes `helm lint` exit non-zero."""
    path = tmp_path / "bad.yaml"
    path.write_text("mcpServer:\n  replicaCount: -3\n")
    proc = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(path))
    assert proc.returncode != 0
    assert "/mcpServer/replicaCount" in proc.stdout + proc.stderr


def test_lint_without_secrets_passes_and_shows_the_refusal(helm: Path) -> None:
    """Plain `helm lint` (no cluster, no secrets given) still passes; the refusal a real
    render would stop on is shown, not turned into a template crash."""
    proc = run_helm(helm, "lint", str(CHART), "--kube-version", KUBE_VERSION)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert FAIL_LOGGED.search(out), out
    assert "this render cannot read the cluster" in out
    assert "[ERROR]" not in out
