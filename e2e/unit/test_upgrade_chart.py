"""The upgrade promise's earlier chart comes out of git whole, on any Python 3.11."""

# ruff: noqa: S603, S607 - runs git with fixed arguments on this repository

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e.test_upgrade import chart_at
from harness.settings import ROOT


def test_the_chart_of_a_revision_is_read_from_git_file_by_file(tmp_path: Path) -> None:
    chart = chart_at("HEAD", tmp_path)
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", "HEAD", "--", "chart/todo-app"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(listed)
    committed = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:chart/todo-app/Chart.yaml"],
                               capture_output=True, check=True).stdout  # fmt: skip
    assert (chart / "Chart.yaml").read_bytes() == committed
