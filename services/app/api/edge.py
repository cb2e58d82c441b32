"""What every request meets before a route, in both apps: request ids, a request body
size limit, a deadline for the whole exchange, the error shapes, the API-docs switch.

Both bounds answer before the app would wait or read any further, and close the
connection when part of the body is still unread, so the rest is never read.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import install_error_handlers
from app.core.config import Settings
from app.core.deadline import CLOSE, RequestDeadlineMiddleware
from app.logging import RequestIdMiddleware


def new_app(
    *,
    title: str,
    settings: Settings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> FastAPI:
    docs = settings.API_DOCS_ENABLED
    app = FastAPI(
        title=title,
        version="0.2.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Added innermost first: a request meets RequestIdMiddleware, then the body limit.
    app.add_middleware(RequestDeadlineMiddleware, seconds=settings.REQUEST_TIMEOUT_SECONDS)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(RequestIdMiddleware)
    return app


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a chunked body passes the limit; an HTTPException, so
    FastAPI's body parsing passes it on instead of calling it a malformed body (400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, detail=f"request body larger than {max_bytes} bytes", headers=CLOSE)


class BodyLimitMiddleware:
    """413 for a request body over `max_bytes`.

    A declared Content-Length over the limit is refused before the app runs. A body of
    unknown length (chunked) is counted as the app reads it and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await _refuse(BodyTooLarge(self.max_bytes), scope, receive, send)
            else:  # the server never delivers more than the declared length
                await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # read outside a route's own exception handling
            if started:
                raise
            await _refuse(exc, scope, receive, send)


async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=CLOSE)
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None
