"""The app on this machine, without a cluster: throwaway PostgreSQL + both servers.

Used by perf's own tests (the locustfile is proven against the real
servers) and for developing scenarios:

    python -m perf.local            # start, print the URLs, wait for Ctrl-C

PostgreSQL comes from Debian's binaries (`/usr/lib/postgresql/<v>/bin`,
override with PG_BIN); it listens on 127.0.0.1 and a socket in a temp dir.
The backend and MCP server run under uvicorn on free loopback ports with the
migrations applied (`python -m app.migrate`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found: apt-get install postgresql, or set PG_BIN"
        )
    return candidates[0].parent


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
                if r.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s: {last}")


@dataclass
class LocalStack:
    backend_url: str
    mcp_url: str
    database_url: str
    pg_port: int
    workdir: Path

    def pg_env(self) -> dict[str, str]:
        """The environment for pgbench (and psql) against this stack's PostgreSQL."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        return {
            **os.environ,
            "PATH": f"{pg_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
            "POSTGRES_USER": url.username,
            "POSTGRES_PASSWORD": url.password,
            "POSTGRES_DB": url.database,
            "PGPORT": str(url.port),
        }


def _run_as_postgres_if_root(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; tests in CI containers often are root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[tuple[int, str]]:
    """A throwaway PostgreSQL; yields (port, SQLAlchemy URL for the asyncpg driver)."""
    bindir = pg_bin()
    data = workdir / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
    password = secrets.token_hex(8)
    pwfile = workdir / "pw"
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres")
    subprocess.run(  # noqa: S603 - fixed argv, local binaries
        _run_as_postgres_if_root(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "todo",
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "--no-sync",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    log = workdir / "postgres.log"
    opts = f"-p {port} -k {workdir} -h 127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(  # noqa: S603 - fixed argv, local binaries
        _run_as_postgres_if_root(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "start"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(  # noqa: S603 - fixed argv, local binaries
            _run_as_postgres_if_root(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "todo", "todo"]
            ),
            check=True,
            env={**os.environ, "PGPASSWORD": password},
        )
        yield port, f"postgresql+asyncpg://todo:{password}@127.0.0.1:{port}/todo"
    finally:
        subprocess.run(  # noqa: S603 - fixed argv, local binaries
            _run_as_postgres_if_root(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            ),
            check=False,
            stdout=subprocess.DEVNULL,
        )


def _server(module: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        module,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("w") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)  # noqa: S603


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def stack() -> Iterator[LocalStack]:
    """PostgreSQL, migrations, MCP server and backend on loopback; all stopped on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="todo-perf-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - postgres (another user) must enter it
    try:
        with postgres(workdir) as (pg_port, database_url):
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "JWT_SECRET": secrets.token_hex(32),
                "MCP_SERVICE_TOKEN": secrets.token_hex(32),
                "ENVIRONMENT": "production",
                "LOG_LEVEL": "WARNING",
                "MCP_ALLOWED_HOSTS": "localhost,127.0.0.1",
            }
            subprocess.run(  # noqa: S603
                [sys.executable, "-m", "app.migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            mcp_port, backend_port = free_port(), free_port()
            mcp = _server("app.mcp_server:app", mcp_port, env, workdir / "mcp.log")
            backend = None
            try:
                wait_http(f"http://127.0.0.1:{mcp_port}/health", proc=mcp)
                backend_env = {**env, "MCP_SERVER_URL": f"http://127.0.0.1:{mcp_port}"}
                backend = _server(
                    "app.main:app", backend_port, backend_env, workdir / "backend.log"
                )
                wait_http(f"http://127.0.0.1:{backend_port}/ready", proc=backend)
                yield LocalStack(
                    backend_url=f"http://127.0.0.1:{backend_port}",
                    mcp_url=f"http://127.0.0.1:{mcp_port}/mcp",
                    database_url=database_url,
                    pg_port=pg_port,
                    workdir=workdir,
                )
            finally:
                if backend is not None:
                    _stop(backend)
                _stop(mcp)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    with stack() as s:
        print(f"backend   {s.backend_url}")
        print(f"mcp       {s.mcp_url}")
        print(f"database  {s.database_url}")
        print("Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
