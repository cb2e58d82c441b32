"""Markers for the airgap tests.

- unmarked tests: no Docker, no cluster (run by `nox -s tests`).
- `docker`: need a Docker engine and the locally built images
  (`python -m airgap images`); run by `nox -s airgap` after the build.
- `cluster`: create a kind cluster from the local node image (issue 3's smoke test).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: needs a Docker engine and the airgap images (python -m airgap images)"
    )
