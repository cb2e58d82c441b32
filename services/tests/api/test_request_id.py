"""X-Request-ID: accepted or minted, echoed, forwarded to the MCP server, in both JSON logs."""

from __future__ import annotations

import json
import time
import uuid

import httpx
from harness.local import Server

from tests.conftest import User


def log_lines(server: Server) -> list[dict]:
    lines = []
    for line in server.logs().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


def wait_for_line(server: Server, request_id: str) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for entry in log_lines(server):
            if entry.get("request_id") == request_id and entry.get("message") == "request":
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no log line with request_id={request_id} in {server.log_path}")


def test_request_id_is_propagated(
    api: httpx.Client, user: User, backend: Server, mcp_server: Server
) -> None:
    request_id = f"test-{uuid.uuid4().hex}"
    response = api.post(
        "/api/v1/tasks", json={"title": "traced"}, headers={**user.auth, "X-Request-ID": request_id}
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == request_id

    backend_line = wait_for_line(backend, request_id)
    assert backend_line["service"] == "backend"
    assert (backend_line["method"], backend_line["path"], backend_line["status"]) == (
        "POST",
        "/api/v1/tasks",
        201,
    )
    mcp_line = wait_for_line(mcp_server, request_id)
    assert mcp_line["service"] == "mcp-server"
    assert (mcp_line["path"], mcp_line["status"]) == ("/tasks", 201)


def test_request_id_is_minted_when_absent_or_unsafe(api: httpx.Client) -> None:
    minted = api.get("/health").headers["X-Request-ID"]
    assert len(minted) == 32
    unsafe = api.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"


def test_logs_are_json(backend: Server, mcp_server: Server) -> None:
    for server in (backend, mcp_server):
        lines = [line for line in server.logs().splitlines() if line.strip()]
        assert lines
        for line in lines:
            entry = json.loads(line)
            assert {"ts", "level", "logger", "service", "message"} <= set(entry)
