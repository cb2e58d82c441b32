"""The upgrade promise's earlier chart: found in any checkout (shallow ones too) and read out
of git whole, on any Python 3.11."""

# ruff: noqa: S603, S607 - runs git with fixed arguments on this repository

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from e2e.test_upgrade import NoEarlierRevision, chart_at, earlier_revision
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


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message], check=True)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "test")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "test@example.invalid")


@pytest.fixture
def origin(tmp_path: Path, git_identity) -> tuple[Path, list[str]]:
    """A repository whose chart changed in its second commit, and a third commit after."""
    repo = tmp_path / "origin"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    commits = [
        _commit(repo, {"chart/todo-app/Chart.yaml": "version: 0.1.0\n"}, "chart"),
        _commit(repo, {"chart/todo-app/Chart.yaml": "version: 0.2.0\n"}, "chart change"),
        _commit(repo, {"README.md": "docs\n"}, "docs"),
    ]
    return repo, commits


def _shallow_clone(origin: Path, into: Path) -> Path:
    """As CI checks out: depth 1, no tags."""
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--no-tags", origin.as_uri(),
                    str(into)], check=True)  # fmt: skip
    return into


def test_a_shallow_clone_fetches_the_history_the_earlier_chart_lives_in(origin, tmp_path):
    repo, commits = origin
    clone = _shallow_clone(repo, tmp_path / "clone")
    revision, why = earlier_revision(None, clone)
    assert revision == commits[0]
    assert "commit before the last chart change" in why and "fetched from origin" in why


def test_a_shallow_clone_that_cannot_fetch_says_not_provable_and_how_to_fix_it(origin, tmp_path):
    repo, _ = origin
    clone = _shallow_clone(repo, tmp_path / "clone")
    shutil.rmtree(repo)
    with pytest.raises(NoEarlierRevision) as refused:
        earlier_revision(None, clone)
    assert str(refused.value).startswith("not provable in this checkout: no earlier chart")
    assert "fetch-depth: 0" in str(refused.value) and "--upgrade-from" in str(refused.value)


def test_a_chart_as_old_as_the_history_has_no_earlier_revision(git_identity, tmp_path):
    single = tmp_path / "single"
    subprocess.run(["git", "init", "-q", "-b", "main", str(single)], check=True)
    _commit(single, {"chart/todo-app/Chart.yaml": "version: 0.1.0\n"}, "chart")
    with pytest.raises(NoEarlierRevision, match="--upgrade-from REF"):
        earlier_revision(None, single)
