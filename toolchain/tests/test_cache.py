"""The build lock is exclusive between processes and re-entrant within one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from toolchain.cache import cache_lock

PROBE = """
import fcntl, sys
with open(sys.argv[1], "w") as fh:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("busy")
    else:
        print("free")
"""


def _probe(path: Path) -> str:
    cmd = [sys.executable, "-c", PROBE, str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603 - fixed argv
    return out.stdout.strip()


def test_lock_excludes_other_processes_and_nests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TODO_CACHE_DIR", str(tmp_path))
    lock_file = tmp_path / "locks" / "t.lock"
    with cache_lock("t"):
        assert _probe(lock_file) == "busy"
        with cache_lock("t"):  # same process: does not deadlock
            assert _probe(lock_file) == "busy"
        assert _probe(lock_file) == "busy"
    assert _probe(lock_file) == "free"
