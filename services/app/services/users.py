"""User data functions (backend only): sign-up and credential checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import dummy_hash, hash_password, verify_password
from app.models import User
from app.schemas import UserCreate, UserPublic

# scrypt takes 16 MiB per hash: bound the parallel hashes so a burst of logins cannot
# push the process past its memory limit (the thread pool alone allows up to 32).
_HASH_SLOTS = asyncio.Semaphore(4)
T = TypeVar("T")


class UsernameTaken(Exception):
    pass


async def _in_hash_slot(func: Callable[..., T], *args: object) -> T:
    async with _HASH_SLOTS:
        return await asyncio.to_thread(func, *args)


async def create_user(session: AsyncSession, *, data: UserCreate) -> UserPublic:
    # scrypt is deliberately slow: keep it off the event loop.
    password_hash = await _in_hash_slot(hash_password, data.password)
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
    ok = await _in_hash_slot(verify_password, password, stored)
    return user if ok and user is not None else None
