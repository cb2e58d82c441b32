"""The `app` attribute of an entry-point module, built on first access.

uvicorn imports `app.main:app` / `app.mcp_server:app`; building the app there
(not at import) means importing those modules, e.g. in tests, needs no
environment. One cached build per module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from fastapi import FastAPI


def lazy_app(create_app: Callable[[], FastAPI]) -> Callable[[str], FastAPI]:
    """A module `__getattr__` that answers `app` with `create_app()`, built once."""
    build = cache(create_app)

    def __getattr__(name: str) -> FastAPI:
        if name == "app":
            return build()
        raise AttributeError(name)

    return __getattr__
