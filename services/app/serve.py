"""Serve an app with uvicorn, its port listening before the app is imported.

`python -m app.serve app.mcp_server:app --host 0.0.0.0 --port 8001` takes the `uvicorn`
command's options and its UVICORN_* environment variables. What differs is the order: the
`uvicorn` command imports the app (about 1 s of CPU, twice that in wall time under the
chart's CPU limit) and only then binds its port, so a kubelet probe sent meanwhile is
refused and retried a probe period later. Here the port listens first: the kernel queues
that probe's connection and the server answers it as soon as the app serves, so a pod
turns Ready when its app does, not up to a period after.

`--migrate` (this module's own option, anywhere among the arguments) runs
`python -m app.migrate` in a child process while the app imports, and serves only once it
has succeeded. The schema is at head before the first request, as with a separate migration
step, but the app's import overlaps the wait for the database instead of following it. A
failed migration ends the start-up with the child's exit code, its reason in the log lines
above; nothing is served. It is the backend's option: the backend's settings are checked
before the migration starts, so a configuration error is the one line the app would print
(app.core.config_errors), not a migration's output followed by it.

One process on a TCP port only: `--reload`, `--workers`, `--uds` and `--fd` are refused
(use the `uvicorn` command for those). A bad option, or a bad UVICORN_* variable, is a
configuration error: one line, exit code 1.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
from types import FrameType

import click
import uvicorn
from click.core import ParameterSource
from uvicorn.main import STARTUP_FAILURE
from uvicorn.main import main as uvicorn_command

from app.core import config_errors

PROG = "python -m app.serve"
MIGRATE_FIRST = "--migrate"
log = logging.getLogger("uvicorn.error")


def config_from(argv: list[str]) -> uvicorn.Config:
    """The uvicorn Config that `uvicorn <argv>` would build, environment included."""
    with uvicorn_command.make_context(PROG, list(argv)) as context:
        params = dict(context.params)
    sys.path.insert(0, params.pop("app_dir"))
    config = uvicorn.Config(**params)
    if config.should_reload or config.workers > 1 or config.uds or config.fd is not None:
        raise click.UsageError(
            "--reload, --workers, --uds and --fd need the `uvicorn` command", context
        )
    return config


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The TCP socket bound and listening: connections queue in the kernel from now on."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((config.host, config.port))
        listening.listen(config.backlog)
    except OSError:
        listening.close()
        raise
    return listening


def usage_problem(bad: click.ClickException) -> str:
    """click's message about a bad option (which quotes the value, as uvicorn's own does),
    led by the option's name, or by the UVICORN_* variable's when it came from there."""
    if isinstance(bad, click.MissingParameter) or not (
        isinstance(bad, click.BadParameter) and bad.ctx and bad.param and bad.param.name
    ):
        return bad.format_message()
    name = bad.param.name
    if bad.ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT:
        setting = bad.param.envvar or f"{bad.ctx.auto_envvar_prefix}_{name.upper()}"
    else:
        setting = "/".join(bad.param.opts)
    return f"{setting}: {bad.message}"


def migrate_while_loading(config: uvicorn.Config) -> int:
    """Import the app while `python -m app.migrate` runs; its exit code once both are done.

    SIGTERM (a pod deleted meanwhile) stops the child too: PID 1 of a container has no
    default action for it, and the wait for the database can last minutes.
    """
    migration = subprocess.Popen([sys.executable, "-m", "app.migrate"])  # noqa: S603

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # the `finally` below stops the child

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        config.load()
        return migration.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if migration.poll() is None:  # the import failed, or SIGTERM: it must not outlive us
            migration.terminate()
            migration.wait()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    migrate_first = MIGRATE_FIRST in args
    try:
        config = config_from([arg for arg in args if arg != MIGRATE_FIRST])
    except click.exceptions.Exit as done:  # --help, --version
        return done.exit_code
    except click.ClickException as bad:
        config_errors.stop(usage_problem(bad))
    if migrate_first:
        from app.core.config import Settings  # the backend's, a superset of the migration's

        config_errors.load(Settings)
    try:
        listening = listening_socket(config)
    except OSError as exc:
        log.error("cannot listen on %s port %d: %s", config.host, config.port, exc)
        return STARTUP_FAILURE
    if migrate_first:
        code = migrate_while_loading(config)
        if code != 0:
            log.error("migrations failed (exit code %d): not serving", code)
            listening.close()
            return code
    server = uvicorn.Server(config)
    server.run(sockets=[listening])  # imports the app now if not yet, then serves the queue
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
