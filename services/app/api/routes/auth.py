"""Token issue: username + password in, signed HS256 bearer token out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from app.api.deps import SessionDep, SettingsDep
from app.core.security import create_access_token
from app.schemas import Token, TokenRequest
from app.services import users

router = APIRouter(
    prefix="/api/v1/auth",
    tags=["auth"],
    responses={400: {"description": "request body could not be decoded"}},
)


@router.post("/token", responses={401: {"description": "wrong username or password"}})
async def issue_token(session: SessionDep, settings: SettingsDep, body: TokenRequest) -> Token:
    user = await users.authenticate(session, username=body.username, password=body.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, expires_in = create_access_token(
        user_id=user.id, secret=settings.jwt_secret, expire_minutes=settings.JWT_EXPIRE_MINUTES
    )
    return Token(access_token=token, expires_in=expires_in)
