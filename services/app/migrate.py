"""Schema migrations: `python -m app.migrate [upgrade head | downgrade <rev>]`.

Waits for PostgreSQL first (it may still be starting when a backend pod starts; the pod
runs this through `python -m app.serve --migrate`), then runs Alembic and exits 0 when the
schema is at the target revision.

It waits only while the server cannot be reached or is not accepting connections yet.
A server that answers and refuses (wrong password, unknown user, missing database) is a
configuration error that waiting cannot fix: it stops at once, exit code 1, with one log
line naming the cause and what to check, so the pod's container stops within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core import config_errors
from app.core.config import DatabaseSettings
from app.db.session import ping
from app.logging import configure_logging

log = logging.getLogger("app.migrate")
SCRIPT_LOCATION = str(Path(__file__).parent / "alembic")

# SQLSTATEs of a server that is there but not taking connections yet (or right now).
# Class 08 (connection exception) is transient as a whole.
_NOT_YET = {
    "57P01": "the server is shutting down",
    "57P02": "the server crashed and is restarting",
    "57P03": "the server is starting up",
    "53300": "the server has no connection slot free",
}
# SQLSTATEs that no amount of waiting fixes: (cause, what to check).
_REFUSED = {
    "28P01": (
        "password authentication failed for user {user!r}",
        "POSTGRES_PASSWORD (the database Secret) must be the password the server holds "
        "for that user",
    ),
    "28000": (
        "the server refuses user {user!r}",
        "POSTGRES_USER must name an existing role the server lets in from this host (pg_hba.conf)",
    ),
    "3D000": (
        "database {database!r} does not exist",
        "POSTGRES_DB must name an existing database, or create it",
    ),
}


class DatabaseUnusable(Exception):
    """The database cannot be used and waiting longer would not change that."""


def alembic_config(url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["database_url"] = url
    return config


def _sqlstate(exc: BaseException) -> str | None:
    """The server's SQLSTATE, whether SQLAlchemy wrapped the driver's error or not."""
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def _not_reachable_yet(exc: BaseException) -> bool:
    """Connection refused, DNS, timeouts, and a server that is not accepting connections yet."""
    if any(isinstance(e, OSError) for e in (exc, getattr(exc, "orig", None), exc.__cause__)):
        return True  # includes ConnectionRefusedError, socket.gaierror and TimeoutError
    code = _sqlstate(exc)
    return code is not None and (code.startswith("08") or code in _NOT_YET)


def _where(url: URL) -> str:
    return f"{url.host}:{url.port or 5432}/{url.database}"


def _refusal(url: URL, exc: BaseException) -> str:
    """One line: where, the cause, what to check. Never the password."""
    code = _sqlstate(exc)
    detail = str(getattr(exc, "orig", None) or exc).strip()
    if code in _REFUSED:
        cause, check = _REFUSED[code]
        cause = cause.format(user=url.username, database=url.database)
        return f"database {_where(url)}: {cause} (SQLSTATE {code}); check: {check}"
    kind = f"SQLSTATE {code}" if code else type(exc).__name__
    return f"database {_where(url)} refused the connection ({kind}: {detail})"


# Seconds one attempt may take before it is given up and retried: the first attempts are
# short, because a connection whose packets are dropped (a network policy that does not yet
# know the database pod's new address) gets no answer at all and would otherwise hold the
# wait for the whole limit after the server is there. Each unanswered attempt doubles the
# next one's time, up to the limit, so a slow but working link still gets through; any
# answer (a refusal too) shows the network answers quickly, and the time starts over.
FIRST_ATTEMPT_SECONDS = 1.0
ATTEMPT_LIMIT_SECONDS = 5.0


def wait_for_database(url: URL, *, timeout: float, interval: float = 0.5) -> None:
    """Return once the database answers `SELECT 1`; raise DatabaseUnusable otherwise.

    Retries only while the server is unreachable or not accepting connections yet, for at
    most `timeout` seconds; any other error stops the wait on the first attempt.
    """
    asyncio.run(_wait_for_database(url, timeout=timeout, interval=interval))


async def _wait_for_database(url: URL, *, timeout: float, interval: float) -> None:
    # One event loop and one engine for every attempt: building them anew each time cost
    # more than the interval itself on a node busy starting the whole release.
    engine = create_async_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + timeout
    attempt = 0
    attempt_seconds = FIRST_ATTEMPT_SECONDS
    try:
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(attempt_seconds):
                    await ping(engine)
            except Exception as exc:  # classified below: wait, or stop with the cause
                if not _not_reachable_yet(exc):
                    raise DatabaseUnusable(_refusal(url, exc)) from exc
                if isinstance(exc, TimeoutError):
                    reason = f"no answer within {attempt_seconds:g}s"
                    attempt_seconds = min(2 * attempt_seconds, ATTEMPT_LIMIT_SECONDS)
                else:
                    reason = _NOT_YET.get(_sqlstate(exc) or "", type(exc).__name__)
                    attempt_seconds = FIRST_ATTEMPT_SECONDS
                if time.monotonic() >= deadline:
                    raise DatabaseUnusable(
                        f"database {_where(url)} not reachable after {timeout:.0f}s "
                        f"(last error: {reason}{f': {exc}' if str(exc) else ''})"
                    ) from exc
                log.info(
                    "waiting for database",
                    extra={"fields": {"attempt": attempt, "reason": reason}},
                )
                await asyncio.sleep(interval)
            else:
                return
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.migrate", description=__doc__)
    parser.add_argument("action", nargs="?", choices=["upgrade", "downgrade"], default="upgrade")
    parser.add_argument("revision", nargs="?", default=None, help="default: head / -1")
    parser.add_argument(
        "--wait",
        type=float,
        default=120.0,
        help="seconds to wait for an unreachable or starting database (default 120)",
    )
    args = parser.parse_args(argv)
    settings = config_errors.load(DatabaseSettings)
    configure_logging(service="migrate", level=settings.LOG_LEVEL)
    url = settings.database_url
    try:
        wait_for_database(url, timeout=args.wait)
    except DatabaseUnusable as exc:
        log.error(str(exc))
        return 1
    config = alembic_config(url)
    if args.action == "upgrade":
        command.upgrade(config, args.revision or "head")
    else:
        command.downgrade(config, args.revision or "-1")
    log.info("migrations done", extra={"fields": {"action": args.action}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
