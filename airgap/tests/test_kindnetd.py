"""Our kindnetd (airgap/images/kindnetd) builds, vets and passes its Go tests.

Standard library only, so this needs the Go toolchain but no network.
"""

# ruff: noqa: S603, S607 - runs the go toolchain

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "images" / "kindnetd"


def _go(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which("go"), "the Go toolchain is needed to build kindnetd"
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    return subprocess.run(
        ["go", *args], cwd=SOURCE, env=env, capture_output=True, text=True, check=False
    )


def test_kindnetd_vet_and_unit_tests() -> None:
    vet = _go("vet", ".")
    assert vet.returncode == 0, vet.stderr
    tested = _go("test", "-count=1", ".")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith("ok")
