"""Alembic environment: runs migrations over the app's async engine settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import DatabaseSettings
from app.core.config_errors import load
from app.models import Base

config = context.config
target_metadata = Base.metadata
# pg_advisory_xact_lock key of the migration runs (any constant bigint, unique to this app).
_LOCK_KEY = 7_206_150_428_301_011


def _url():
    # app.migrate passes the URL object in; the alembic CLI reads the settings itself.
    return config.attributes.get("database_url") or load(DatabaseSettings).database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url().render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        # Every backend pod runs migrations as it starts: serialise them, so the others
        # wait for the first to commit and then find the schema at head, instead of failing
        # on "duplicate key" while creating the same tables. Released at commit/rollback.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
