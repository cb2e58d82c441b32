"""The app on loopback, without a cluster: a throwaway PostgreSQL and the three servers.

The one place the suites start them: the services suite (a PostgreSQL per
session, servers per test), perf's local target and its tests, the
benchmarks. PostgreSQL comes from Debian's server binaries, driven by
pytest-postgresql's executor (trust authentication on 127.0.0.1, a socket in
its own folder); PostgreSQL refuses to run as root, so under root the
cluster runs as the `postgres` system user in a folder that user owns.
Servers run under uvicorn (`python -m app.serve`, as in the image) on free
loopback ports and are polled until `/health` answers.

    python -m harness.local      # start everything, print the URLs, wait for Ctrl-C
"""

# ruff: noqa: S603 - starts uvicorn and the app's own commands with fixed arguments

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.proc import free_port, http_status, terminate

if TYPE_CHECKING:
    from pytest_postgresql.executors import PostgreSQLExecutor
    from pytest_postgresql.janitor import DatabaseJanitor

INSTALL_HINT = (
    "install the PostgreSQL server binaries (Debian: apt-get install postgresql), "
    "or run `python -m toolchain host --for tests` as root, which does it"
)


def pg_bin() -> Path:
    """The folder of the PostgreSQL server binaries (the newest installed major)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if candidates:
        return candidates[0].parent
    raise FileNotFoundError(f"pg_ctl not found: {INSTALL_HINT}")


@contextlib.contextmanager
def postgres_server(
    workdir: Path | None = None, *, port: int | None = None
) -> Iterator[PostgreSQLExecutor]:
    """A PostgreSQL cluster on 127.0.0.1 (free or given port, trust auth); removed after."""
    from pytest_postgresql.executors import PostgreSQLExecutor

    pg_ctl = str(pg_bin() / "pg_ctl")
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
    from pytest_postgresql.janitor import DatabaseJanitor

    name = f"todo_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(user=executor.user, host=executor.host, port=executor.port,
                              dbname=name)  # fmt: skip
    janitor.init()
    return f"postgresql://{executor.user}@{executor.host}:{executor.port}/{name}", janitor


@dataclass
class Server:
    """One uvicorn process on loopback."""

    url: str
    log_path: Path
    process: subprocess.Popen

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def serve(target: str, env: dict[str, str], log_dir: Path, *, args: tuple[str, ...] = (),
          timeout: float = 30) -> Server:  # fmt: skip
    """`python -m app.serve <target>` (uvicorn, one worker) on a free loopback port, polled
    until /health is 200."""
    port = free_port()
    log_path = log_dir / f"{target.replace(':', '_')}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.serve", target, "--host", "127.0.0.1", "--port", str(port),
             *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=log_dir,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{target} exited: {log_path.read_text(errors='replace')}")
        if http_status(f"{url}/health", timeout=1) == 200:
            return Server(url, log_path, process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(
        f"{target} did not serve /health within {timeout:.0f} s: {log_path.read_text()}"
    )


def stop(server: Server) -> None:
    terminate(server.process, grace=10)


@dataclass
class LocalStack:
    backend: Server
    mcp: Server
    database_url: str
    executor: PostgreSQLExecutor | None  # None when the database was given
    frontend: Server

    @property
    def frontend_url(self) -> str:
        return self.frontend.url

    @property
    def backend_url(self) -> str:
        return self.backend.url

    @property
    def mcp_url(self) -> str:
        return f"{self.mcp.url}/mcp"

    def pg_env(self) -> dict[str, str]:
        """The environment for pgbench (and psql) against this stack's PostgreSQL."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        return {
            **os.environ,
            "PATH": f"{pg_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
            "POSTGRES_USER": url.username or "postgres",
            "POSTGRES_PASSWORD": url.password or "",
            "POSTGRES_DB": url.database or "",
            "PGPORT": str(url.port),
        }


@contextlib.contextmanager
def stack(
    *, database_url: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    """A migrated database (a throwaway PostgreSQL unless one is given), the MCP server, the
    backend and the web front end on loopback; all stopped after. `settings` override the
    apps' environment."""
    import secrets as token

    with contextlib.ExitStack() as cleanup:
        executor = None
        if database_url is None:
            executor = cleanup.enter_context(postgres_server())
            database_url, janitor = create_database(executor)
            cleanup.callback(janitor.drop)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "JWT_SECRET": token.token_hex(32),
            "MCP_SERVICE_TOKEN": token.token_hex(32),
            "SESSION_SECRET": token.token_hex(32),
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
            "MCP_ALLOWED_HOSTS": "localhost,127.0.0.1",
            **(settings or {}),
        }
        subprocess.run([sys.executable, "-m", "app.migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        log_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="todo-local-")))
        mcp = serve("app.mcp_server:app", env, log_dir)
        cleanup.callback(stop, mcp)
        backend = serve("app.main:app", {**env, "MCP_SERVER_URL": mcp.url}, log_dir)
        cleanup.callback(stop, backend)
        frontend = serve("app.frontend.main:app", {**env, "BACKEND_URL": backend.url}, log_dir)
        cleanup.callback(stop, frontend)
        yield LocalStack(backend, mcp, database_url, executor, frontend)


def main() -> None:
    with stack() as s:
        print(f"backend   {s.backend_url}")
        print(f"mcp       {s.mcp_url}")
        print(f"frontend  {s.frontend_url}")
        print(f"database  {s.database_url}")
        print("Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
