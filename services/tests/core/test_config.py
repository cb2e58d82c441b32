"""Settings: the database URL is built safely, weak secrets are refused outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.core.config import DatabaseSettings, Settings

STRONG = "s" * 40


def test_url_built_from_parts_survives_any_password(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss:w/rd?#%&=+ 'quoted' \"dq\" $(x)"
    for key, value in {
        "POSTGRES_HOST": "db.example",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "todo",
        "POSTGRES_PASSWORD": password,
        "POSTGRES_DB": "todo",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = DatabaseSettings().database_url
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db.example",
        6543,
        "todo",
        password,
        "todo",
    )
    # ...and still the same after rendering to a string and parsing back.
    assert make_url(url.render_as_string(hide_password=False)).password == password


def test_database_url_overrides_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@h:1/d")
    monkeypatch.setenv("POSTGRES_HOST", "ignored")
    url = DatabaseSettings().database_url
    assert (url.drivername, url.host, url.port, url.database) == ("postgresql+asyncpg", "h", 1, "d")


@pytest.mark.parametrize("jwt_secret", [None, "", "changethis", "secret"])
def test_weak_jwt_secret_refused_in_production(jwt_secret: str | None) -> None:
    kwargs = {"MCP_SERVICE_TOKEN": STRONG, "ENVIRONMENT": "production"}
    if jwt_secret is not None:
        kwargs["JWT_SECRET"] = jwt_secret
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(**kwargs)


def test_service_token_is_required() -> None:
    with pytest.raises(ValidationError, match="MCP_SERVICE_TOKEN"):
        Settings(JWT_SECRET=STRONG)


def test_development_gets_a_jwt_secret() -> None:
    settings = Settings(ENVIRONMENT="development", MCP_SERVICE_TOKEN="dev")
    assert settings.jwt_secret


def test_allowed_hosts_accept_any_port_for_bare_names() -> None:
    settings = Settings(
        JWT_SECRET=STRONG,
        MCP_SERVICE_TOKEN=STRONG,
        MCP_ALLOWED_HOSTS="todo-mcp-server, todo-mcp-server.ns.svc:8001,localhost:*,[::1]",
    )
    assert settings.allowed_hosts == [
        "todo-mcp-server",
        "todo-mcp-server:*",
        "todo-mcp-server.ns.svc:8001",
        "localhost:*",
        "[::1]",
        "[::1]:*",
    ]
