"""Every test file in the repository is collected by some session.

Sessions choose tests by folder (pyproject's testpaths) and marker, never by a
list: `nox -s tests` takes "not docker and not cluster", `nox -s e2e` takes
"docker or cluster", so together they take every test under testpaths.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _test_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*test_*.py"],  # noqa: S607
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if Path(line).name.startswith("test_")]


def test_every_test_file_lies_under_a_testpath() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    paths = [p.rstrip("/") + "/" for p in config["testpaths"]]
    files = _test_files()
    assert len(files) > 50, files
    stray = [f for f in files if not any(f.startswith(p) for p in paths)]
    assert not stray, f"test files no session collects (add their folder to testpaths): {stray}"


def test_the_two_sessions_split_the_markers_between_them() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert '"-m", "not docker and not cluster"' in noxfile
    assert '"-m", "docker or cluster"' in noxfile
