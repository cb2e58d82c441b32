"""`python -m app.migrate`: up from an empty database, down, up again; waits for an
unreachable database, and stops at once when the database refuses the connection."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from harness.local import postgres_server
from harness.proc import free_port
from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy.engine import URL

from app import migrate
from tests.conftest import run_migrate

# The migration's promise: a refused connection surfaces well within this bound,
# against the 120 s it waits for a database that cannot be reached at all.
REFUSAL_BOUND_SECONDS = 15
WRONG_PASSWORD = "not-the-Password-42"


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
    assert tables(url) == {"alembic_version", "users", "tasks", "idempotency_keys"}
    assert '"migrations done"' in up.stderr

    again = run_migrate(url)  # idempotent: already at head
    assert again.returncode == 0, again.stderr

    down = run_migrate(url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert tables(url) == {"alembic_version"}

    up = run_migrate(url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert tables(url) == {"alembic_version", "users", "tasks", "idempotency_keys"}


def test_gives_up_clearly_when_db_unreachable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    started = time.monotonic()
    result = run_migrate(url, "--wait", "2")
    assert result.returncode == 1
    assert "not reachable after 2s" in result.stderr
    assert "ConnectionRefusedError" in result.stderr
    assert '"waiting for database"' in result.stderr  # it retried before giving up
    assert time.monotonic() - started < 20


def test_an_unanswered_attempt_is_given_up_within_a_second_and_retried() -> None:
    """A listener that never answers (as when a network policy drops the packets): the first
    attempt ends after 1 s, the next after 2 s, not after one long attempt."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # queues, never accepts
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
        result = run_migrate(url, "--wait", "2")
    assert result.returncode == 1
    assert '"reason": "no answer within 1s"' in result.stderr
    assert "not reachable after 2s (last error: no answer within 2s)" in result.stderr


def test_any_answer_starts_the_attempt_time_over(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Unanswered, refused, unanswered: the second unanswered attempt gets 1 s again, since
    the refusal showed that the network answers."""
    outcomes = ["silent", "refused", "silent", "answers"]

    async def ping(_engine: object) -> None:
        outcome = outcomes.pop(0)
        if outcome == "silent":
            await asyncio.sleep(30)
        elif outcome == "refused":
            raise ConnectionRefusedError("refused")

    monkeypatch.setattr(migrate, "ping", ping)
    with caplog.at_level(logging.INFO, logger="app.migrate"):
        migrate.wait_for_database(
            URL.create("postgresql+asyncpg", host="127.0.0.1", database="x"),
            timeout=60,
            interval=0,
        )
    reasons = [r.fields["reason"] for r in caplog.records if r.msg == "waiting for database"]
    assert reasons == ["no answer within 1s", "ConnectionRefusedError", "no answer within 1s"]


def test_waits_for_a_database_that_comes_up_late(tmp_path: Path) -> None:
    """Connection refused is a reason to wait: the run succeeds once the server is there."""
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    migrate = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "app.migrate", "--wait", "60"],
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)  # a few refused attempts first
        assert migrate.poll() is None, "gave up on a database that is merely not there yet"
        with postgres_server(tmp_path, port=port):
            _, stderr = migrate.communicate(timeout=60)
    finally:
        migrate.kill()
    assert migrate.returncode == 0, stderr
    assert '"waiting for database"' in stderr and '"migrations done"' in stderr


@pytest.fixture(scope="module")
def password_role(pg_executor: PostgreSQLExecutor) -> Iterator[str]:
    """A role that must log in with its password over TCP (scram-sha-256), like the chart's
    PostgreSQL; the test server trusts every other role. Yields the role's name."""
    role = "migrate_pw"
    hba = Path(pg_executor.datadir) / "pg_hba.conf"
    original = hba.read_text()
    admin = f"postgresql://postgres@{pg_executor.host}:{pg_executor.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'the-right-password'")
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n{original}")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            hba.write_text(original)
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(f"DROP ROLE {role}")


def _refused_fast(url: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run migrations with the default wait (120 s); return the result and its duration."""
    started = time.monotonic()
    result = run_migrate(url, timeout=60)
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    ("case", "cause", "check"),
    [
        ("wrong-password", "password authentication failed", "POSTGRES_PASSWORD"),
        ("unknown-user", "the server refuses user 'nobody_here'", "POSTGRES_USER"),
        ("missing-database", "database 'no_such_db' does not exist", "POSTGRES_DB"),
    ],
    ids=["wrong-password", "unknown-user", "missing-database"],
)
def test_refused_connection_stops_at_once_naming_the_cause(
    case: str,
    cause: str,
    check: str,
    password_role: str,
    make_database: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    existing = make_database()
    server = existing.rsplit("/", 1)[0].split("@", 1)[1]
    database = existing.rsplit("/", 1)[1]
    url = {
        "wrong-password": f"postgresql://{password_role}:{WRONG_PASSWORD}@{server}/{database}",
        "unknown-user": f"postgresql://nobody_here:{WRONG_PASSWORD}@{server}/{database}",
        "missing-database": f"postgresql://postgres:{WRONG_PASSWORD}@{server}/no_such_db",
    }[case]
    result, seconds = _refused_fast(url)
    assert result.returncode == 1, result.stderr
    assert cause in result.stderr and check in result.stderr, result.stderr
    assert '"level": "ERROR"' in result.stderr
    assert '"waiting for database"' not in result.stderr  # no retry: waiting cannot fix it
    assert WRONG_PASSWORD not in result.stderr
    assert seconds < REFUSAL_BOUND_SECONDS, f"{seconds:.1f}s"
    with capsys.disabled():
        print(f"\n  {case}: exit 1 after {seconds:.2f}s: {result.stderr.strip().splitlines()[-1]}")


def test_concurrent_runs_all_succeed(make_database: Callable[[], str]) -> None:
    # The chart runs `python -m app.migrate` in every backend pod as it starts, so a
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
    assert tables(url) == {"alembic_version", "users", "tasks", "idempotency_keys"}
