"""Where built artifacts live: `TODO_CACHE_DIR`, default `~/.cache/todo-app`.

The cache sits outside the clone, so a fresh checkout on the same machine
reuses it. `cache_lock(name)` keeps two processes from building into the same
folder at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toolchain.progress import note

CACHE_ENV = "TODO_CACHE_DIR"


def cache_dir() -> Path:
    """The cache root (created on first use)."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "todo-app")
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def bin_dir() -> Path:
    """`<cache>/bin`: kind, helm, kubectl, actionlint (links to versioned builds)."""
    return sub_dir("bin")


def sub_dir(*parts: str) -> Path:
    """A sub-folder of the cache, created on first use."""
    path = cache_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


_held: dict[str, int] = {}


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold `<cache>/locks/<name>.lock` (re-entrant within one process)."""
    if name in _held:
        _held[name] += 1
        try:
            yield
        finally:
            _held[name] -= 1
        return
    path = sub_dir("locks") / f"{name}.lock"
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"waiting for another build holding {path}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        _held[name] = 1
        try:
            yield
        finally:
            del _held[name]
            fcntl.flock(fh, fcntl.LOCK_UN)
