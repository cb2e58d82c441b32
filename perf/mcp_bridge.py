"""Drive the official `mcp` SDK client (asyncio) from Locust's gevent users.

Locust monkey-patches the process for gevent; the MCP SDK is built on
anyio/asyncio. Running an asyncio loop inside a greenlet would block every
other simulated user while it waits, so one asyncio loop lives in a native
OS thread and the greenlets hand it coroutines. A greenlet waits for the
answer through gevent's thread pool (a native thread blocks on a real lock
while the greenlet yields to the hub), so other users keep running.

`AgentSession` is one agent's MCP connection (Streamable HTTP, user JWT as
Bearer), opened once and reused for every tool call, like a real agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _original(module: str, name: str) -> Any:
    """The unpatched object when gevent has monkey-patched `module`, else the current one."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent always comes with locust
        return getattr(__import__(module), name)
    return monkey.get_original(module, name)


class LoopThread:
    """An asyncio event loop running forever in a native thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = _original("_thread", "allocate_lock")()
        self._started.acquire()
        self._guard = _original("_thread", "allocate_lock")()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._started.release()
        loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                _original("_thread", "start_new_thread")(self._main, ())
                self._started.acquire()
        assert self._loop is not None
        return self._loop

    def run(self, factory: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run the coroutine made by `factory` on the loop and return its result.

        Blocks only the calling greenlet (or thread when gevent is not in use).
        """
        loop = self.loop
        done = _original("_thread", "allocate_lock")()
        done.acquire()
        box: dict[str, Any] = {}

        async def runner() -> None:
            try:
                box["result"] = await asyncio.wait_for(factory(), timeout)
            except BaseException as exc:  # handed back to the caller below
                box["error"] = exc
            finally:
                done.release()

        loop.call_soon_threadsafe(lambda: loop.create_task(runner()))
        _wait(done, timeout + 5.0)
        if "error" in box:
            raise box["error"]
        if "result" not in box:
            raise TimeoutError(f"MCP call did not finish within {timeout + 5.0:.0f} s")
        return box["result"]


def _wait(lock: Any, timeout: float) -> None:
    """Wait for `lock` (a native lock) without blocking the gevent hub."""
    if _gevent_patched():
        import gevent

        gevent.get_hub().threadpool.apply(lock.acquire, (True, timeout))
    else:
        lock.acquire(True, timeout)


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover
        return False
    return monkey.is_module_patched("threading")


_LOOP: LoopThread | None = None
_LOOP_GUARD = threading.Lock()


def shared_loop() -> LoopThread:
    global _LOOP
    with _LOOP_GUARD:
        if _LOOP is None:
            _LOOP = LoopThread()
        return _LOOP


class ToolFailed(Exception):
    """The server answered the tool call with isError=True."""


def tool_payload(result: Any) -> Any:
    """The JSON a tool returned: structured content if present, else parsed text."""
    if getattr(result, "is_error", False) or getattr(result, "isError", False):
        texts = [getattr(c, "text", "") for c in getattr(result, "content", [])]
        raise ToolFailed("; ".join(t for t in texts if t) or "tool returned isError")
    structured = getattr(result, "structured_content", None)
    if structured is None:
        structured = getattr(result, "structuredContent", None)
    if structured is not None:
        # The SDK wraps non-object return values as {"result": ...}.
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured
    for content in getattr(result, "content", []):
        text = getattr(content, "text", None)
        if text is None:
            continue
        try:
            return json.loads(text)
        except ValueError:
            return text
    return None


class AgentSession:
    """One MCP client session over Streamable HTTP, authenticated with a user JWT."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        host_header: str | None = None,
        timeout: float = 15.0,
        loop: LoopThread | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"}
        if host_header:
            self._headers["Host"] = host_header
        self._loop = loop or shared_loop()
        self._task: asyncio.Task[None] | None = None
        self._requests: asyncio.Queue[Any]

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    def open(self) -> None:
        """Connect and negotiate; the connection stays open in one task on the loop."""
        self._loop.run(self._start, self.timeout)

    async def _start(self) -> None:
        self._requests = asyncio.Queue()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._serve(ready))
        await ready

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        # The SDK's client holds anyio task groups: enter and leave it in this one task.
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        try:
            async with httpx2.AsyncClient(
                headers=self._headers, timeout=httpx2.Timeout(self.timeout)
            ) as http:
                transport = streamable_http_client(self.url, http_client=http)
                async with Client(transport, read_timeout_seconds=self.timeout) as client:
                    ready.set_result(None)
                    while True:
                        item = await self._requests.get()
                        if item is None:
                            return
                        method, future = item
                        try:
                            result = await method(client)
                        except Exception as exc:
                            if not future.done():  # not already abandoned on timeout
                                future.set_exception(exc)
                        else:
                            if not future.done():
                                future.set_result(result)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
                return
            raise

    def _submit(self, method: Callable[[Any], Awaitable[Any]]) -> Any:
        if not self.is_open:
            raise RuntimeError("MCP session is not open")

        async def go() -> Any:
            future = asyncio.get_running_loop().create_future()
            await self._requests.put((method, future))
            return await future

        return self._loop.run(go, self.timeout)

    def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call `tool` and return its JSON payload; raises ToolFailed on isError."""
        return tool_payload(self._submit(lambda client: client.call_tool(tool, arguments)))

    def close(self) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None

        async def go() -> None:
            await self._requests.put(None)
            await asyncio.wait({task}, timeout=self.timeout)

        # Closing a dead connection must not fail the simulated user.
        with contextlib.suppress(Exception):
            self._loop.run(go, self.timeout)
