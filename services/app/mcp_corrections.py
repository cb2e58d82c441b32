"""Where the MCP SDK answers JSON-RPC against the specification, corrected at our edge.

- A request whose `id` is null, fractional, an object or a boolean is taken by the SDK
  for a notification: 202, empty body, never executed. A missing or wrong `jsonrpc`
  member, a batch, or a body that is no message at all gets -32602 (invalid params)
  with about a kilobyte of validation text quoting the input. The JSON-RPC 2.0
  specification says -32600 (invalid request) for all of these; `JsonRpcEnvelopeGuard`
  answers them so, with a short fixed message.
- An unknown prompt is answered with error code 0 and a traceback logged at ERROR; the
  MCP specification says -32602. `TaskMCPServer.get_prompt` raises that instead.

tests/mcp/test_sdk_pins.py pins each SDK behaviour on a bare SDK server: when a pin
fails, the SDK was fixed, and its correction here can go with the pin.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
from mcp.server import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    GetPromptResult,
    InputRequiredResult,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TaskMCPServer(MCPServer):
    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        if name not in {prompt.name for prompt in await self.list_prompts()}:
            raise MCPError(code=INVALID_PARAMS, message="Unknown prompt")
        return await super().get_prompt(name, arguments, context)


class JsonRpcEnvelopeGuard:
    """Answers a POSTed body that is not one valid JSON-RPC 2.0 message with HTTP 400 and
    -32600 (-32602 for positional params: MCP names its parameters); passes the rest on.

    Runs inside the SDK's authentication, so a caller without a valid token still gets
    401 first. Bodies that are not JSON at all are left to the SDK (-32700, as specified).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _authenticated(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        error = envelope_error(body)
        if error is not None:
            code, message = error
            payload = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": json.dumps(payload).encode()})
            return
        await self.app(scope, _replaying(body, receive), send)


def envelope_error(body: bytes) -> tuple[int, str] | None:
    """(code, message) when `body` is JSON but not one valid JSON-RPC 2.0 message, else None."""
    try:
        message = pydantic_core.from_json(body)
    except ValueError:
        return None  # the SDK's parse error (-32700) is right
    if isinstance(message, list):
        return INVALID_REQUEST, "Invalid Request: batches are not supported, send one message"
    if not isinstance(message, dict):
        return INVALID_REQUEST, "Invalid Request: the body must be a JSON-RPC message object"
    if message.get("jsonrpc") != "2.0":
        return INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"'
    if "id" in message and not _is_request_id(message["id"]):
        return INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer'
    if "method" in message:
        params = message.get("params")
        if not isinstance(message["method"], str):
            return INVALID_REQUEST, 'Invalid Request: "method" must be a string'
        if isinstance(params, list):
            return INVALID_PARAMS, 'Invalid params: "params" must be an object'
        if params is not None and not isinstance(params, dict):
            return INVALID_REQUEST, 'Invalid Request: "params" must be an object'
    try:
        jsonrpc_message_adapter.validate_python(message, by_name=False)
    except ValidationError:
        return INVALID_REQUEST, "Invalid Request: not a JSON-RPC request, notification or response"
    return None


def _authenticated(scope: Scope) -> bool:
    user = scope.get("user")  # set by the SDK's AuthenticationMiddleware
    return user is not None and user.is_authenticated


def _is_request_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (the edge's body limit bounds it), None on disconnect."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already read body over once, then waits as the server's."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
