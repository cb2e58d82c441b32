"""Fixtures for the chart tests: the helm binary and the values matrix rendered once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chartlib import MATRIX, Rendered, find_helm, render  # noqa: E402


def _pinned(name: str) -> Path:
    path = find_helm(name)
    if path is None:
        pytest.fail(
            f"the pinned {name} is not in $TODO_CACHE_DIR (default ~/.cache/todo-app) nor on "
            "PATH: run `python -m toolchain tools` (or `nox -s tests`, which does it first)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def helm() -> Path:
    """Helm 4, what users install today."""
    return _pinned("helm")


@pytest.fixture(scope="session")
def helm3() -> Path:
    """Helm 3, which many users still have."""
    return _pinned("helm3")


@pytest.fixture(scope="session")
def render_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("values")


@pytest.fixture(scope="session")
def matrix(helm: Path, render_dir: Path) -> dict[str, Rendered]:
    """Every matrix case rendered once per session."""
    return {
        name: render(helm, render_dir, values, files) for name, (files, values) in MATRIX.items()
    }


@pytest.fixture(scope="session")
def default(matrix: dict[str, Rendered]) -> Rendered:
    return matrix["default"]
