"""User data functions (backend only): sign-up and credential checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import check_password, dummy_hash, hash_password
from app.models import User
from app.schemas import UserCreate, UserPublic

# Password hashes run in threads (argon2-cffi releases the GIL), each holding
# PASSWORD_HASH_MIB (19 MiB) until it ends. At most HASH_SLOTS run at once, so a burst of
# sign-ins costs at most HASH_SLOTS x 19 MiB (38 MiB) above the idle process, far inside the
# chart's 512 MiB limit, where the thread pool alone would allow up to 32 (608 MiB). More
# slots would not sign anyone in sooner: a hash is pure CPU, and the chart gives the
# backend half a core, so hashes beyond it only share that half more thinly, hold their
# memory longer and take CPU from the task requests the same process serves. The others
# wait their turn, in order.
HASH_SLOTS = 2
_hash_slots = asyncio.Semaphore(HASH_SLOTS)
T = TypeVar("T")


class UsernameTaken(Exception):
    pass


async def _in_hash_slot(func: Callable[..., T], *args: object) -> T:
    async with _hash_slots:
        return await asyncio.to_thread(func, *args)


async def create_user(session: AsyncSession, *, data: UserCreate) -> UserPublic:
    # argon2id is deliberately slow: keep it off the event loop.
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
    """The user, when the password is theirs. A hash of an older scheme or weaker
    parameters is replaced by a current one, made from the password just verified."""
    user = await session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user else dummy_hash()
    check = await _in_hash_slot(check_password, password, stored)
    if user is None or not check.matches:
        return None
    if check.upgraded_hash is not None:
        # Only over the hash that was checked: a password changed meanwhile stays.
        await session.execute(
            update(User)
            .where(User.id == user.id, User.password_hash == stored)
            .values(password_hash=check.upgraded_hash)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return user
