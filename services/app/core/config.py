"""Typed settings read from the environment (no prefix), shared by both processes.

A bad setting stops a process with one line (app.core.config_errors), never a value."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from app.core import config_errors

# Secrets that may only appear in development; anything else must be set for real.
_WEAK_SECRETS = {"", "changethis", "secret", "dev", "development"}
_DEV_JWT_SECRET = "development-only-jwt-secret"  # noqa: S105 - refused outside development
_URL_HINT = (
    "percent-encode reserved characters in the user name and password ('@' as %40, "
    "':' as %3A, '/' as %2F, '%' as %25), or set POSTGRES_HOST, POSTGRES_PORT, "
    "POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB instead"
)


class DatabaseSettings(BaseSettings):
    """What migrations need: the database location and logging, no secrets besides the DB's."""

    # Errors name the setting and the rule it breaks, never the value: it may be a secret,
    # and a model-level error would otherwise quote every setting, passwords included.
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    ENVIRONMENT: Literal["production", "development"] = "production"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Database: either DATABASE_URL or the separate parts (password may hold any character).
    DATABASE_URL: str | None = None
    POSTGRES_HOST: str = "localhost"
    POSTGRES_PORT: int = Field(default=5432, ge=1, le=65535)
    POSTGRES_USER: str = "postgres"
    POSTGRES_PASSWORD: SecretStr = SecretStr("")
    POSTGRES_DB: str = "todo"
    # Overflow connections are closed on return, so a pool smaller than the usual
    # concurrency reconnects all the time: size it for the load, keep overflow small.
    DB_POOL_SIZE: int = Field(default=20, ge=1, le=100)
    DB_MAX_OVERFLOW: int = Field(default=5, ge=0, le=100)
    DB_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)

    @field_validator("DATABASE_URL")
    @classmethod
    def _parseable_url(cls, value: str | None) -> str | None:
        if value:
            _parse_database_url(value)
        return value

    @cached_property
    def database_url(self) -> URL:
        """The async driver URL, built from parts so no character needs escaping."""
        if self.DATABASE_URL:
            url = _parse_database_url(self.DATABASE_URL)
            return url.set(drivername="postgresql+asyncpg")
        return URL.create(
            "postgresql+asyncpg",
            username=self.POSTGRES_USER,
            password=self.POSTGRES_PASSWORD.get_secret_value() or None,
            host=self.POSTGRES_HOST,
            port=self.POSTGRES_PORT,
            database=self.POSTGRES_DB,
        )


class Settings(DatabaseSettings):
    """Everything both servers read; secrets have no usable default outside development."""

    # Identity: user tokens (HS256) and the backend -> MCP service credential.
    JWT_SECRET: SecretStr | None = None
    JWT_EXPIRE_MINUTES: int = Field(default=60, ge=1, le=60 * 24 * 30)
    MCP_SERVICE_TOKEN: SecretStr

    # Backend -> MCP server.
    MCP_SERVER_URL: str = "http://mcp-server:8001"
    MCP_ENABLED: bool = True
    MCP_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, description="read timeout")
    MCP_CONNECT_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0)

    # MCP server: Host header values accepted on /mcp (DNS-rebinding protection).
    MCP_ALLOWED_HOSTS: str = "localhost,127.0.0.1"

    # Both servers, per request: the largest body read (larger: 413, the connection closes)
    # and the time from arrival to the answer (past it: 408 while the body is still
    # arriving, else 503). Keep the deadline above MCP_CONNECT_TIMEOUT_SECONDS +
    # MCP_TIMEOUT_SECONDS, so a slow task service is answered 504 first.
    MAX_REQUEST_BODY_BYTES: int = Field(default=1024 * 1024, ge=1)
    REQUEST_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    # /docs, /redoc and /openapi.json (production values switch them off).
    API_DOCS_ENABLED: bool = True

    # MCP server: how long a task creation's Idempotency-Key is remembered (then purged).
    IDEMPOTENCY_KEY_TTL_SECONDS: int = Field(default=24 * 3600, ge=1, le=7 * 24 * 3600)

    @field_validator("MCP_SERVER_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return config_errors.http_url(value)

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        """Outside development, secrets must be set and not a known placeholder."""
        if self.ENVIRONMENT == "development":
            if self.JWT_SECRET is None:
                self.JWT_SECRET = SecretStr(_DEV_JWT_SECRET)
            return self
        jwt_secret = self.JWT_SECRET.get_secret_value() if self.JWT_SECRET else ""
        if jwt_secret.lower() in _WEAK_SECRETS or jwt_secret == _DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set to a strong value outside development")
        if self.MCP_SERVICE_TOKEN.get_secret_value().lower() in _WEAK_SECRETS:
            raise ValueError("MCP_SERVICE_TOKEN must be set to a strong value outside development")
        return self

    @property
    def jwt_secret(self) -> str:
        assert self.JWT_SECRET is not None  # set by the validator
        return self.JWT_SECRET.get_secret_value()

    @property
    def allowed_hosts(self) -> list[str]:
        """Host header values for /mcp; a bare name also accepts any port (`name:*`)."""
        hosts: list[str] = []
        for entry in self.MCP_ALLOWED_HOSTS.split(","):
            entry = entry.strip()
            if not entry:
                continue
            hosts.append(entry)
            if not entry.endswith(":*") and not _has_port(entry):
                hosts.append(f"{entry}:*")
        return hosts


def load_settings() -> Settings:
    """The backend's or the MCP server's settings. A bad one stops start-up with one line
    naming each setting and the rule it breaks (app.core.config_errors)."""
    return config_errors.load(Settings)


def _parse_database_url(value: str) -> URL:
    """Parse DATABASE_URL; a ValueError's message never quotes it (it holds the password)."""
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):  # e.g. "invalid literal for int()": a ':' in the password
        raise ValueError(f"not a valid URL: {_URL_HINT}") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql:// URL")
    # An unencoded '@' in the password leaves the rest of it in the host name.
    if "@" in (url.host or "") or "@" in (url.database or ""):
        raise ValueError(f"has an unencoded '@': {_URL_HINT}")
    return url


def _has_port(host: str) -> bool:
    if host.startswith("["):  # IPv6 literal: [::1] or [::1]:8001
        return "]:" in host
    return host.count(":") == 1
