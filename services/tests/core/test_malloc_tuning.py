"""The backend gives the 19 MiB of each password hash back to the system."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

from app import main
from app.core import malloc_tuning
from app.core.config import Settings
from tests.core.test_security import LEGACY_SCRYPT

# Checks passwords as sign-ins do, on threads as the backend does: 6 one after another
# (a legacy scrypt hash, verified and replaced by an argon2id one), then twice 4 at once
# (argon2id); prints how much the resident set grew (MiB) after each. With "fixed" it
# first sets the threshold the way the backend does.
SIGN_INS = f"""
import re, sys, threading
from app.core.malloc_tuning import unmap_large_blocks_on_free
from app.core.security import check_password, hash_password

def rss_mib():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)) / 1024

def sign_in(stored):
    thread = threading.Thread(target=check_password, args=("correct horse battery", stored))
    thread.start()
    return thread

if sys.argv[1] == "fixed":
    assert unmap_large_blocks_on_free()
current = hash_password("correct horse battery")
before = rss_mib()
for _ in range(6):
    sign_in("{LEGACY_SCRYPT}").join()
in_a_row = rss_mib() - before
for _ in range(2):
    for thread in [sign_in(current) for _ in range(4)]:
        thread.join()
print(in_a_row, rss_mib() - before)
"""


def _growth_mib(mode: str) -> tuple[float, float]:
    """(after 6 sign-ins in a row, after 4 at once twice more), in MiB."""
    out = subprocess.run(
        [sys.executable, "-c", SIGN_INS, mode], capture_output=True, text=True, check=True
    )
    in_a_row, at_once = out.stdout.split()
    return float(in_a_row), float(at_once)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc only")
def test_sign_ins_in_a_row_and_at_once_leave_no_memory_behind() -> None:
    # Without the setting glibc keeps the hashes' buffers (the check can fail).
    in_a_row, at_once = _growth_mib("default")
    assert in_a_row >= 19 and at_once >= 2 * 19
    in_a_row, at_once = _growth_mib("fixed")
    assert in_a_row < 4 and at_once < 4


def test_backend_start_up_fixes_the_threshold(
    monkeypatch: pytest.MonkeyPatch, offline_settings: Settings
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(main, "unmap_large_blocks_on_free", lambda: calls.append("set"))
    monkeypatch.setattr(main, "tune_for_serving", lambda: None)  # the test process's GC stays
    app = main.create_app(offline_settings)

    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            pass

    anyio.run(start_and_stop)
    assert calls == ["set"]


def test_without_mallopt_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(malloc_tuning.ctypes, "CDLL", NoMallopt)
    assert malloc_tuning.unmap_large_blocks_on_free() is False
