"""The backend (port 8000): users, tokens, and the task API users call.

Run: `python -m app.serve app.main:app --host 0.0.0.0 --port 8000` (app.serve: uvicorn).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from app.api.edge import new_app
from app.api.routes import auth, health, tasks, users
from app.core.config import Settings, load_settings
from app.core.gc_tuning import tune_for_serving
from app.core.lazy_app import lazy_app
from app.core.malloc_tuning import unmap_large_blocks_on_free
from app.db.session import create_engine, create_sessionmaker
from app.logging import configure_logging
from app.mcp_client import MCPClient


async def _mcp_check(request: Request) -> str:
    if not request.app.state.settings.MCP_ENABLED:
        return "disabled"
    return "ok" if await request.app.state.mcp_client.ready() else "unavailable"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(service="backend", level=settings.LOG_LEVEL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.mcp_client = MCPClient(settings)
        unmap_large_blocks_on_free()
        tune_for_serving()
        try:
            yield
        finally:
            await app.state.mcp_client.aclose()
            await engine.dispose()

    app = new_app(title="todo-app backend", settings=settings, lifespan=lifespan)
    app.state.ready_checks = {"database": health.database_check, "mcp": _mcp_check}
    app.state.degraded_ok = frozenset({"mcp"})  # see health.ready
    for router in (health.router, users.router, auth.router, tasks.router):
        app.include_router(router)
    return app


__getattr__ = lazy_app(create_app)
