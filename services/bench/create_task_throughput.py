"""Create-task throughput: backend -> MCP server -> PostgreSQL vs a direct SQLAlchemy insert loop.

What it measures (loopback only, one uvicorn worker per app, fixed concurrency):
- `hop`: POST /api/v1/tasks on the backend, which calls POST /tasks on the MCP
  server, which inserts through app.services.tasks. Closed loop, CONCURRENCY
  clients, each run DURATION seconds after a warm-up; median of RUNS runs. The
  load's HTTP client is a bare keep-alive one (--client raw, see KeepAlivePoster),
  so the servers, not the client, get the shared cores; --client httpx2 for the
  client used before.
- `hop_idempotency_key`: the same, each request with a new Idempotency-Key (as a
  client that can retry sends them): the key's lock and record on top.
  Its runs alternate with the `hop` runs, so both see the same machine.
- `direct`: the same insert (`app.services.tasks.create_task`, same engine
  settings) in this one process, with the same concurrency; median of RUNS runs.
- `ratio` = hop req/s / direct req/s (the cost of the two extra HTTP hops).
- `p95_at_70pct`: p95 latency of the hop path at 70% of its measured peak rate
  (open loop: requests start on a fixed schedule).
- `cpu_ms_per_request` per process group (backend, MCP server, PostgreSQL, this
  load generator) and the 1-minute load average: on a shared 2-core machine
  the req/s depend on what else runs, the CPU cost per request much less.
- `errors_by_kind`, in every run and in total: each failed request counted by what
  it was, an HTTP status (with the first words of its body) or an exception type
  (with the first words of its message), never only as a number.

PostgreSQL is a throwaway cluster from Debian's binaries unless DATABASE_URL is
set. Results go to stdout and to reports/bench-create-task.json.

Run: `nox -s bench` (or `python services/bench/create_task_throughput.py --help`). Where the
CPU goes: `nox -s profile` (py-spy, same setup).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2

SERVICES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SERVICES.parent))  # harness.local: the repository's local stack

from harness import local  # noqa: E402

JWT_SECRET = "bench-jwt-secret-" + "x" * 32
TASK = {"title": "bench"}
Operation = Callable[[], Awaitable[None]]
SERVICE_TOKEN = "bench-service-token-" + "y" * 32


class UnexpectedStatus(Exception):
    """The server answered, but not 201."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def first_words(text: str, count: int = 6) -> str:
    return " ".join(text.split()[:count])


