"""`python -m app.migrate`: up from an empty database, down, up again; waits for the DB."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from tests.conftest import free_port, run_migrate


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_up_down_up_from_empty(make_database: Callable[[], str]) -> None:
    url = make_database()
    assert tables(url) == set()

    up = run_migrate(url)
    assert up.returncode == 0, up.stderr
    assert tables(url) == {"alembic_version", "users", "tasks"}
    assert '"migrations done"' in up.stderr

    again = run_migrate(url)  # idempotent: already at head
    assert again.returncode == 0, again.stderr

    down = run_migrate(url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert tables(url) == {"alembic_version"}

    up = run_migrate(url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert tables(url) == {"alembic_version", "users", "tasks"}


def test_gives_up_clearly_when_db_unreachable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    started = time.monotonic()
    result = run_migrate(url, "--wait", "2")
    assert result.returncode != 0
    assert "not reachable after 2s" in result.stderr
    assert '"waiting for database"' in result.stderr  # it retried before giving up
    assert time.monotonic() - started < 20
