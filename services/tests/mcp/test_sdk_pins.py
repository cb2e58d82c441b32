"""Pins of the MCP SDK's own answers that app.mcp_corrections and app.mcp_server correct.

Each test drives a bare SDK server (the installed `mcp` package, configured as ours:
stateless, JSON responses, no corrections) in process. A failing pin means the SDK
changed: if it now answers as the specification says, drop our correction and the pin.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


class Exchange:
    """What an ASGI app sent back for one request."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.completed = False  # the app returned (the response ended) before the client left

    @property
    def status(self) -> int | None:
        starts = [m for m in self.messages if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"].endswith(".body"))

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    app: ASGIApp, method: str, body: bytes = b"", *, headers: dict[str, str], wait: float = 5
) -> Exchange:
    """One request, as a client that stays connected for up to `wait` seconds."""
    exchange = Exchange()
    finished = anyio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        exchange.messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8001),
    }
    async with anyio.create_task_group() as group:

        async def serve() -> None:
            await app(scope, receive, send)
            exchange.completed = True
            finished.set()

        group.start_soon(serve)
        with anyio.move_on_after(wait):
            await finished.wait()
        finished.set()
        group.cancel_scope.cancel()
    return exchange


def with_bare_sdk(work: Callable[[ASGIApp], Awaitable[Any]]) -> Any:
    mcp = MCPServer("pin")

    @mcp.tool()
    def echo(text: str) -> str:
        return text

    app = mcp.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    async def main() -> Any:
        async with mcp.session_manager.run():
            return await work(app)

    return anyio.run(main)


@pytest.mark.parametrize("request_id", [None, 1.5, {"x": 1}, True])
def test_sdk_drops_a_request_with_an_invalid_id_as_a_notification(request_id: object) -> None:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}

    async def work(app: ASGIApp) -> Exchange:
        return await request(app, "POST", json.dumps(body).encode(), headers=HEADERS)

    exchange = with_bare_sdk(work)
    assert (exchange.status, exchange.body) == (202, b"")


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "method": "tools/list"},
        [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}],
        "just a string",
    ],
)
def test_sdk_answers_a_malformed_envelope_as_invalid_params_quoting_the_input(body: Any) -> None:
    async def work(app: ASGIApp) -> Exchange:
        return await request(app, "POST", json.dumps(body).encode(), headers=HEADERS)

    exchange = with_bare_sdk(work)
    assert exchange.status == 400
    error = exchange.json()["error"]
    assert error["code"] == -32602
    assert "input_value=" in error["message"]


def test_sdk_answers_an_unknown_prompt_with_code_0() -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "nope"}}

    async def work(app: ASGIApp) -> Exchange:
        return await request(app, "POST", json.dumps(body).encode(), headers=HEADERS)

    assert with_bare_sdk(work).json()["error"]["code"] == 0


def test_sdk_holds_an_empty_event_stream_open_on_get() -> None:
    async def work(app: ASGIApp) -> Exchange:
        return await request(app, "GET", headers={"accept": "text/event-stream"}, wait=1)

    exchange = with_bare_sdk(work)
    assert exchange.status == 200
    assert exchange.headers["content-type"].startswith("text/event-stream")
    assert exchange.body == b""
    assert not exchange.completed  # a second in: nothing sent, and still open
