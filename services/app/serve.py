"""Serve an app with uvicorn, its port listening before the app is imported.

`python -m app.serve app.mcp_server:app --host 0.0.0.0 --port 8001` takes the `uvicorn`
command's options and its UVICORN_* environment variables. What differs is the order: the
`uvicorn` command imports the app (about 1 s of CPU, twice that in wall time under the
chart's CPU limit) and only then binds its port, so a kubelet probe sent meanwhile is
refused and retried a probe period later. Here the port listens first: the kernel queues
that probe's connection and the server answers it as soon as the app serves, so a pod
turns Ready when its app does, not up to a period after.

One process on a TCP port only: `--reload`, `--workers`, `--uds` and `--fd` are refused
(use the `uvicorn` command for those).
"""

from __future__ import annotations

import logging
import socket
import sys

import click
import uvicorn
from uvicorn.main import STARTUP_FAILURE
from uvicorn.main import main as uvicorn_command

PROG = "python -m app.serve"


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


def main(argv: list[str] | None = None) -> int:
    try:
        config = config_from(sys.argv[1:] if argv is None else argv)
    except click.exceptions.Exit as done:  # --help, --version
        return done.exit_code
    except click.ClickException as bad:
        bad.show()
        return bad.exit_code
    try:
        listening = listening_socket(config)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error(
            "cannot listen on %s port %d: %s", config.host, config.port, exc
        )
        return STARTUP_FAILURE
    server = uvicorn.Server(config)
    server.run(sockets=[listening])  # imports the app now, then serves the queued requests
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
