"""`python -m app.serve`: uvicorn with the port listening before the app is imported."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from harness.local import postgres_server
from harness.proc import free_port, terminate

from app import serve
from tests.conftest import JWT_SECRET, SERVICE_TOKEN

# An ASGI app whose import takes seconds, and says when it is over.
SLOW_APP = """
import os, pathlib, time

time.sleep(float(os.environ["IMPORT_SECONDS"]))
pathlib.Path(os.environ["IMPORTED_AT"]).write_text(repr(time.time()))


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served"})
"""


# `--migrate` checks the backend's settings first: the slow app stands in for the backend.
BACKEND_SECRETS = {"JWT_SECRET": JWT_SECRET, "MCP_SERVICE_TOKEN": SERVICE_TOKEN}


def _serve_slow_app(
    tmp_path: Path, *options: str, import_seconds: float = 3, **env: str
) -> tuple[int, Path, subprocess.Popen]:
    """`python -m app.serve [options] slow_app:app` on a free loopback port."""
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    imported_at = tmp_path / "imported-at"
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "app.serve", *options, "slow_app:app", "--app-dir", str(tmp_path),
         "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"],
        env={**os.environ, "IMPORT_SECONDS": str(import_seconds),
             "IMPORTED_AT": str(imported_at), **BACKEND_SECRETS, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return port, imported_at, process


@pytest.fixture
def slow_app(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen]]:
    """`python -m app.serve` of an app that takes 3 s to import."""
    port, imported_at, process = _serve_slow_app(tmp_path)
    yield port, imported_at, process
    terminate(process, grace=5)


def _connect_when_listening(port: int, process: subprocess.Popen) -> socket.socket:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except ConnectionRefusedError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listened on port {port} within 30 s")


def test_a_request_sent_while_the_app_imports_is_answered_once_it_serves(slow_app) -> None:
    port, imported_at, process = slow_app
    with _connect_when_listening(port, process) as connection:
        connected_at = time.time()
        assert not imported_at.exists(), "the port listened only after the app was imported"
        connection.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b"\r\nserved\r\n" in answer
    assert float(imported_at.read_text()) > connected_at


def test_migrate_imports_the_app_while_the_database_is_not_there_and_serves_once_migrated(
    tmp_path: Path,
) -> None:
    db_port = free_port()
    database_url = f"postgresql://postgres@127.0.0.1:{db_port}/postgres"
    port, imported_at, process = _serve_slow_app(
        tmp_path, "--migrate", import_seconds=0.5, DATABASE_URL=database_url
    )
    try:
        with _connect_when_listening(port, process) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            deadline = time.monotonic() + 30
            while not imported_at.exists():
                assert time.monotonic() < deadline, "the app was not imported during the wait"
                time.sleep(0.05)
            connection.settimeout(1.5)
            with pytest.raises(TimeoutError):
                connection.recv(4096)  # imported, but no schema yet: nothing is served
            with postgres_server(tmp_path / "pg", port=db_port):
                connection.settimeout(60)
                answer = connection.recv(4096)
                with psycopg.connect(database_url) as db:
                    revision = db.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        terminate(process, grace=5)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert revision is not None, "served before the migrations had run"


def test_a_failed_migration_ends_start_up_with_its_exit_code_serving_nothing(
    tmp_path: Path, make_database
) -> None:
    missing = make_database().rsplit("/", 1)[0] + "/no_such_database"
    port, _, process = _serve_slow_app(
        tmp_path, "--migrate", import_seconds=0, DATABASE_URL=missing
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        terminate(process, grace=5)
    assert process.returncode == 1, output
    assert b"database 'no_such_database' does not exist" in output
    assert b"migrations failed (exit code 1): not serving" in output
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_sigterm_while_migrating_stops_the_migration_too(tmp_path: Path) -> None:
    """A pod deleted while its migration waits for the database: nothing is left running."""
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    _, _, process = _serve_slow_app(
        tmp_path, "--migrate", import_seconds=0, DATABASE_URL=unreachable
    )
    try:
        deadline = time.monotonic() + 30
        while not (children := _children(process.pid)):
            assert time.monotonic() < deadline, "no migration was started"
            time.sleep(0.05)
        time.sleep(1)  # the migration is waiting for the database by now
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        terminate(process, grace=5)
    assert code == 128 + signal.SIGTERM
    for child in children:
        assert not Path(f"/proc/{child}").exists(), "the migration outlived app.serve"


def test_options_and_environment_are_read_as_the_uvicorn_command_reads_them(monkeypatch) -> None:
    monkeypatch.setenv("UVICORN_TIMEOUT_KEEP_ALIVE", "7")
    config = serve.config_from(["app.main:app", "--host", "127.0.0.1", "--port", "8123"])
    assert (config.app, config.host, config.port) == ("app.main:app", "127.0.0.1", 8123)
    assert config.timeout_keep_alive == 7
    assert not config.loaded, "the app must not be imported before the port listens"


@pytest.mark.parametrize("option", [["--workers", "2"], ["--reload"], ["--uds", "app.sock"]])
def test_what_needs_more_than_one_tcp_process_is_refused_with_the_command_to_use(
    option: list[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        serve.main(["app.main:app", *option])
    assert stopped.value.code == (
        "configuration error: --reload, --workers, --uds and --fd need the `uvicorn` command"
    )


def test_a_bad_option_is_named_as_given_on_the_command_line_or_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SystemExit) as stopped:
        serve.main(["app.main:app", "--port", "eighty"])
    assert stopped.value.code == "configuration error: --port: 'eighty' is not a valid integer."
    monkeypatch.setenv("UVICORN_PORT", "eighty")
    with pytest.raises(SystemExit) as stopped:
        serve.main(["app.main:app"])
    assert stopped.value.code == (
        "configuration error: UVICORN_PORT: 'eighty' is not a valid integer."
    )


def test_a_port_in_use_stops_start_up_naming_the_port(caplog) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = serve.main(["app.main:app", "--host", "127.0.0.1", "--port", str(port)])
    assert code == serve.STARTUP_FAILURE
    assert f"cannot listen on 127.0.0.1 port {port}" in caplog.text
