"""The backend's MCP client, against real TCP servers on loopback: a refused connection is
retried for every call within the connect timeout; once the request may have been sent,
only calls that are safe to repeat are."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import anyio
import httpcore2
import pytest
from harness.proc import free_port  # nothing listens there: connects are refused at once

from app.core.config import Settings
from app.mcp_client import RECYCLE_EVERY, MCPClient, TaskServiceError

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class LoopbackServer:
    """A raw TCP server on 127.0.0.1 counting connections; `handle` says what each gets."""

    def __init__(self, port: int = 0) -> None:
        self.connections = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.listener.close()


class FlakyServer(LoopbackServer):
    """Drops the first `drops` connections without answering, then answers 200 `{}`."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.requests: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                self.requests.append(conn.recv(65536))
                if self.connections > self.drops:
                    conn.sendall(OK)
            except OSError:
                pass


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(drops=2)
    yield server
    server.close()


def call(
    url: str,
    method: str,
    idempotency_key: str | None = None,
    *,
    connect_timeout: float = 2,
    pool: httpcore2.AsyncConnectionPool | None = None,
) -> object:
    settings = Settings(
        JWT_SECRET="j" * 40,
        MCP_SERVICE_TOKEN="s" * 40,
        MCP_SERVER_URL=url,
        MCP_TIMEOUT_SECONDS=2,
        MCP_CONNECT_TIMEOUT_SECONDS=connect_timeout,
    )

    async def main() -> object:
        client = MCPClient(settings, pool=pool)
        try:
            response = await client.request(
                method, "/tasks", user_id=1, json=None, idempotency_key=idempotency_key
            )
            return json.loads(response.content)
        finally:
            await client.aclose()

    return anyio.run(main)


def test_get_is_retried_until_it_succeeds(flaky: FlakyServer) -> None:
    assert call(flaky.url, "GET") == {}
    assert flaky.connections == 3  # two dropped, the third answered


def test_post_is_not_retried(flaky: FlakyServer) -> None:
    with pytest.raises(TaskServiceError) as failure:
        call(flaky.url, "POST")
    assert failure.value.status == 503
    assert flaky.connections == 1  # a create is never sent twice


def test_post_with_an_idempotency_key_is_retried(flaky: FlakyServer) -> None:
    # The MCP server may have created the task before the connection dropped: the key
    # makes the retry find it instead of creating another.
    assert call(flaky.url, "POST", idempotency_key="k-1") == {}
    assert flaky.connections == 3
    assert all(b'\r\nidempotency-key: "k-1"\r\n' in r.lower() for r in flaky.requests)


def test_delete_is_not_retried_once_the_request_was_sent(flaky: FlakyServer) -> None:
    # The server may have deleted the task before the connection dropped.
    with pytest.raises(TaskServiceError) as failure:
        call(flaky.url, "DELETE")
    assert failure.value.status == 503
    assert flaky.connections == 1


class CountingPool(httpcore2.AsyncConnectionPool):
    """The client's pool, counting the requests it was asked to send."""

    attempts = 0

    async def handle_async_request(self, request):
        self.attempts += 1
        return await super().handle_async_request(request)


@pytest.mark.parametrize(
    ("method", "key"), [("POST", None), ("POST", "k-1"), ("GET", None), ("DELETE", None)]
)
def test_a_refused_connection_is_retried_for_every_call_until_the_connect_timeout(
    method: str, key: str | None
) -> None:
    # Nothing was sent, so trying again is safe even for a create without a key.
    pool = CountingPool()
    started = time.monotonic()
    with pytest.raises(TaskServiceError) as failure:
        call(f"http://127.0.0.1:{free_port()}", method, key, connect_timeout=0.6, pool=pool)
    elapsed = time.monotonic() - started
    assert failure.value.status == 503
    assert pool.attempts >= 4  # 25, 50, 100, 200 ms apart, then 250 ms
    assert 0.35 < elapsed < 1.6, f"took {elapsed:.2f}s"


class LateServer(LoopbackServer):
    """Starts listening on `port` after `delay` seconds (connects are refused until then),
    then answers each request 201 with a task, recording the requests it got."""

    TASK = b'{"id":1,"title":"t","description":null,"completed":false}'

    def __init__(self, port: int, delay: float) -> None:
        self.requests: list[bytes] = []
        self.port, self.delay = port, delay
        self.started = threading.Thread(target=self._start_late, daemon=True)
        self.started.start()

    def _start_late(self) -> None:
        time.sleep(self.delay)
        super().__init__(self.port)

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            self.requests.append(conn.recv(65536))
            conn.sendall(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(self.TASK), self.TASK)
            )

    def close(self) -> None:
        self.started.join()
        super().close()


