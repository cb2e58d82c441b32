"""A deadline for the whole exchange of every request, body upload included: the same
middleware in the three processes. It imports Starlette and AnyIO only, so the front end
(which reaches no database) can use it without the backend's settings module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
CLOSE = {"Connection": "close"}  # uvicorn then closes instead of draining the unread body

# What is sent past the deadline: (scope, status, detail) -> the response.
DeadlineAnswer = Callable[[Scope, int, str], Response]


def json_answer(_: Scope, status: int, detail: str) -> Response:
    """The APIs' answer: `{"detail": ...}`, like their other errors."""
    return JSONResponse({"detail": detail}, status_code=status)


class RequestDeadlineMiddleware:
    """Every request is answered within `seconds`, body upload included.

    Past the deadline the app is cancelled and the client gets 408 if its body had not
    fully arrived (a slow or stalled upload; the connection closes), else 503; `answer`
    makes that response (JSON by default, a page in the front end).
    """

    def __init__(self, app: ASGIApp, seconds: float, answer: DeadlineAnswer = json_answer) -> None:
        self.app = app
        self.seconds = seconds
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        body_pending = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        started = False

        async def tracking_receive() -> Message:
            nonlocal body_pending
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        with anyio.move_on_after(self.seconds) as deadline:
            await self.app(scope, tracking_receive, tracking_send)
        if not deadline.cancelled_caught:
            return
        log.warning(
            "request deadline passed",
            extra={"fields": {"path": scope["path"], "deadline_s": self.seconds}},
        )
        if started:  # nothing more can be said: returning early makes uvicorn close it
            return
        if body_pending:
            detail = f"request body not received within {self.seconds:g} s"
            response = self.answer(scope, 408, detail)
            response.headers.update(CLOSE)
        else:
            detail = f"request not answered within {self.seconds:g} s"
            response = self.answer(scope, 503, detail)
        await response(scope, receive, send)
