"""The web front end (port 8080): the pages people use, over the backend's REST API.

Run: `python -m app.serve app.frontend.main:app --host 0.0.0.0 --port 8080`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from app.core.deadline import RequestDeadlineMiddleware
from app.core.gc_tuning import tune_for_serving
from app.core.lazy_app import lazy_app
from app.frontend import pages
from app.frontend.backend_client import BackendClient
from app.frontend.config import FrontendSettings, load_frontend_settings
from app.frontend.headers import SecurityHeadersMiddleware
from app.frontend.session import SealedSessionMiddleware
from app.logging import RequestIdMiddleware, configure_logging

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


class FrontEnd(FastAPI):
    """FastAPI with the security headers around its whole stack: Starlette's outermost
    middleware answers an unexpected failure (the 500 page) itself, outside every
    middleware added with add_middleware, and that page must carry them too."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def create_app(settings: FrontendSettings | None = None) -> FastAPI:
    settings = settings or load_frontend_settings()
    configure_logging(service="frontend", level=settings.LOG_LEVEL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backend = BackendClient(settings)
        tune_for_serving()  # as the other two processes: start-up's objects frozen
        try:
            yield
        finally:
            await app.state.backend.aclose()

    app = FrontEnd(
        title="todo-app front end",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    pages.install_error_pages(app)
    # Added innermost first: a request meets the security headers (FrontEnd), the request
    # id, the session, then the deadline (inside the session: its page is rendered).
    app.add_middleware(
        RequestDeadlineMiddleware,
        seconds=settings.REQUEST_TIMEOUT_SECONDS,
        answer=pages.deadline_page,
    )
    app.add_middleware(
        SealedSessionMiddleware,
        key=settings.session_key,
        lifetime_seconds=settings.SESSION_LIFETIME_SECONDS,
        always_secure=settings.SESSION_COOKIE_SECURE == "always",
    )
    app.add_middleware(RequestIdMiddleware)
    return app


__getattr__ = lazy_app(create_app)
