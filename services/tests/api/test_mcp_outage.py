"""The backend when the MCP server is down, hanging, or switched off: quick 5xx JSON, no hang."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from harness.local import Server
from harness.proc import free_port, terminate

from tests.conftest import base_env


@pytest.fixture(scope="module")
def hanging_port() -> Iterator[int]:
    """A TCP listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def signed_up(backend: Server) -> dict[str, str]:
    """Users live in the backend's own table, so sign-up works without the MCP server."""
    import uuid

    name = f"o_{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=backend.url, timeout=10) as client:
        client.post("/api/v1/users", json={"username": name, "password": "p" * 10})
        token = client.post("/api/v1/auth/token", json={"username": name, "password": "p" * 10})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture(scope="module")
def backend_mcp_down(launch: Callable[..., Server], database_url: str) -> Server:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = base_env(database_url, MCP_SERVER_URL=closed, MCP_CONNECT_TIMEOUT_SECONDS="1")
    return launch("app.main:app", env)


@pytest.fixture(scope="module")
def backend_mcp_hangs(
    launch: Callable[..., Server], database_url: str, hanging_port: int
) -> Server:
    env = base_env(
        database_url,
        MCP_SERVER_URL=f"http://127.0.0.1:{hanging_port}",
        MCP_TIMEOUT_SECONDS="1",
    )
    return launch("app.main:app", env)


@pytest.fixture(scope="module")
def backend_mcp_disabled(launch: Callable[..., Server], database_url: str) -> Server:
    env = base_env(database_url, MCP_ENABLED="false", MCP_SERVER_URL="http://127.0.0.1:9")
    return launch("app.main:app", env)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/tasks"), ("POST", "/api/v1/tasks"), ("DELETE", "/api/v1/tasks/1")],
)
def test_mcp_down_is_503_once_the_connect_timeout_is_spent(
    backend_mcp_down: Server, method: str, path: str
) -> None:
    # Refused connects are retried for 1 s (MCP_CONNECT_TIMEOUT_SECONDS), no longer.
    auth = signed_up(backend_mcp_down)
    started = time.monotonic()
    body = {"title": "t"} if method == "POST" else None
    response = httpx.request(
        method, backend_mcp_down.url + path, json=body, headers=auth, timeout=30
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json() == {"detail": "task service unavailable"}
    assert 0.7 < elapsed < 2.5, f"took {elapsed:.1f}s"


def test_a_create_reaches_an_mcp_server_that_starts_listening_meanwhile(
    launch: Callable[..., Server], database_url: str, tmp_path: Path
) -> None:
    """As right after the MCP server's pods were replaced: its port refuses connections
    when the create arrives, and listens a moment later (the real server, started then).
    The create is not answered 503: it is sent once the port listens, and creates one task."""
    port = free_port()
    backend = launch(
        "app.main:app", base_env(database_url, MCP_SERVER_URL=f"http://127.0.0.1:{port}")
    )
    auth = signed_up(backend)
    answers: list[httpx.Response] = []

    def post() -> None:
        url = f"{backend.url}/api/v1/tasks"
        answers.append(httpx.post(url, json={"title": "late"}, headers=auth, timeout=30))

    create = threading.Thread(target=post)
    create.start()
    time.sleep(0.3)  # a few connects refused meanwhile
    command = [sys.executable, "-m", "app.serve", "app.mcp_server:app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with (tmp_path / "mcp.log").open("wb") as log:
        mcp = subprocess.Popen(command, env=base_env(database_url), stdout=log, stderr=log)
    try:
        create.join(timeout=30)
        listed = httpx.get(f"{backend.url}/api/v1/tasks", headers=auth, timeout=30)
    finally:
        terminate(mcp, grace=10)
    assert [answer.status_code for answer in answers] == [201], answers[0].text
    assert [task["title"] for task in listed.json()["items"]] == ["late"]


def test_mcp_down_reports_backend_degraded_but_still_ready(backend_mcp_down: Server) -> None:
    # The backend stays in its Service so users get clear 503s, not connection errors.
    response = httpx.get(f"{backend_mcp_down.url}/ready", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "mcp": "unavailable"},
    }
    assert httpx.get(f"{backend_mcp_down.url}/health").status_code == 200


def test_mcp_hanging_does_not_hold_back_the_backends_readiness(
    backend_mcp_hangs: Server,
) -> None:
    started = time.monotonic()
    response = httpx.get(f"{backend_mcp_hangs.url}/ready", timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "mcp": "unavailable"}
    assert elapsed < 1.2, f"took {elapsed:.1f}s"


def test_mcp_hanging_is_504_within_the_read_timeout(backend_mcp_hangs: Server) -> None:
    auth = signed_up(backend_mcp_hangs)
    started = time.monotonic()
    response = httpx.post(
        f"{backend_mcp_hangs.url}/api/v1/tasks", json={"title": "t"}, headers=auth, timeout=30
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json() == {"detail": "task service timed out"}
    assert 0.9 < elapsed < 4, f"took {elapsed:.1f}s"


def test_mcp_disabled(backend_mcp_disabled: Server) -> None:
    auth = signed_up(backend_mcp_disabled)
    response = httpx.get(f"{backend_mcp_disabled.url}/api/v1/tasks", headers=auth)
    assert response.status_code == 503
    assert response.json()["detail"].startswith("task service disabled")
    ready = httpx.get(f"{backend_mcp_disabled.url}/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "mcp": "disabled"}


@pytest.fixture(scope="module")
def backend_wrong_service_token(
    launch: Callable[..., Server], database_url: str, mcp_server: Server
) -> Server:
    env = base_env(
        database_url, MCP_SERVER_URL=mcp_server.url, MCP_SERVICE_TOKEN="not-the-mcp-servers-" * 2
    )
    return launch("app.main:app", env)


def test_refused_service_token_is_502(backend_wrong_service_token: Server) -> None:
    """A deployment error (mismatched secrets) is the gateway's fault, not the user's."""
    auth = signed_up(backend_wrong_service_token)
    response = httpx.get(f"{backend_wrong_service_token.url}/api/v1/tasks", headers=auth)
    assert response.status_code == 502
    assert response.json() == {"detail": "task service refused the backend's credentials"}
