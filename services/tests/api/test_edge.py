"""The edge both apps share: a request body limit answered 413 before the rest is read,
a deadline for every request, and the API-docs switch."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from harness.local import Server

from tests.conftest import SERVICE_TOKEN, User, base_env

MIB = 1024 * 1024


def raw_exchange(server: Server, head: str, body_parts: list[bytes]) -> tuple[bytes, float]:
    """Send a request head and body parts over one socket; return all the server sent back
    until it closed the connection, and the seconds that took."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head.encode())
        try:
            for part in body_parts:
                sock.sendall(part)
        except OSError:  # the server already answered and closed: expected
            pass
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:  # closed with our unread bytes in its buffer
            pass
        return received, time.monotonic() - started


def post_head(path: str, user: User, length: str) -> str:
    framing = "Transfer-Encoding: chunked" if length == "chunked" else f"Content-Length: {length}"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {user.token}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )


def test_declared_oversized_body_is_refused_before_it_is_read(backend: Server, user: User) -> None:
    # 10 MiB announced, 100 bytes sent: the answer comes without waiting for the rest.
    head = post_head("/api/v1/tasks", user, str(10 * MIB))
    received, seconds = raw_exchange(backend, head, [b'{"title": "' + b"a" * 89])
    assert received.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in received.lower()
    assert received.endswith(b'{"detail":"request body larger than 1048576 bytes"}')
    assert seconds < 2


def test_chunked_body_is_cut_off_at_the_limit(backend: Server, user: User) -> None:
    chunk = b"a" * 65536
    parts = [b'b\r\n{"title": "\r\n'] + [b"10000\r\n" + chunk + b"\r\n"] * 40  # 2.5 MiB
    received, _ = raw_exchange(backend, post_head("/api/v1/tasks", user, "chunked"), parts)
    assert received.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in received.lower()
    assert b"request body larger than 1048576 bytes" in received


def test_ten_megabyte_title_is_413_not_read_for_a_422(api: httpx.Client, user: User) -> None:
    response = api.post("/api/v1/tasks", json={"title": "a" * 10 * MIB}, headers=user.auth)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 1048576 bytes"}
    assert api.get("/api/v1/tasks", headers=user.auth).json()["total"] == 0


@pytest.fixture(scope="module")
def small_limit_servers(launch: Callable[..., Server], database_url: str) -> tuple[Server, Server]:
    env = base_env(database_url, MAX_REQUEST_BODY_BYTES="2048")
    mcp = launch("app.mcp_server:app", env)
    return mcp, launch("app.main:app", {**env, "MCP_SERVER_URL": mcp.url})


def test_the_limit_is_the_setting_in_both_apps(
    small_limit_servers: tuple[Server, Server], make_user: Callable[[], User]
) -> None:
    mcp, backend = small_limit_servers
    user = make_user()
    fits = {"title": "t", "description": "d" * 1900}
    too_big = {"title": "t", "description": "\u20ac" * 1000}  # valid: 1000 characters, 3000 bytes
    with httpx.Client(base_url=backend.url, headers=user.auth) as client:
        assert client.post("/api/v1/tasks", json=fits).status_code == 201
        assert client.post("/api/v1/tasks", json=too_big).status_code == 413
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-ID": str(user.id)}
    assert httpx.post(f"{mcp.url}/tasks", json=too_big, headers=service).status_code == 413
    mcp_call = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 2100}}
    headers = {**user.auth, "Accept": "application/json, text/event-stream"}
    response = httpx.post(f"{mcp.url}/mcp", json=mcp_call, headers=headers)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 2048 bytes"}


@pytest.fixture(scope="module")
def mcp_with_1s_deadline(launch: Callable[..., Server], database_url: str) -> Server:
    return launch("app.mcp_server:app", base_env(database_url, REQUEST_TIMEOUT_SECONDS="1"))


def test_stalled_upload_is_408_at_the_deadline(mcp_with_1s_deadline: Server) -> None:
    head = (
        "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {SERVICE_TOKEN}\r\nX-User-ID: 1\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    received, seconds = raw_exchange(mcp_with_1s_deadline, head, [b'{"title": '])
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in received.lower()
    assert received.endswith(b'{"detail":"request body not received within 1 s"}')
    assert 0.9 < seconds < 3


def test_stuck_handler_is_503_at_the_deadline_and_the_server_recovers(
    mcp_with_1s_deadline: Server, user: User, database_url: str
) -> None:
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-ID": str(user.id)}
    url = f"{mcp_with_1s_deadline.url}/tasks"
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = httpx.get(url, headers=service, timeout=10)
        seconds = time.monotonic() - started
        blocker.rollback()
    assert response.status_code == 503
    assert response.json() == {"detail": "request not answered within 1 s"}
    assert 0.9 < seconds < 3
    assert httpx.get(url, headers=service, timeout=10).status_code == 200


@pytest.fixture(scope="module")
def servers_without_docs(launch: Callable[..., Server], database_url: str) -> tuple[Server, Server]:
    env = base_env(database_url, API_DOCS_ENABLED="false")
    mcp = launch("app.mcp_server:app", env)
    return mcp, launch("app.main:app", {**env, "MCP_SERVER_URL": mcp.url})


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_switch(
    servers_without_docs: tuple[Server, Server], mcp_server: Server, backend: Server, path: str
) -> None:
    for server in servers_without_docs:
        assert httpx.get(server.url + path).status_code == 404
    for server in (mcp_server, backend):  # on by default
        assert httpx.get(server.url + path).status_code == 200
