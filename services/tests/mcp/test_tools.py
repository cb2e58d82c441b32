"""The /mcp endpoint driven by the SDK's own client over Streamable HTTP with a user token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx
import httpx2
import pytest
from harness.local import Server
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import User

T = TypeVar("T")
TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}


def with_session(server: Server, token: str, work: Callable[[ClientSession], Awaitable[T]]) -> T:
    """Run `work` in an initialised MCP client session authenticated as `token`."""

    async def main() -> T:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=10) as http,
            streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    return anyio.run(main)


async def call(session: ClientSession, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(is_error, structured result or error text)."""
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        return True, " ".join(getattr(block, "text", "") for block in result.content)
    return False, result.structured_content


def test_lists_the_five_tools(mcp_server: Server, user: User) -> None:
    async def work(session: ClientSession) -> set[str]:
        return {tool.name for tool in (await session.list_tools()).tools}

    assert with_session(mcp_server, user.token, work) == TOOLS


def test_task_lifecycle_through_tools(mcp_server: Server, user: User, api: httpx.Client) -> None:
    async def work(session: ClientSession) -> dict[str, Any]:
        steps: dict[str, Any] = {}
        _, steps["added"] = await call(session, "add_task", title="via mcp", description="d")
        task_id = steps["added"]["id"]
        _, steps["listed"] = await call(session, "list_tasks", status="open")
        _, steps["updated"] = await call(session, "update_task", task_id=task_id, title="renamed")
        _, steps["completed"] = await call(session, "complete_task", task_id=task_id)
        _, steps["done"] = await call(session, "list_tasks", status="completed")
        steps["deleted"] = await call(session, "delete_task", task_id=task_id)
        steps["again"] = await call(session, "delete_task", task_id=task_id)
        return steps

    steps = with_session(mcp_server, user.token, work)
    added = steps["added"]
    assert (added["title"], added["description"], added["completed"]) == ("via mcp", "d", False)
    assert [t["id"] for t in steps["listed"]["items"]] == [added["id"]]
    assert steps["updated"]["title"] == "renamed"
    assert steps["updated"]["description"] == "d"
    assert steps["completed"]["completed"] is True
    assert [t["id"] for t in steps["done"]["items"]] == [added["id"]]
    assert steps["deleted"][0] is False
    assert steps["again"][0] is True
    assert f"task {added['id']} not found" in steps["again"][1]
    # The REST side sees the same data (same tables, same service code).
    assert api.get(f"/api/v1/tasks/{added['id']}", headers=user.auth).status_code == 404


def test_tools_act_only_as_the_token_user(
    mcp_server: Server, api: httpx.Client, make_user: Callable[[], User]
) -> None:
    owner, intruder = make_user(), make_user()
    created = api.post("/api/v1/tasks", json={"title": "owner's"}, headers=owner.auth).json()

    async def work(session: ClientSession) -> list[tuple[bool, Any]]:
        return [
            await call(session, "list_tasks"),
            await call(session, "complete_task", task_id=created["id"]),
            await call(session, "update_task", task_id=created["id"], title="x"),
            await call(session, "delete_task", task_id=created["id"]),
        ]

    listed, *attempts = with_session(mcp_server, intruder.token, work)
    assert listed == (False, {"items": [], "total": 0, "limit": 20, "offset": 0})
    for is_error, message in attempts:
        assert is_error
        assert f"task {created['id']} not found" in message
    after = api.get(f"/api/v1/tasks/{created['id']}", headers=owner.auth).json()
    assert after == created


@pytest.mark.parametrize(
    ("tool", "arguments", "reason"),
    [
        ("add_task", {"title": ""}, "at least 1 character"),
        ("add_task", {"title": "x" * 201}, "at most 200 characters"),
        ("add_task", {"title": "ok", "description": "x" * 2001}, "at most 2000 characters"),
        ("complete_task", {"task_id": 0}, "greater than 0"),
        ("list_tasks", {"limit": 101}, "less than or equal to 100"),
        ("list_tasks", {"offset": -1}, "greater than or equal to 0"),
    ],
)
def test_tool_arguments_are_validated(
    mcp_server: Server, user: User, tool: str, arguments: dict[str, Any], reason: str
) -> None:
    async def work(session: ClientSession) -> tuple[bool, Any]:
        return await call(session, tool, **arguments)

    is_error, message = with_session(mcp_server, user.token, work)
    assert is_error
    assert reason in message


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    "token", [None, "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"]
)
def test_mcp_refuses_missing_or_bad_tokens(mcp_server: Server, token: str | None) -> None:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(f"{mcp_server.url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()


def test_service_token_is_not_a_user_token(mcp_server: Server) -> None:
    from tests.conftest import SERVICE_TOKEN

    headers = {**MCP_HEADERS, "Authorization": f"Bearer {SERVICE_TOKEN}"}
    response = httpx.post(f"{mcp_server.url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401


def test_unknown_host_is_refused(mcp_server: Server, user: User) -> None:
    headers = {**MCP_HEADERS, **user.auth, "Host": "evil.example"}
    response = httpx.post(f"{mcp_server.url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 421
