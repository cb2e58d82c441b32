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


def db_ceiling(
    url: str | URL,
    *,
    workers: int = 8,
    seconds: float = 20.0,
    pgbench: Callable[[int, float, str, int], dict] | None = None,
) -> dict:
    """Insert-loop and select-loop figures, `seconds / 2` each, `workers` threads.

    With `pgbench` (a callable running pgbench next to the database, see
    `pgbench_command`), the same two statements also run there, without the
    client-side network path: {"pgbench": {"insert": ..., "select": ...}}.
    """
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
            result = {
                "insert": _measure(engine, workers, half, add),
                "select": _measure(engine, workers, half, list_open),
            }
            if pgbench is not None:
                result["pgbench"] = {
                    "insert": pgbench(workers, half, PGBENCH_INSERT, owner_id),
                    "select": pgbench(workers, half, PGBENCH_SELECT, owner_id),
                }
            return result
        finally:
            with engine.begin() as conn:
                conn.execute(delete(tasks).where(tasks.c.owner_id == owner_id))
                conn.execute(delete(users).where(users.c.id == owner_id))
    finally:
        engine.dispose()


# pgbench scripts doing what the loops above do (`:owner` is passed with -D owner=<id>).
PGBENCH_INSERT = (
    "INSERT INTO tasks (owner_id, title, description) "
    "VALUES (:owner, 'ceiling task', 'pgbench insert') RETURNING id;\n"
)
PGBENCH_SELECT = (
    "SELECT * FROM tasks WHERE owner_id = :owner AND completed = false ORDER BY id LIMIT 20;\n"
)


def pgbench_command(clients: int, seconds: float, owner_id: int) -> str:
    """Shell command: pgbench with the script on stdin, against the server on 127.0.0.1.

    Credentials come from the environment the database container already has
    (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB; PGPORT when not 5432).
    """
    threads = max(1, min(clients, 2))
    return (
        'script=$(mktemp) && cat > "$script" && '
        'PGPASSWORD="$POSTGRES_PASSWORD" '
        f'pgbench -n -h 127.0.0.1 -U "$POSTGRES_USER" -c {clients} -j {threads} '
        f'-T {max(1, round(seconds))} -D owner={owner_id} -f "$script" "$POSTGRES_DB"; '
        'status=$?; rm -f "$script"; exit $status'
    )


def parse_pgbench(output: str) -> dict:
    """tps and average latency from pgbench's summary."""
    import re

    tps = re.search(r"^tps = ([0-9.]+)", output, re.M)
    latency = re.search(r"^latency average = ([0-9.]+) ms", output, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", output, re.M)
    if tps is None:
        raise ValueError(f"no tps in pgbench output: {output[-500:]}")
    return {
        "ops_per_s": float(tps.group(1)),
        "mean_ms": float(latency.group(1)) if latency else None,
        "errors": int(failed.group(1)) if failed else 0,
    }


def run_pgbench(argv_prefix: list[str], env: dict[str, str] | None = None):
    """A `pgbench` callable for db_ceiling: `argv_prefix + ["sh", "-c", command]`."""
    import subprocess

    def go(clients: int, seconds: float, script: str, owner_id: int) -> dict:
        cmd = [*argv_prefix, "sh", "-c", pgbench_command(clients, seconds, owner_id)]
        proc = subprocess.run(  # noqa: S603 - fixed command, our own script
            cmd, input=script, capture_output=True, text=True, env=env, timeout=seconds + 60
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed ({proc.returncode}): {proc.stderr[-800:]}")
        result = parse_pgbench(proc.stdout)
        result.update(clients=clients, seconds=seconds)
        return result

    return go
