"""Async engine and session factory; one pool per process, created by the app factory."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from app.core.config import DatabaseSettings

# A pooled connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_CONNECT_TIMEOUT_SECONDS,
        connect_args={"timeout": settings.DB_CONNECT_TIMEOUT_SECONDS},
    )
    _check_on_checkout(engine)
    return engine


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Never hand out a connection the server has closed, without a ping on the busy path.

    SQLAlchemy's pool_pre_ping costs three round trips per checkout with asyncpg (BEGIN,
    an empty query, ROLLBACK), more than the INSERT it precedes. Instead: a connection
    the server closed (a PostgreSQL restart terminates every session, asyncpg sees the
    EOF) is known to be closed without asking the server; only a connection idle for
    PING_AFTER_IDLE_SECONDS, which may have died silently, is pinged. Either way a
    DisconnectionError makes the pool replace it with a new connection, so a restart
    costs no failed request.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _stamp(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("connection closed by the server")
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"ping failed: {error}") from error


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer `SELECT 1`."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
