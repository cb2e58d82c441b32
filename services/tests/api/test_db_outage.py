"""PostgreSQL unreachable: both apps stay alive (/health 200), report unready, answer 503."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import SERVICE_TOKEN, Server, base_env
from tests.postgres import free_port


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
