"""The values table in chart/todo-app/README.md is generated from values.yaml and current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from chartlib import CHART, REPO

TOOL = REPO / "chart" / "tools" / "gen_values_table.py"


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False
    )


def test_readme_values_table_is_current() -> None:
    proc = run_tool("--check")
    assert proc.returncode == 0, proc.stderr


def test_stale_readme_is_detected(tmp_path: Path) -> None:
    chart = tmp_path / "todo-app"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("logLevel: INFO", "logLevel: DEBUG"))
    proc = run_tool("--check", "--chart", str(chart))
    assert proc.returncode == 1
    assert "stale" in proc.stderr
    assert run_tool("--chart", str(chart)).returncode == 0  # regenerate
    assert run_tool("--check", "--chart", str(chart)).returncode == 0
    assert '`"DEBUG"`' in (chart / "README.md").read_text()


def test_undocumented_key_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "todo-app"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "\nsneaky:\n  key: 1\n")
    proc = run_tool("--check", "--chart", str(chart))
    assert proc.returncode == 1
    assert "sneaky.key" in proc.stderr


def test_every_values_key_is_in_the_table() -> None:
    import yaml

    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for group in values:
        assert f"`{group}" in readme, group
