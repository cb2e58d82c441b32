"""User data functions (backend only): sign-up and credential checks."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import dummy_hash, hash_password, verify_password
from app.models import User
from app.schemas import UserCreate, UserPublic


class UsernameTaken(Exception):
    pass


async def create_user(session: AsyncSession, *, data: UserCreate) -> UserPublic:
    # scrypt is deliberately slow: keep it off the event loop.
    password_hash = await asyncio.to_thread(hash_password, data.password)
    user = User(username=data.username, password_hash=password_hash)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise UsernameTaken(data.username) from exc
    return UserPublic(id=user.id, username=user.username)


async def authenticate(session: AsyncSession, *, username: str, password: str) -> User | None:
    user = await session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user else dummy_hash()
    ok = await asyncio.to_thread(verify_password, password, stored)
    return user if ok and user is not None else None
