"""FastAPI dependencies as `Annotated` aliases, so handlers read as plain signatures.

All are `async def`: FastAPI runs plain `def` dependencies in a thread pool, a
thread hop per dependency per request for what is microseconds of work.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.security import InvalidToken, decode_access_token
from app.schemas import IDEMPOTENCY_KEY, Id


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
# For the task routes, which open their session themselves (`async with sessions()`):
# FastAPI closes a yield dependency inside a shielded anyio cancel scope, about 0.13 ms
# of CPU per request, a sixth of the MCP server's cost per task creation.
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


# Declared as a security scheme (shows in OpenAPI); errors are worded here, not by FastAPI.
_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorized("missing bearer token (expected header: Authorization: Bearer <token>)")
    return credentials.credentials.strip()


# The two checks below read the settings from the app state themselves: each dependency
# FastAPI resolves costs CPU on every request, and these run on every task call.


async def current_user_id(request: Request, credentials: Credentials) -> int:
    """Backend: the user id from a valid user JWT."""
    settings: Settings = request.app.state.settings
    try:
        return decode_access_token(_token(credentials), secret=settings.jwt_secret)
    except InvalidToken as exc:
        raise _unauthorized("invalid or expired token") from exc


CurrentUserId = Annotated[int, Depends(current_user_id)]


async def service_token(request: Request, credentials: Credentials) -> None:
    """MCP REST: the caller holds the backend's service token (constant-time comparison)."""
    token = _token(credentials)
    expected = request.app.state.settings.MCP_SERVICE_TOKEN.get_secret_value()
    if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected.encode()):
        raise _unauthorized("invalid service token")


async def service_caller(
    _: Annotated[None, Depends(service_token)],
    x_user_id: Annotated[Id, Header(alias="X-User-ID", description="the user acted for")],
) -> int:
    """MCP REST: the user the backend acts for. The token is checked first (a sub-dependency
    runs before this one's own parameters are validated), so a caller without the service
    token gets 401, never a 422 about X-User-ID."""
    return x_user_id


ServiceCaller = Annotated[int, Depends(service_caller)]


async def idempotency_key(
    request: Request,
    header: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=rf'^(?:"{IDEMPOTENCY_KEY}"|{IDEMPOTENCY_KEY})$',
            description=(
                "Makes the creation safe to retry: the same key and body from the same user "
                "create one task, and the retry gets the first answer again (with "
                "`Idempotent-Replayed: true`) until the key expires (24 h by default). A "
                'string as the IETF draft defines it (`"8e03978e-40d5-43e8-bc93-'
                '6894a57f9324"`), or the same key unquoted: 1-255 characters of '
                "A-Z a-z 0-9 . _ ~ : + / = -."
            ),
        ),
    ] = None,
) -> str | None:
    """The request's Idempotency-Key without its quotes, None when it has none."""
    if header is None:
        return None
    if len(request.headers.getlist("idempotency-key")) > 1:
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "Idempotency-Key"),
                    "msg": "must be sent once",
                    "type": "value_error",
                }
            ]
        )
    return header.strip('"')


IdempotencyKeyHeader = Annotated[str | None, Depends(idempotency_key)]
