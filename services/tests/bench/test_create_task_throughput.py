"""The create-task benchmark's load loops: every failed request is counted by what it was."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
from types import ModuleType

import pytest

from tests.conftest import SERVICES_DIR


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """services/bench/create_task_throughput.py (a script, not part of the package)."""
    path = SERVICES_DIR / "bench" / "create_task_throughput.py"
    spec = importlib.util.spec_from_file_location("create_task_throughput", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def failing_op(bench: ModuleType):
    """Answers in turn: 201, a 503, a connection reset, a 201, a 409."""
    outcomes = itertools.cycle(
        [
            None,
            bench.UnexpectedStatus(503, b'{"detail":"task service unavailable"}'),
            ConnectionResetError(104, "Connection reset by peer"),
            None,
            bench.UnexpectedStatus(409, b'{"detail":"a request with this idempotency key is'),
        ]
    )

    async def op() -> None:
        await asyncio.sleep(0.001)
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    return op


EXPECTED_KINDS = {
    'HTTP 503 {"detail":"task service unavailable"}',
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    'HTTP 409 {"detail":"a request with this idempotency key',
}


def test_closed_loop_counts_errors_by_kind(bench: ModuleType) -> None:
    run = asyncio.run(
        bench.closed_loop(failing_op(bench), concurrency=1, duration=0.2, warmup=0.05)
    )
    assert set(run["errors_by_kind"]) == EXPECTED_KINDS
    assert sum(run["errors_by_kind"].values()) == run["errors"] > 0


def test_open_loop_counts_errors_by_kind(bench: ModuleType) -> None:
    paced = asyncio.run(bench.open_loop(failing_op(bench), rate=200, duration=0.2))
    assert set(paced["errors_by_kind"]) == EXPECTED_KINDS
    assert sum(paced["errors_by_kind"].values()) == paced["errors"] == 24  # 3 of every 5 of 40


def test_summary_names_each_kind_most_frequent_first(bench: ModuleType) -> None:
    assert bench.describe_errors({}) == "none"
    assert bench.describe_errors({"HTTP 503": 1, "IncompleteReadError: 0 bytes": 2}) == (
        "3 (2 x IncompleteReadError: 0 bytes; 1 x HTTP 503)"
    )
    runs = [{"errors_by_kind": {"HTTP 503": 1}}, {"errors_by_kind": {"HTTP 503": 2, "X": 1}}]
    assert bench.total_errors(*runs) == {"HTTP 503": 3, "X": 1}


class ClosingIdleServer:
    """HTTP/1.1 on loopback that answers every POST 201 and, like uvicorn after its
    keep-alive timeout, closes a connection that stays idle for `idle_timeout` seconds."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.requests = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(self.idle_timeout):
                    head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.requests += 1
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def test_the_load_never_sends_on_a_connection_the_server_closed_while_idle(
    bench: ModuleType,
) -> None:
    """The paced run follows the closed-loop runs' 16 connections, most of them idle:
    uvicorn closes those after 5 s, and a burst that took one failed its request
    (IncompleteReadError: 0 bytes read)."""

    async def main() -> tuple[list[object], int]:
        server = ClosingIdleServer(idle_timeout=0.2)
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        poster = bench.KeepAlivePoster(f"http://127.0.0.1:{port}", "/tasks", {}, b"{}")
        try:
            await asyncio.gather(*(poster.post() for _ in range(4)))  # 4 connections
            await asyncio.sleep(0.5)  # the server closes them meanwhile
            answers = await asyncio.gather(
                *(poster.post() for _ in range(4)), return_exceptions=True
            )
        finally:
            poster.close()
            listener.close()
            await listener.wait_closed()
        return answers, server.requests

    answers, requests = asyncio.run(main())
    assert answers == [(201, b"{}")] * 4
    assert requests == 8
