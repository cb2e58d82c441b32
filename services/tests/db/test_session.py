"""The engine's pool against a real PostgreSQL: connections the server closed are replaced."""

from __future__ import annotations

import anyio
import psycopg
from sqlalchemy import text

from app.core.config import DatabaseSettings
from app.db.session import create_engine


def test_connection_the_server_closed_is_replaced_on_checkout(database_url: str) -> None:
    # What a PostgreSQL restart does to every pooled connection: the server ends the session.
    # The next checkout must get a working connection, not an error.
    engine = create_engine(DatabaseSettings(DATABASE_URL=database_url, DB_POOL_SIZE=1))

    async def main() -> tuple[int, int]:
        try:
            async with engine.connect() as conn:
                first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            with psycopg.connect(database_url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            await anyio.sleep(0.2)  # the server's goodbye reaches the pooled connection
            async with engine.connect() as conn:
                second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            return first, second
        finally:
            await engine.dispose()

    first, second = anyio.run(main)
    assert second != first
