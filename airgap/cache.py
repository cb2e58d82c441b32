"""Where built artifacts live: `TODO_CACHE_DIR`, default `~/.cache/todo-app`.

The cache sits outside the clone so a fresh CI checkout reuses it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root (created on first use)."""
    root = Path(os.environ.get("TODO_CACHE_DIR") or Path.home() / ".cache" / "todo-app")
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def bin_dir() -> Path:
    """`<cache>/bin`: kind, helm, kubectl, actionlint (symlinks to versioned builds)."""
    path = cache_dir() / "bin"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sub_dir(*parts: str) -> Path:
    """A sub-folder of the cache, created on first use."""
    path = cache_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
