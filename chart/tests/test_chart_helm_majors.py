"""The chart works the same under Helm 4 (what users install today) and Helm 3 (what
many still have): the same objects for every values case, the same lint verdict, the
same refusal to invent secrets when rendering cannot read the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from chartlib import CHART, MATRIX, OFFLINE_SECRETS, render, render_error, run_helm

from toolchain import versions


def _major(helm: Path) -> str:
    out = run_helm(helm, "version", "--template", "{{ .Version }}")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_two_helms_are_the_pinned_majors(helm: Path, helm3: Path) -> None:
    assert _major(helm) == versions.HELM_VERSION
    assert _major(helm3) == versions.HELM3_VERSION


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_helm3_renders_the_objects_helm4_renders(
    case: str, helm3: Path, matrix: dict, tmp_path: Path
) -> None:
    files, values = MATRIX[case]
    under_helm3 = render(helm3, tmp_path, values, files)
    assert under_helm3.docs == matrix[case].docs


@pytest.mark.parametrize("tool", ["helm", "helm3"])
def test_both_majors_refuse_to_invent_secrets_when_rendering(
    tool: str, request: pytest.FixtureRequest, render_dir: Path
) -> None:
    message = render_error(request.getfixturevalue(tool), render_dir, secrets=False)
    assert "cannot read the cluster" in message
    for field in ("database.password", "auth.jwtSecret", "auth.mcpServiceToken"):
        assert field in message


@pytest.mark.parametrize("tool", ["helm", "helm3"])
def test_both_majors_lint_the_production_values_clean(
    tool: str, request: pytest.FixtureRequest
) -> None:
    production = CHART / "values-production.yaml"
    proc = run_helm(request.getfixturevalue(tool), "lint", "--strict", str(CHART),
                    "-f", str(production), "-f", str(OFFLINE_SECRETS))  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out
