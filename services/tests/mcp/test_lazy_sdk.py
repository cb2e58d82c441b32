"""/mcp is built on its first request: the SDK is not loaded by a server that serves REST only."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import JWT_SECRET, SERVICE_TOKEN

# Runs in its own interpreter: this test process has imported the SDK long before.
SCRIPT = """
import json, sys
import anyio, httpx
from app.core.config import Settings
from app.mcp_server import create_app

settings = Settings(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
                    JWT_SECRET=sys.argv[1], MCP_SERVICE_TOKEN=sys.argv[2])
app = create_app(settings)
call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
accept = {"Accept": "application/json, text/event-stream"}

async def main():
    async with app.router.lifespan_context(app):
        started = "mcp.server" in sys.modules
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            health = await client.get("/health")
            after_health = "mcp.server" in sys.modules
            answers = []
            async def first_call():
                answers.append(await client.post("/mcp", json=call, headers=accept))
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(first_call)
    print(json.dumps({
        "sdk_at_start": started,
        "health": health.status_code,
        "sdk_after_health": after_health,
        "sdk_after_mcp": "mcp.server" in sys.modules,
        "mcp_statuses": sorted(a.status_code for a in answers),
    }))

anyio.run(main)
"""


def test_sdk_is_loaded_by_the_first_mcp_request_only() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, JWT_SECRET, SERVICE_TOKEN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "sdk_at_start": False,
        "health": 200,
        "sdk_after_health": False,
        "sdk_after_mcp": True,
        # Concurrent first calls all reach the SDK, which refuses them: no token.
        "mcp_statuses": [401] * 5,
    }
    # One build for the five calls: one session manager started, and stopped at shutdown.
    assert result.stderr.count("StreamableHTTP session manager started") == 1, result.stderr
    assert result.stderr.count("StreamableHTTP session manager shutting down") == 1
