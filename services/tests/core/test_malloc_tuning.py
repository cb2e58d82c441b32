"""The backend gives the 16 MiB of each password hash back to the system."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

from app import main
from app.core import malloc_tuning
from app.core.config import Settings

# Hashes 4 passwords at once on threads (as the backend does) and prints how much the
# resident set grew; with "fixed" it first sets the threshold the way the backend does.
HASHES = """
import re, sys, threading
from app.core.malloc_tuning import unmap_large_blocks_on_free
from app.core.security import hash_password

def rss_mib():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)) / 1024

if sys.argv[1] == "fixed":
    assert unmap_large_blocks_on_free()
hash_password("warm-up")
before = rss_mib()
for _ in range(2):
    threads = [threading.Thread(target=hash_password, args=(f"pw{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(rss_mib() - before)
"""


def _growth_mib(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", HASHES, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc only")
def test_parallel_password_hashes_leave_no_memory_behind() -> None:
    # Without the setting glibc keeps the hashes' buffers (the check can fail).
    assert _growth_mib("default") >= 16
    assert _growth_mib("fixed") < 4


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
