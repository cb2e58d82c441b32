"""An inter-process lock under the cache, so two builds never share a work dir."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from airgap import cache as cache_mod
from airgap.progress import note

_held: dict[str, int] = {}


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold `<cache>/node/<name>.lock` (re-entrant within one process)."""
    if name in _held:
        _held[name] += 1
        try:
            yield
        finally:
            _held[name] -= 1
        return
    path = cache_mod.sub_dir("node") / f"{name}.lock"
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
