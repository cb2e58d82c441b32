"""Async engine and session factory; one pool per process, created by the app factory."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_pre_ping=True,  # survive PostgreSQL restarts without a 500 on the first request
        pool_timeout=settings.DB_CONNECT_TIMEOUT_SECONDS,
        connect_args={"timeout": settings.DB_CONNECT_TIMEOUT_SECONDS},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer `SELECT 1`."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