def test_a_create_without_a_key_is_sent_once_the_refusing_port_listens() -> None:
    """As after a rollout, while the new endpoints reach the node: the first connects are
    refused, then the server is there. The create gets through, and is sent once."""
    port = free_port()
    late = LateServer(port, delay=0.3)
    pool = CountingPool()
    try:
        answer = call(f"http://127.0.0.1:{port}", "POST", connect_timeout=2, pool=pool)
    finally:
        late.close()
    assert answer == json.loads(LateServer.TASK)
    assert pool.attempts >= 3  # refused at 0, 25 and 75 ms at least
    assert len(late.requests) == 1
    assert late.requests[0].startswith(b"POST /tasks HTTP/1.1")


def test_the_host_header_is_spelled_as_in_the_url_ipv6_in_brackets() -> None:
    sent: list[httpcore2.Request] = []

    class RecordingPool(httpcore2.AsyncConnectionPool):
        async def handle_async_request(self, request):
            sent.append(request)
            raise httpcore2.ConnectError("not sent anywhere")

    async def main(url: str) -> bool:
        settings = Settings(JWT_SECRET="j" * 40, MCP_SERVICE_TOKEN="s" * 40, MCP_SERVER_URL=url)
        client = MCPClient(settings, pool=RecordingPool())
        try:
            return await client.ready()
        finally:
            await client.aclose()

    for url in ("http://[::1]:8001", "http://mcp-server:8001/", "https://mcp.example"):
        assert anyio.run(main, url) is False
    assert [dict(r.headers)[b"Host"] for r in sent] == [
        b"[::1]:8001",
        b"mcp-server:8001",
        b"mcp.example",
    ]
    assert [(r.url.host, r.url.target) for r in sent] == [
        (b"::1", b"/ready"),
        (b"mcp-server", b"/ready"),
        (b"mcp.example", b"/ready"),
    ]


def test_connect_timeout_is_an_outage_503_not_a_504() -> None:
    # A listener whose accept queue is full drops new SYNs: connects hang, like a Service
    # whose packets go nowhere. That is "unavailable", not "slow".
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    fillers = []
    for _ in range(4):  # fill the accept queue
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    settings = Settings(
        JWT_SECRET="j" * 40,
        MCP_SERVICE_TOKEN="s" * 40,
        MCP_SERVER_URL=url,
        MCP_CONNECT_TIMEOUT_SECONDS=0.5,
    )

    async def main() -> None:
        client = MCPClient(settings)
        try:
            await client.request("POST", "/tasks", user_id=1, json={"title": "t"})
        finally:
            await client.aclose()

    try:
        with pytest.raises(TaskServiceError) as failure:
            anyio.run(main)
    finally:
        for sock in (*fillers, listener):
            sock.close()
    assert failure.value.status == 503
    assert failure.value.detail == "task service unavailable"


class KeepAliveServer(LoopbackServer):
    """Answers every request 200 `{}` on the same connection until asked to close it."""

    def handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    closing = b"connection: close" in head.lower()
                    extra = b"Connection: close\r\n" if closing else b""
                    conn.sendall(OK.replace(b"\r\n\r\n", b"\r\n" + extra + b"\r\n", 1))
                    if closing:
                        return


def test_keep_alive_connections_are_recycled_so_new_replicas_get_traffic() -> None:
    server = KeepAliveServer()
    settings = Settings(JWT_SECRET="j" * 40, MCP_SERVICE_TOKEN="s" * 40, MCP_SERVER_URL=server.url)

    async def main() -> None:
        client = MCPClient(settings)
        try:
            for _ in range(2 * RECYCLE_EVERY + 1):
                await client.request("GET", "/tasks", user_id=1)
        finally:
            await client.aclose()

    try:
        anyio.run(main)
    finally:
        server.close()
    # One connection per RECYCLE_EVERY sequential calls: the 1st, the 26th and the 51st.
    assert server.connections == 3


class PlainTextUnavailable(LoopbackServer):
    """Answers every request with a plain-text 503, as a proxy in front of the MCP server may."""

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 11\r\nConnection: close\r\n\r\nunavailable"
            )


def test_a_plain_text_503_is_still_an_outage_503() -> None:
    server = PlainTextUnavailable()
    try:
        with pytest.raises(TaskServiceError) as failure:
            call(server.url, "POST")
    finally:
        server.close()
    assert failure.value.status == 503
    assert failure.value.detail == "task service unavailable"
