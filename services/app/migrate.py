"""Schema migrations: `python -m app.migrate [upgrade head | downgrade <rev>]`.

Waits for PostgreSQL first (it may still be starting when the chart's Job runs),
then runs Alembic and exits 0 when the schema is at the target revision.
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

from app.core.config import DatabaseSettings
from app.db.session import ping
from app.logging import configure_logging

log = logging.getLogger("app.migrate")
SCRIPT_LOCATION = str(Path(__file__).parent / "alembic")


def alembic_config(url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["database_url"] = url
    return config


async def _reachable(url: URL) -> None:
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 5})
    try:
        await ping(engine)
    finally:
        await engine.dispose()


def wait_for_database(url: URL, *, timeout: float, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            asyncio.run(_reachable(url))
        except Exception as exc:  # any failure: not reachable yet
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"database {url.host}:{url.port}/{url.database} not reachable after "
                    f"{timeout:.0f}s: {type(exc).__name__}: {exc}"
                ) from exc
            log.info("waiting for database", extra={"fields": {"attempt": attempt}})
            time.sleep(interval)
        else:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.migrate", description=__doc__)
    parser.add_argument("action", nargs="?", choices=["upgrade", "downgrade"], default="upgrade")
    parser.add_argument("revision", nargs="?", default=None, help="default: head / -1")
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for the DB (default 120)"
    )
    args = parser.parse_args(argv)
    settings = DatabaseSettings()
    configure_logging(service="migrate", level=settings.LOG_LEVEL)
    url = settings.database_url
    wait_for_database(url, timeout=args.wait)
    config = alembic_config(url)
    if args.action == "upgrade":
        command.upgrade(config, args.revision or "head")
    else:
        command.downgrade(config, args.revision or "-1")
    log.info("migrations done", extra={"fields": {"action": args.action}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
