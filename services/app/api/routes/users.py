"""Sign-up."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from app.api.deps import SessionDep
from app.schemas import UserCreate, UserPublic
from app.services import users

router = APIRouter(
    prefix="/api/v1/users",
    tags=["users"],
    responses={400: {"description": "request body could not be decoded"}},
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "username already taken"}},
)
async def create_user(session: SessionDep, body: UserCreate) -> UserPublic:
    try:
        return await users.create_user(session, data=body)
    except users.UsernameTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="username already taken") from exc