def error_kind(exc: BaseException) -> str:
    """What a failed request was, in a few words: `HTTP 503 {"detail":"task service
    unavailable"}` or `IncompleteReadError: 0 bytes read on a total of`."""
    if isinstance(exc, UnexpectedStatus):
        body = first_words(exc.body[:200].decode("utf-8", "replace"))
        return f"HTTP {exc.status} {body}".rstrip()
    message = first_words(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def describe_errors(errors: dict[str, int]) -> str:
    """`none`, or the total and each kind's count, most frequent first."""
    if not errors:
        return "none"
    kinds = sorted(errors.items(), key=lambda item: (-item[1], item[0]))
    return f"{sum(errors.values())} (" + "; ".join(f"{n} x {kind}" for kind, n in kinds) + ")"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def closed_loop(
    op: Callable[[], Awaitable[None]], *, concurrency: int, duration: float, warmup: float
) -> dict[str, float]:
    """`concurrency` workers calling `op` back to back; stats for the timed window only."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()  # by kind, the warm-up's too
    completed = 0  # including the warm-up, for CPU per request
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker() -> None:
        nonlocal completed
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            try:
                await op()
            except Exception as exc:
                errors[error_kind(exc)] += 1
                continue
            completed += 1
            if began >= measure_from:
                latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "requests": len(latencies),
        "completed_incl_warmup": completed,
        "errors": errors.total(),
        "errors_by_kind": dict(errors),
        "rps": len(latencies) / duration,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
    }


async def open_loop(op: Callable[[], Awaitable[None]], *, rate: float, duration: float) -> dict:
    """Start requests at a fixed rate (independent of responses); latency percentiles."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def one() -> None:
        began = time.perf_counter()
        try:
            await op()
        except Exception as exc:
            errors[error_kind(exc)] += 1
            return
        latencies.append(time.perf_counter() - began)

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * duration)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return {
        "rate": rate,
        "requests": len(latencies),
        "errors": errors.total(),
        "errors_by_kind": dict(errors),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids(datadir: str | None) -> list[int]:
    """The cluster's postmaster and its children (our cluster only, not others on the host)."""
    if not datadir:
        return []
    postmaster = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return pids


class CpuMeter:
    """CPU ms per request for each named group of processes ("load generator" = this one).

    Groups are functions returning pids, sampled each time: PostgreSQL forks a
    process per connection, after the meter is made.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups

    def sample(self) -> dict[str, float]:
        totals = {"load generator": time.process_time()}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids():
                try:
                    total += cpu_seconds(pid)
                except OSError:  # a short-lived backend process went away
                    continue
            totals[name] = total
        return totals

    @staticmethod
    def per_request(before: dict[str, float], after: dict[str, float], n: int) -> dict:
        return {name: round((after[name] - before[name]) * 1000 / max(n, 1), 3) for name in after}


def total_errors(*runs: dict) -> dict[str, int]:
    """Every run's errors, added up by kind."""
    return dict(sum((Counter(run["errors_by_kind"]) for run in runs), Counter()))


def summarize(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda r: r["rps"])
    median = ordered[len(ordered) // 2]
    return {
        "median_rps": median["rps"],
        "p95_ms_of_median_run": median["p95_ms"],
        "p95_ms_median": statistics.median(r["p95_ms"] for r in runs),
        "errors_by_kind": total_errors(*runs),
        "runs": runs,
    }


@contextmanager
def served_apps() -> Iterator[local.LocalStack]:
    """A migrated PostgreSQL (throwaway unless DATABASE_URL is set) and both apps on loopback,
    logging as deployed: one JSON access line per request in each app."""
    settings = {"JWT_SECRET": JWT_SECRET, "MCP_SERVICE_TOKEN": SERVICE_TOKEN, "LOG_LEVEL": "INFO"}
    with local.stack(database_url=os.environ.get("DATABASE_URL"), settings=settings) as apps:
        yield apps


class KeepAlivePoster:
    """The load's own HTTP/1.1 client: one pre-encoded POST per call, keep-alive connections.

    The load runs on the same cores as the servers it measures. httpx2 spends ~0.7 ms of
    CPU per request, a fifth of the hop's total, and that time is taken from the servers;
    this client spends ~0.1 ms. It reads what uvicorn sends: a status line, headers with
    Content-Length, the body.

    Like any keep-alive client it never sends on a connection the server may have closed:
    uvicorn closes one idle for 5 s (its keep-alive timeout), so a connection idle for
    KEEPALIVE_EXPIRY or one the server already closed (its reader at EOF) is dropped, not
    reused. The paced run at 70 % of peak uses a few of the closed-loop runs' connections
    and leaves the others idle; a burst after 5 s took closed ones, and each such request
    failed (IncompleteReadError: 0 bytes read), counted as errors of the app.
    """

    KEEPALIVE_EXPIRY = 3.0  # seconds, below uvicorn's 5 s, as the backend's own client does

    def __init__(self, url: str, path: str, headers: dict[str, str], body: bytes) -> None:
        parsed = httpx2.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.head = "".join(f"{line}\r\n" for line in lines).encode()
        tail = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.tail = tail.encode() + body
        # (reader, writer, when it went idle), the most recently used last
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The most recently used idle connection that is still open, else a new one."""
        while self.idle:
            reader, writer, since = self.idle.pop()
            if time.monotonic() - since < self.KEEPALIVE_EXPIRY and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    async def post(self, extra_headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send the request (with `extra_headers` for this call); return (status, body)."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (extra_headers or {}).items())
        reader, writer = await self._connection()
        try:
            writer.write(self.head + extra.encode() + self.tail)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            body = await reader.readexactly(int(length[1])) if length else b""
        except BaseException:
            writer.close()
            raise
        if re.search(rb"(?i)\r\nconnection: *close", head):
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return status, body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


async def sign_up(client: httpx2.AsyncClient) -> dict[str, str]:
    """A fresh user; returns its Authorization header."""
    creds = {"username": f"bench_{uuid.uuid4().hex[:8]}", "password": "benchmark pw"}
    (await client.post("/api/v1/users", json=creds)).raise_for_status()
    token = (await client.post("/api/v1/auth/token", json=creds)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def create_task_ops(backend: str, client_kind: str) -> AsyncIterator[dict[str, Operation]]:
    """POST /api/v1/tasks as a fresh user, by `client_kind` ("raw" or "httpx2"): `hop`
    plain, `hop_idempotency_key` each with a new Idempotency-Key (as a client that can
    retry sends them). An operation raises unless the answer is 201."""
    limits = httpx2.Limits(max_connections=256)
    async with httpx2.AsyncClient(base_url=backend, limits=limits, timeout=30) as client:
        headers = await sign_up(client)
        poster = KeepAlivePoster(backend, "/api/v1/tasks", headers, json.dumps(TASK).encode())

        async def create(key_headers: dict[str, str]) -> None:
            if client_kind == "httpx2":
                response = await client.post(
                    "/api/v1/tasks", json=TASK, headers={**headers, **key_headers}
                )
                status, body = response.status_code, response.content
            else:
                status, body = await poster.post(key_headers)
            if status != 201:
                raise UnexpectedStatus(status, body)

        async def op() -> None:
            await create({})

        async def keyed_op() -> None:
            await create({"Idempotency-Key": str(uuid.uuid4())})

        try:
            yield {"hop": op, "hop_idempotency_key": keyed_op}
        finally:
            poster.close()


async def bench_hop(
    backend: str, args: argparse.Namespace, meter: CpuMeter
) -> tuple[dict, dict, dict]:
    async with create_task_ops(backend, args.client) as ops:
        runs = await measured_runs(ops, args, meter)
        paced = await open_loop(
            ops["hop"], rate=0.7 * summarize(runs["hop"])["median_rps"], duration=args.duration
        )
        print(
            f"  hop at 70% of peak ({paced['rate']:.0f} req/s): p95 {paced['p95_ms']:.1f} ms, "
            f"errors {describe_errors(paced['errors_by_kind'])}"
        )
        return summarize(runs["hop"]), summarize(runs["hop_idempotency_key"]), paced


async def measured_runs(
    ops: dict[str, Callable[[], Awaitable[None]]], args: argparse.Namespace, meter: CpuMeter
) -> dict[str, list[dict]]:
    """`args.runs` closed-loop runs of each op, each with its CPU cost per request; the ops
    take turns run by run, so a change in machine load hits all of them alike."""
    runs: dict[str, list[dict]] = {label: [] for label in ops}
    for n in range(args.runs):
        for label, op in ops.items():
            before = meter.sample()
            run = await closed_loop(
                op, concurrency=args.concurrency, duration=args.duration, warmup=args.warmup
            )
            run["cpu_ms_per_request"] = meter.per_request(
                before, meter.sample(), run["completed_incl_warmup"]
            )
            run["loadavg_1m_after"] = os.getloadavg()[0]
            print(
                f"  {label} run {n + 1}: {run['rps']:.0f} req/s, p95 {run['p95_ms']:.1f} ms, "
                f"CPU ms/request {run['cpu_ms_per_request']}, load {run['loadavg_1m_after']:.1f}, "
                f"errors {describe_errors(run['errors_by_kind'])}"
            )
            runs[label].append(run)
    return runs


async def bench_direct(database_url: str, args: argparse.Namespace, meter: CpuMeter) -> dict:
    os.environ.update(DATABASE_URL=database_url, JWT_SECRET=JWT_SECRET)
    os.environ.update(MCP_SERVICE_TOKEN=SERVICE_TOKEN)
    from app.core.config import Settings
    from app.db.session import create_engine, create_sessionmaker
    from app.models import User
    from app.schemas import TaskCreate
    from app.services import tasks

    engine = create_engine(Settings())
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        user = User(username=f"direct_{uuid.uuid4().hex[:8]}", password_hash="x")
        session.add(user)
        await session.commit()
        owner_id = user.id
    data = TaskCreate(title="bench")

    async def op() -> None:
        async with sessions() as session:
            await tasks.create_task(session, owner_id=owner_id, data=data)

    runs = await measured_runs({"direct": op}, args, meter)
    await engine.dispose()
    return summarize(runs["direct"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds timed per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--client",
        choices=["raw", "httpx2"],
        default="raw",
        help="the hop load's HTTP client (see KeepAlivePoster; httpx2: the one used before)",
    )
    parser.add_argument(
        "--output", type=Path, default=SERVICES.parent / "reports" / "bench-create-task.json"
    )
    args = parser.parse_args()

    with served_apps() as apps:

        def pg() -> list[int]:
            return postgres_pids(apps.executor.datadir if apps.executor else None)

        hop_meter = CpuMeter(
            {
                "backend": lambda: [apps.backend.process.pid],
                "mcp-server": lambda: [apps.mcp.process.pid],
                "postgresql": pg,
            }
        )
        print(f"backend -> MCP -> PostgreSQL, concurrency {args.concurrency}:")
        hop, keyed, paced = asyncio.run(bench_hop(apps.backend_url, args, hop_meter))
        print(f"direct SQLAlchemy insert loop in one process, concurrency {args.concurrency}:")
        direct = asyncio.run(bench_direct(apps.database_url, args, CpuMeter({"postgresql": pg})))

    result = {
        "benchmark": "create-task throughput",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_end": os.getloadavg(),
        },
        "config": {
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "runs": args.runs,
            "uvicorn_workers_per_app": 1,
            "hop_client": args.client,
        },
        "hop": hop,
        "hop_idempotency_key": keyed,
        "direct": direct,
        "ratio": hop["median_rps"] / direct["median_rps"],
        "idempotency_key_rps_ratio": keyed["median_rps"] / hop["median_rps"],
        "p95_at_70pct": paced,
        "errors_by_kind": {
            "hop": hop["errors_by_kind"],
            "hop_idempotency_key": keyed["errors_by_kind"],
            "hop_at_70pct": paced["errors_by_kind"],
            "direct": direct["errors_by_kind"],
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"\nhop {hop['median_rps']:.0f} req/s (p95 {hop['p95_ms_of_median_run']:.1f} ms) | "
        f"direct {direct['median_rps']:.0f} req/s (p95 {direct['p95_ms_of_median_run']:.1f} ms) | "
        f"ratio {result['ratio']:.2f} | p95 at 70% of peak {paced['p95_ms']:.1f} ms"
    )
    print(
        f"hop with Idempotency-Key {keyed['median_rps']:.0f} req/s "
        f"(p95 {keyed['p95_ms_of_median_run']:.1f} ms) | "
        f"{result['idempotency_key_rps_ratio']:.2f} of hop without"
    )
    print("errors:")
    for label, errors in result["errors_by_kind"].items():
        print(f"  {label}: {describe_errors(errors)}")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
