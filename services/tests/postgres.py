"""A throwaway PostgreSQL from Debian's server binaries, via pytest-postgresql's executor.

Used by the test fixtures and by the benchmarks. PostgreSQL refuses to run as
root, so under root the cluster runs as the `postgres` system user in a
directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

INSTALL_HINT = (
    "install the PostgreSQL server binaries (Debian: apt-get install postgresql), "
    "or run `nox -s tests`, which does it when run as root"
)


def find_pg_ctl() -> str:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise FileNotFoundError(f"pg_ctl not found: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(
    workdir: Path | None = None, port: int | None = None
) -> Iterator[PostgreSQLExecutor]:
    """Start a PostgreSQL cluster on 127.0.0.1 (trust auth; a random port unless given);
    remove it after."""
    pg_ctl = find_pg_ctl()
    if os.geteuid() == 0:
        workdir = Path(tempfile.mkdtemp(prefix="todo-pg-"))
        postgres = pwd.getpwnam("postgres")
        os.chown(workdir, postgres.pw_uid, postgres.pw_gid)
        wrapper = workdir / "pg_ctl"
        wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
        wrapper.chmod(0o755)
        executable = str(wrapper)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="todo-pg-", dir=workdir))
        executable = pg_ctl
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port or free_port(),
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="todo",
        user="postgres",
    )
    try:
        executor.start()
        executor.wait_for_postgres()
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(executor: PostgreSQLExecutor) -> tuple[str, DatabaseJanitor]:
    """An empty database; returns its URL and the janitor that drops it."""
    name = f"todo_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=executor.user, host=executor.host, port=executor.port, dbname=name
    )
    janitor.init()
    return f"postgresql://{executor.user}@{executor.host}:{executor.port}/{name}", janitor
