"""`python -m app.migrate`: up from an empty database, down, up again; waits for the DB."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg
import pytest

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


def test_concurrent_runs_all_succeed(make_database: Callable[[], str]) -> None:
    # The chart runs `python -m app.migrate` as an init container of every app pod, so a
    # fresh install starts several at once: each must exit 0 on its first attempt. To make
    # them collide for sure, an open transaction of ours creates alembic_version first:
    # every run blocks behind it until we roll back, then they all race for the same tables.
    url = make_database()
    runs = 4
    with psycopg.connect(url) as blocker:
        blocker.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        procs = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "app.migrate"],
                env={**os.environ, "DATABASE_URL": url},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(runs)
        ]
        with psycopg.connect(url, autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                if waiting and waiting[0] >= runs:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the migration runs never reached the database")
        blocker.rollback()
    results = [(proc.wait(timeout=120), proc.communicate()[1]) for proc in procs]
    assert [code for code, _ in results] == [0] * runs, [err[-600:] for _, err in results]
    assert tables(url) == {"alembic_version", "users", "tasks"}
