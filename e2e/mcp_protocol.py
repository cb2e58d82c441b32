"""A synchronous face on the official MCP SDK client (Streamable HTTP, Bearer JWT)."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def _session(url: str, token: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        tools = await client.list_tools()
        out: dict[str, Any] = {"tools": sorted(t.name for t in tools.tools), "results": []}
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            out["results"].append(
                {
                    "is_error": result.is_error,
                    "structured": result.structured_content,
                    "text": [getattr(c, "text", None) for c in result.content],
                }
            )
        return out


def mcp_calls(url: str, token: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Open one MCP session at `url` (…/mcp), list tools, run the tool calls in order."""
    return anyio.run(_session, url, token, list(calls))
