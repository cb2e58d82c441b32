"""The MCP server (port 8001): owns the tasks table.

Two doors onto the same task functions (app.services.tasks):
- `/tasks`: REST for the backend (service token + X-User-ID);
- `/mcp`: Model Context Protocol, Streamable HTTP, for agents holding a user JWT
  (app.mcp_protocol), built on its first request (see LazyMCPEndpoint).

Run: `python -m app.serve app.mcp_server:app --host 0.0.0.0 --port 8001` (app.serve: uvicorn).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.edge import new_app
from app.api.routes import health, service_tasks
from app.core.config import Settings, load_settings
from app.core.gc_tuning import tune_for_serving
from app.core.lazy_app import lazy_app
from app.db.session import create_engine, create_sessionmaker
from app.logging import configure_logging


class SessionManager(Protocol):
    """What /mcp needs running while it serves (the SDK's StreamableHTTPSessionManager)."""

    def run(self) -> AbstractAsyncContextManager[None]: ...


class LazyMCPEndpoint:
    """The /mcp ASGI app, built on its first request.

    Importing the MCP SDK and building its app cost ~0.35 s of start-up and ~30 MiB of
    memory: a pod serving only the backend's REST calls never needs them. The first /mcp
    request imports app.mcp_protocol (and the SDK) in a worker thread, so other requests
    keep being served, builds the app and starts the SDK's session manager in the
    lifespan's task group, where it runs until shutdown. Requests arriving meanwhile wait
    for the same build.
    """

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._app: ASGIApp | None = None
        self._lock = anyio.Lock()
        self._task_group: TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The lifespan's part: a task group for the session manager, cancelled at shutdown."""
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            try:
                yield
            finally:
                task_group.cancel_scope.cancel()
                self._task_group = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._start()
        await app(scope, receive, send)

    async def _start(self) -> ASGIApp:
        async with self._lock:
            if self._app is None:
                if self._task_group is None:
                    raise RuntimeError("/mcp called outside the app's lifespan")
                protocol = await anyio.to_thread.run_sync(
                    importlib.import_module, "app.mcp_protocol"
                )
                app, manager = protocol.build_mcp_http(self._settings, self._sessions)
                await self._task_group.start(_run_session_manager, manager)
                self._app = app
        return self._app


async def _run_session_manager(
    manager: SessionManager, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    async with manager.run():
        task_status.started()
        await anyio.sleep_forever()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(service="mcp-server", level=settings.LOG_LEVEL)
    engine = create_engine(settings)  # connects lazily; tools need the factory at build time
    sessions = create_sessionmaker(engine)
    mcp_endpoint = LazyMCPEndpoint(settings, sessions)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            async with mcp_endpoint.running():
                tune_for_serving()
                yield
        finally:
            await engine.dispose()

    app = new_app(title="todo-app MCP server", settings=settings, lifespan=lifespan)
    app.state.engine = engine
    app.state.sessionmaker = sessions
    # Ready once the database is reachable and migrated: the backend's pods migrate it.
    app.state.ready_checks = {"database": health.database_check, "schema": health.schema_check}
    app.state.degraded_ok = frozenset()  # every check gates readiness
    app.include_router(health.router)
    app.include_router(service_tasks.router)
    # Only /mcp goes to the SDK's app (with its auth and Host checks); other paths stay ours.
    # POST only: stateless, the server has no event stream to offer, so GET gets 405 with
    # `Allow: POST` (as the transport specification allows) instead of an empty stream.
    app.router.routes.append(
        Route("/mcp", endpoint=mcp_endpoint, methods=["POST"], include_in_schema=False)
    )
    return app


__getattr__ = lazy_app(create_app)
