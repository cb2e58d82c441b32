"""The front end's settings, read from the environment (no prefix) like the other processes.

Kept apart from app.core.config, whose module imports SQLAlchemy for the database URL:
the front end reaches no database, and that import alone is 11 MiB of resident memory.
Errors go through app.core.config_errors, which imports pydantic only.
"""

from __future__ import annotations

import base64
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core import config_errors

_WEAK_SECRETS = {"", "changethis", "secret", "dev", "development"}
_DEV_SESSION_SECRET = "development-only-session-secret-not-for-production"  # noqa: S105
SESSION_SECRET_MIN = 32


class FrontendSettings(BaseSettings):
    """What the front end reads. It holds no database or MCP credential: only the backend's
    address and the key its session cookies are sealed with."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    ENVIRONMENT: Literal["production", "development"] = "production"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # The backend's REST API, reached server-side (the browser never sees it).
    BACKEND_URL: str = "http://backend:8000"
    BACKEND_CONNECT_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0)
    # Above the backend's own budget for a task call (MCP connect 2 s + read 10 s), so the
    # backend's 504 arrives before this gives up.
    BACKEND_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0)

    # Session cookies: sealed (encrypted and authenticated) with a key derived from this.
    SESSION_SECRET: SecretStr | None = None
    # How long a session cookie lives in the browser; the backend token inside it may end
    # sooner (JWT_EXPIRE_MINUTES), which sends the user to sign-in with their input kept.
    SESSION_LIFETIME_SECONDS: int = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600)
    # `auto`: Secure when the request came over TLS (the scheme uvicorn derives from
    # X-Forwarded-Proto for peers in FORWARDED_ALLOW_IPS); `always`: Secure regardless.
    SESSION_COOKIE_SECURE: Literal["auto", "always"] = "auto"

    PAGE_SIZE: int = Field(default=10, ge=1, le=100)
    MAX_REQUEST_BODY_BYTES: int = Field(default=64 * 1024, ge=1024)
    # Arrival to answer, as in the backend (app.core.deadline): past it a page, 408 while the
    # form is still arriving, else 503. Keep it above BACKEND_CONNECT_TIMEOUT_SECONDS +
    # BACKEND_TIMEOUT_SECONDS, so a slow backend is answered with its banner first.
    REQUEST_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)

    @field_validator("BACKEND_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return config_errors.http_url(value).rstrip("/")

    @model_validator(mode="after")
    def _strong_session_secret(self) -> FrontendSettings:
        if self.SESSION_SECRET is None and self.ENVIRONMENT == "development":
            self.SESSION_SECRET = SecretStr(_DEV_SESSION_SECRET)
        secret = self.SESSION_SECRET.get_secret_value() if self.SESSION_SECRET else ""
        if self.ENVIRONMENT == "development":
            return self
        if secret.lower() in _WEAK_SECRETS or secret == _DEV_SESSION_SECRET:
            raise ValueError("SESSION_SECRET must be set to a strong value outside development")
        if len(secret) < SESSION_SECRET_MIN:
            raise ValueError(f"SESSION_SECRET must be at least {SESSION_SECRET_MIN} characters")
        return self

    @property
    def session_key(self) -> bytes:
        """The Fernet key (32 bytes, url-safe base64) derived from SESSION_SECRET with HKDF, so
        any strong string works as the secret, not only a Fernet-formatted key."""
        assert self.SESSION_SECRET is not None  # set by the validator
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"todo-app frontend session"
        ).derive(self.SESSION_SECRET.get_secret_value().encode())
        return base64.urlsafe_b64encode(derived)


def load_frontend_settings() -> FrontendSettings:
    """The front end's settings; a bad one ends the process with the one line every process
    prints (app.core.config_errors), naming each setting and its rule, never a value."""
    return config_errors.load(FrontendSettings)
