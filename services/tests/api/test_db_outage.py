"""PostgreSQL unreachable: both apps stay alive (/health 200), report unready, answer 503."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from harness.local import Server
from harness.proc import free_port

from tests.conftest import SERVICE_TOKEN, base_env


@pytest.fixture(scope="module")
def no_db_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/todo"  # nothing listens there


@pytest.fixture(scope="module")
def mcp_without_db(launch: Callable[..., Server], no_db_url: str) -> Server:
    return launch("app.mcp_server:app", base_env(no_db_url))


@pytest.fixture(scope="module")
def backend_without_db(
    launch: Callable[..., Server], no_db_url: str, mcp_without_db: Server
) -> Server:
    return launch("app.main:app", base_env(no_db_url, MCP_SERVER_URL=mcp_without_db.url))


def test_backend(backend_without_db: Server, user_token_for_any_id: str) -> None:
    url = backend_without_db.url
    assert httpx.get(f"{url}/health").status_code == 200
    ready = httpx.get(f"{url}/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"
    signup = httpx.post(
        f"{url}/api/v1/users", json={"username": "nodb_user", "password": "p" * 10}, timeout=10
    )
    assert signup.status_code == 503
    assert signup.json() == {"detail": "database unavailable, try again later"}
    # Task calls go to the MCP server, whose database is down too: 503 passed on.
    tasks = httpx.get(
        f"{url}/api/v1/tasks",
        headers={"Authorization": f"Bearer {user_token_for_any_id}"},
        timeout=10,
    )
    assert tasks.status_code == 503


def test_mcp_server(mcp_without_db: Server) -> None:
    url = mcp_without_db.url
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/ready", timeout=10).status_code == 503
    response = httpx.get(
        f"{url}/tasks",
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-ID": "1"},
        timeout=10,
    )
    assert response.status_code == 503
    assert response.json() == {"detail": "database unavailable, try again later"}


@pytest.fixture
def user_token_for_any_id() -> str:
    from app.core.security import create_access_token
    from tests.conftest import JWT_SECRET

    token, _ = create_access_token(user_id=1, secret=JWT_SECRET, expire_minutes=5)
    return token


class _RestartingPostgres(socketserver.BaseRequestHandler):
    """Answers every connection like a PostgreSQL that is still starting up (SQLSTATE 57P03)."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        length, code = struct.unpack("!ii", _read(sock, 8))
        if code == 80877103:  # SSLRequest: no SSL here, then the real startup message
            sock.sendall(b"N")
            length = struct.unpack("!i", _read(sock, 4))[0]
            _read(sock, length - 4)
        else:
            _read(sock, length - 8)
        fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
        sock.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


@pytest.fixture(scope="module")
def restarting_db_url() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RestartingPostgres)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"postgresql://postgres:pw@127.0.0.1:{server.server_address[1]}/todo"
    finally:
        server.shutdown()
        server.server_close()


def test_restarting_database_is_503_not_500(
    launch: Callable[..., Server], restarting_db_url: str
) -> None:
    # A PostgreSQL restarting (or shutting down) accepts connections and refuses them with
    # 57P03: an outage like any other, so 503 with a message, never a 500.
    mcp = launch("app.mcp_server:app", base_env(restarting_db_url))
    backend = launch("app.main:app", base_env(restarting_db_url, MCP_SERVER_URL=mcp.url))
    response = httpx.get(
        f"{mcp.url}/tasks",
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-ID": "1"},
        timeout=10,
    )
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": "database unavailable, try again later"}
    signup = httpx.post(
        f"{backend.url}/api/v1/users",
        json={"username": "restart_user", "password": "p" * 10},
        timeout=10,
    )
    assert signup.status_code == 503, signup.text
    login = httpx.post(
        f"{backend.url}/api/v1/auth/token",
        json={"username": "restart_user", "password": "p" * 10},
        timeout=10,
    )
    assert login.status_code == 503, login.text
