"""The database ceiling: the service's operations straight against PostgreSQL.

A direct SQLAlchemy loop (sync engine, psycopg) with N worker threads does
what create-task and list-open-tasks do in SQL, on the same tables the
service uses (reflected, so the loop follows the real schema): INSERT one
task RETURNING its id, and SELECT a user's open tasks, newest 20. The
figures (ops/s, p50/p95/p99) are what PostgreSQL allows on this machine,
the bar the service's own throughput is divided by in the report.

It works against any reachable PostgreSQL: the in-cluster one through a
`kubectl port-forward`, or the local throwaway one in perf's tests.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import MetaData, Table, create_engine, delete, insert, select
from sqlalchemy.engine import URL, Engine

from perf.summary import percentile


def sync_url(url: str | URL) -> URL:
    """The same database with the psycopg (sync) driver."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql+psycopg")


def _measure(engine: Engine, workers: int, seconds: float, op: Callable[[object], None]) -> dict:
    latencies: list[list[float]] = [[] for _ in range(workers)]
    errors = [0] * workers
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    op(conn)
                    conn.commit()
                except Exception:
                    conn.rollback()
                    errors[index] += 1
                    continue
                latencies[index].append((time.perf_counter() - start) * 1000.0)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    elapsed = time.monotonic() - started
    values = sorted(v for per in latencies for v in per)
    return {
        "ops": len(values),
        "errors": sum(errors),
        "ops_per_s": len(values) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "workers": workers,
        "seconds": round(elapsed, 2),
    }


def db_ceiling(url: str | URL, *, workers: int = 8, seconds: float = 20.0) -> dict:
    """Insert-loop and select-loop figures, `seconds / 2` each, `workers` threads."""
    engine = create_engine(sync_url(url), pool_size=workers + 1, max_overflow=0)
    try:
        meta = MetaData()
        users = Table("users", meta, autoload_with=engine)
        tasks = Table("tasks", meta, autoload_with=engine)
        with engine.begin() as conn:
            owner_id = conn.execute(
                insert(users)
                .values(username=f"perf-ceiling-{uuid.uuid4().hex[:12]}", password_hash="-")  # noqa: S106 - no login
                .returning(users.c.id)
            ).scalar_one()
        try:

            def add(conn) -> None:
                conn.execute(
                    insert(tasks)
                    .values(owner_id=owner_id, title="ceiling task", description="direct insert")
                    .returning(tasks.c.id)
                ).scalar_one()

            def list_open(conn) -> None:
                conn.execute(
                    select(tasks)
                    .where(tasks.c.owner_id == owner_id, tasks.c.completed.is_(False))
                    .order_by(tasks.c.id)
                    .limit(20)
                ).all()

            half = seconds / 2
            return {
                "insert": _measure(engine, workers, half, add),
                "select": _measure(engine, workers, half, list_open),
            }
        finally:
            with engine.begin() as conn:
                conn.execute(delete(tasks).where(tasks.c.owner_id == owner_id))
                conn.execute(delete(users).where(users.c.id == owner_id))
    finally:
        engine.dispose()
