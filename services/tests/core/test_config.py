"""Settings: the database URL is built safely, weak secrets are refused outside development,
and a bad setting is named with its rule, never with its value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.core.config import DatabaseSettings, Settings
from app.core.config_errors import describe as describe_errors

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


SENTINEL = "SENTINEL-b7f3"  # in every bad or secret value below; must never be printed


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        (f"postgresql://todo:p@{SENTINEL}:w/rd@db:5432/todo", "not a valid URL: percent-encode"),
        (f"postgresql://todo:p@{SENTINEL}@db:5432/todo", "has an unencoded '@': percent-encode"),
        (f"mysql://todo:{SENTINEL}@db/todo", "must be a postgresql:// URL"),
        (f"{SENTINEL} is no URL", "not a valid URL"),
    ],
)
def test_malformed_database_url_is_named_with_the_fix(url: str, rule: str) -> None:
    with pytest.raises(ValidationError) as failure:
        DatabaseSettings(DATABASE_URL=url)
    message = describe_errors(failure.value)
    assert message.startswith(f"DATABASE_URL: {rule}"), message
    assert SENTINEL not in message
    assert SENTINEL not in str(failure.value)  # what app.migrate would print


def test_percent_encoded_password_is_decoded() -> None:
    settings = DatabaseSettings(DATABASE_URL="postgresql://todo:p%40ss%3Aw%2Frd%25@db:5432/todo")
    assert settings.database_url.password == "p@ss:w/rd%"
    assert settings.database_url.host == "db"


def test_validation_errors_never_quote_values() -> None:
    # A model-level rule (weak secret) used to quote the whole input, passwords included.
    with pytest.raises(ValidationError) as failure:
        Settings(
            JWT_SECRET="changethis",
            MCP_SERVICE_TOKEN=SENTINEL + "-token",
            POSTGRES_PASSWORD=SENTINEL + "-password",
        )
    assert SENTINEL not in str(failure.value)
    assert describe_errors(failure.value) == (
        "JWT_SECRET must be set to a strong value outside development"
    )


# Every process of the image, as the chart starts it (the backend's command migrates first).
BACKEND = ["-m", "app.serve", "app.main:app", "--port", "0"]
MCP_SERVER = ["-m", "app.serve", "app.mcp_server:app", "--port", "0"]
BACKEND_MIGRATING = [*BACKEND, "--migrate"]
MIGRATE = ["-m", "app.migrate"]
SERVERS = [BACKEND, MCP_SERVER, BACKEND_MIGRATING]
# (bad environment, the one line expected, the processes that read the setting): a
# malformed URL, invalid values, a required secret missing or weak, a bad uvicorn option.
CONFIGURATION_ERRORS = [
    (
        {"DATABASE_URL": f"postgresql://todo:p@{SENTINEL}:w/rd@db/todo"},
        "configuration error: DATABASE_URL: not a valid URL: percent-encode",
        [*SERVERS, MIGRATE],
    ),
    (
        {"DB_POOL_SIZE": SENTINEL},
        "configuration error: DB_POOL_SIZE: Input should be a valid integer",
        [*SERVERS, MIGRATE],
    ),
    (
        {"JWT_SECRET": "changethis"},
        "configuration error: JWT_SECRET must be set to a strong value outside development",
        SERVERS,
    ),
    (
        {"MCP_SERVICE_TOKEN": None},
        "configuration error: MCP_SERVICE_TOKEN: Field required",
        SERVERS,
    ),
    (
        {"MCP_SERVER_URL": f"{SENTINEL}:8001"},
        "configuration error: MCP_SERVER_URL: must be an http:// or https:// URL with a host",
        SERVERS,
    ),
    (
        {"UVICORN_TIMEOUT_KEEP_ALIVE": "soon"},
        "configuration error: UVICORN_TIMEOUT_KEEP_ALIVE: 'soon' is not a valid integer",
        SERVERS,
    ),
]


def _name(command: list[str]) -> str:
    return " ".join(command[1:3]) + (" --migrate" if "--migrate" in command else "")


@pytest.mark.parametrize(
    ("command", "bad", "expected"),
    [
        pytest.param(command, bad, expected, id=f"{_name(command)}-{next(iter(bad))}")
        for bad, expected, commands in CONFIGURATION_ERRORS
        for command in commands
    ],
)
def test_a_configuration_error_is_one_line_naming_the_setting_exit_code_1(
    command: list[str], bad: dict[str, str | None], expected: str
) -> None:
    """What the container prints when its configuration is wrong: that line alone, no
    traceback, never a value (the sentinel stands in the bad and the secret values)."""
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": "postgresql://todo@127.0.0.1:1/todo",  # nothing listens: not reached
        "JWT_SECRET": f"{SENTINEL}-jwt-secret-long-enough",
        "MCP_SERVICE_TOKEN": f"{SENTINEL}-service-token",
        "POSTGRES_PASSWORD": f"{SENTINEL}-password",
    }
    for name, value in bad.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]
    assert SENTINEL not in result.stderr


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://mcp-server:8001", True),
        ("https://mcp.example/prefix", True),
        ("http://[::1]:8001", True),
        ("mcp-server:8001", False),
        ("ftp://mcp-server", False),
        ("http://:8001", False),
        ("http://mcp-server:port", False),
        ("http://mcp-server:70000", False),
    ],
)
def test_the_mcp_server_url_must_be_http_with_a_host(url: str, accepted: bool) -> None:
    if accepted:
        assert Settings(JWT_SECRET=STRONG, MCP_SERVICE_TOKEN=STRONG, MCP_SERVER_URL=url)
        return
    with pytest.raises(ValidationError) as failure:
        Settings(JWT_SECRET=STRONG, MCP_SERVICE_TOKEN=STRONG, MCP_SERVER_URL=url)
    assert describe_errors(failure.value).startswith("MCP_SERVER_URL: ")


def test_edge_defaults() -> None:
    settings = Settings(JWT_SECRET=STRONG, MCP_SERVICE_TOKEN=STRONG)
    assert settings.MAX_REQUEST_BODY_BYTES == 1024 * 1024
    assert settings.REQUEST_TIMEOUT_SECONDS == 30
    assert settings.API_DOCS_ENABLED is True


def test_idempotency_keys_are_kept_24_hours_by_default() -> None:
    settings = Settings(JWT_SECRET=STRONG, MCP_SERVICE_TOKEN=STRONG)
    assert settings.IDEMPOTENCY_KEY_TTL_SECONDS == 24 * 3600
