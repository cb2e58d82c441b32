"""Fixtures for the services suite: a throwaway PostgreSQL and both apps served by uvicorn.

Both come from the repository's one place for them, `harness.local` (Debian's
PostgreSQL binaries driven by pytest-postgresql's executor and janitor;
uvicorn on free loopback ports, polled until /health answers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from harness.local import Server, create_database, pg_bin, postgres_server, serve, stop
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

JWT_SECRET = "test-jwt-secret-" + "x" * 32
SERVICE_TOKEN = "test-service-token-" + "y" * 32
SERVICES_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def offline_settings():
    """Settings an app starts with while reaching nothing: the pool connects on first use."""
    from app.core.config import Settings

    return Settings(
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        JWT_SECRET=JWT_SECRET,
        MCP_SERVICE_TOKEN=SERVICE_TOKEN,
    )


@pytest.fixture(scope="session")
def pg_executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQLExecutor]:
    try:
        pg_bin()
    except FileNotFoundError as exc:
        pytest.exit(str(exc), returncode=2)
    with postgres_server(tmp_path_factory.mktemp("pg")) as executor:
        yield executor


@pytest.fixture(scope="session")
def make_database(pg_executor: PostgreSQLExecutor) -> Iterator[Callable[[], str]]:
    """Create an empty database; return its URL (dropped at the end of the session)."""
    janitors: list[DatabaseJanitor] = []

    def make() -> str:
        url, janitor = create_database(pg_executor)
        janitors.append(janitor)
        return url

    yield make
    for janitor in janitors:
        janitor.drop()


def run_migrate(database_url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.migrate", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def database_url(make_database: Callable[[], str]) -> str:
    """A database migrated to head with `python -m app.migrate`, shared by the suite."""
    url = make_database()
    result = run_migrate(url)
    assert result.returncode == 0, result.stderr
    return url


def base_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "MCP_SERVICE_TOKEN": SERVICE_TOKEN,
        "MCP_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "INFO",
        "ENVIRONMENT": "production",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start an app under uvicorn; every server started is stopped at the end of the session."""
    log_dir = tmp_path_factory.mktemp("servers")
    servers: list[Server] = []

    def _launch(target: str, env: dict[str, str]) -> Server:
        server = serve(target, env, log_dir)
        servers.append(server)
        return server

    yield _launch
    for server in servers:
        stop(server)


@pytest.fixture(scope="session")
def mcp_server(launch: Callable[..., Server], database_url: str) -> Server:
    return launch("app.mcp_server:app", base_env(database_url))


@pytest.fixture(scope="session")
def backend(launch: Callable[..., Server], database_url: str, mcp_server: Server) -> Server:
    return launch("app.main:app", base_env(database_url, MCP_SERVER_URL=mcp_server.url))


@dataclass
class User:
    id: int
    username: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def api(backend: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend.url, timeout=10) as client:
        yield client


@pytest.fixture
def make_user(api: httpx.Client) -> Callable[[], User]:
    """Sign up a fresh user through the backend and log in."""

    def make() -> User:
        username = f"user_{uuid.uuid4().hex[:10]}"
        password = "correct horse battery"  # noqa: S105 - test credential
        created = api.post("/api/v1/users", json={"username": username, "password": password})
        assert created.status_code == 201, created.text
        token = api.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert token.status_code == 200, token.text
        return User(created.json()["id"], username, password, token.json()["access_token"])

    return make


@pytest.fixture
def user(make_user: Callable[[], User]) -> User:
    return make_user()
