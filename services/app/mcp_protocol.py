"""The MCP server's `/mcp` door: the official SDK's MCPServer with the five task tools.

Streamable HTTP, stateless, JSON responses; callers hold a user JWT (the backend's
tokens). app.mcp_server imports this module on the first /mcp request only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from app.core.config import Settings
from app.core.security import InvalidToken, decode_access_token
from app.mcp_corrections import JsonRpcEnvelopeGuard, TaskMCPServer
from app.schemas import (
    Description,
    Id,
    IdempotencyKeyValue,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskStatus,
    TaskUpdate,
    Title,
)
from app.services import idempotency, tasks


class UserTokenVerifier:
    """The SDK's TokenVerifier: accepts the backend's user JWTs (same JWT_SECRET)."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            user_id = decode_access_token(token, secret=self._secret)
        except InvalidToken:
            return None
        return AccessToken(token=token, client_id=str(user_id), subject=str(user_id), scopes=[])


def _caller() -> int:
    """The verified token's user: the only source of identity for tools."""
    token = get_access_token()
    if token is None or token.subject is None:  # the SDK's auth middleware prevents this
        raise ToolError("not authenticated")
    return int(token.subject)


@contextmanager
def _as_tool_error() -> Iterator[None]:
    """The task functions' own errors (no such task, no such user, a refused idempotency
    key) as MCP tool errors."""
    try:
        yield
    except (
        tasks.TaskNotFound,
        tasks.UnknownOwner,
        idempotency.KeyInFlight,
        idempotency.KeyReused,
    ) as exc:
        raise ToolError(str(exc)) from exc


def build_mcp(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> TaskMCPServer:
    mcp = TaskMCPServer(
        "todo-tasks",
        instructions="Manage the signed-in user's todo tasks.",
        version="0.2.0",
        token_verifier=UserTokenVerifier(settings.jwt_secret),
        # We are a resource server only; issuer_url is required by the SDK's model but,
        # with no resource_server_url and no auth provider, nothing is served from it.
        auth=AuthSettings(issuer_url="http://localhost", resource_server_url=None),
        log_level=settings.LOG_LEVEL,
        # No subscriptions/listen: the tools never change, so such a stream would only
        # hold a connection open with nothing to send.
        subscriptions=False,
    )

    @mcp.tool()
    async def add_task(
        title: Title,
        description: Description | None = None,
        idempotency_key: IdempotencyKeyValue | None = None,
    ) -> TaskPublic:
        """Create a task for the signed-in user.

        idempotency_key (optional; 1-255 characters of A-Z a-z 0-9 . _ ~ : + / = -, e.g. a
        UUID) makes a retry safe: the same key with the same title and description
        returns the task the first call created instead of creating another, for 24 hours
        by default; the same key with other arguments is an error.
        """
        data = TaskCreate(title=title, description=description)
        async with sessions() as session:
            with _as_tool_error():
                if idempotency_key is None:
                    return await tasks.create_task(session, owner_id=_caller(), data=data)
                answer = await idempotency.create_task_once(
                    session,
                    owner_id=_caller(),
                    key=idempotency_key,
                    data=data,
                    ttl_seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS,
                )
        return TaskPublic.model_validate_json(answer.body)

    @mcp.tool()
    async def list_tasks(
        status: TaskStatus | None = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
    ) -> TaskPage:
        """List the signed-in user's tasks (status: open | completed), oldest first."""
        async with sessions() as session:
            query = TaskQuery(status=status, limit=limit, offset=offset)
            return await tasks.list_tasks(session, owner_id=_caller(), query=query)

    @mcp.tool()
    async def complete_task(task_id: Id) -> TaskPublic:
        """Mark one of the signed-in user's tasks as completed."""
        async with sessions() as session:
            with _as_tool_error():
                return await tasks.complete_task(session, owner_id=_caller(), task_id=task_id)

    @mcp.tool()
    async def update_task(
        task_id: Id,
        title: Title | None = None,
        description: Description | None = None,
        completed: bool | None = None,
    ) -> TaskPublic:
        """Change a task's title, description or completed flag (omitted ones stay)."""
        changes = {"title": title, "description": description, "completed": completed}
        data = TaskUpdate(**{key: value for key, value in changes.items() if value is not None})
        async with sessions() as session:
            with _as_tool_error():
                return await tasks.update_task(
                    session, owner_id=_caller(), task_id=task_id, data=data
                )

    @mcp.tool()
    async def delete_task(task_id: Id) -> str:
        """Delete one of the signed-in user's tasks."""
        async with sessions() as session:
            with _as_tool_error():
                await tasks.delete_task(session, owner_id=_caller(), task_id=task_id)
        return f"task {task_id} deleted"

    return mcp


def build_mcp_http(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> tuple[ASGIApp, StreamableHTTPSessionManager]:
    """The ASGI app serving /mcp, and the session manager that must run while it serves."""
    mcp = build_mcp(settings, sessions)
    hosts = settings.allowed_hosts
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    mcp_http = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        # Stateless JSON responses: any replica can answer any request (HPA, no sticky sessions).
        stateless_http=True,
        json_response=True,
        max_request_body_size=settings.MAX_REQUEST_BODY_BYTES,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=hosts,
            allowed_origins=origins,
        ),
    )
    mcp_http.user_middleware.append(Middleware(JsonRpcEnvelopeGuard))  # inside the SDK's auth
    return mcp_http, mcp.session_manager
