"""The backend's client for the MCP server's REST API.

One pool of keep-alive connections per process: httpcore2's `AsyncConnectionPool`, the
connection layer under httpx2 (httpx's successor, same author, already required by the
MCP SDK). The backend calls it directly: httpx2's transport around the same pool (URL
parsing, header models, byte-stream wrappers) cost 0.16 ms of CPU per forwarded call
on the bench machine, 0.53 ms against 0.37 ms for the pool alone, and did nothing
these calls need.

Failures become `TaskServiceError`s carrying the HTTP status the backend should
answer with (502/503/504), so a slow or absent MCP server never hangs a request
or surfaces as a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpcore2

from app.core.config import Settings
from app.logging import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger(__name__)

# A connection that was refused (or failed otherwise before any byte of the request went
# out: DNS, no route, TLS) is retried for every call, a create without a key too, until
# the connect timeout is spent: nothing reached the server. Right after a rollout or a
# scale-up the Service's endpoints take a moment to reach every node, and meanwhile some
# connects are refused in a millisecond or two. The first retry comes soon (another
# endpoint may already answer), then further apart, so an absent server is not hammered,
# and no further apart than 250 ms, so the moment it answers is not missed by much.
_REFUSED_DELAYS = (0.025, 0.05, 0.1, 0.2)  # then 0.25 s each
_REFUSED_DELAY_MAX = 0.25
# Once bytes went out, only reads are retried, and a call carrying an Idempotency-Key (a
# retry finds the first call's answer): a create without a key might be done twice, and
# a DELETE that reached the server would come back from a retry as a misleading 404.
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_RETRY_DELAYS = (0.05, 0.2)  # two retries after a dropped connection, repeatable calls only
# A connection that failed or broke, or an answer that was not HTTP (a bad URL scheme too).
_TRANSPORT_ERRORS = (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.UnsupportedProtocol)
# Every Nth call asks the MCP server to close its connection afterwards. kube-proxy
# balances connections, not requests: without this, pooled keep-alive connections stay
# on the pods that existed when they opened, and replicas the HPA adds get no traffic.
RECYCLE_EVERY = 25
# The MCP server's /ready answers in milliseconds when it is there. The backend's /ready
# reports this check but never fails on it, so a longer wait would only hold back the
# backend's own readiness answer, e.g. at install while the MCP Service has no endpoint yet.
_READY_TIMEOUT = dict.fromkeys(("connect", "read", "write", "pool"), 0.5)


@dataclass(frozen=True, slots=True)
class TaskServiceReply:
    """A 2xx answer of the MCP server; header names are lower-case."""

    status_code: int
    headers: dict[str, str]
    content: bytes


class TaskServiceError(Exception):
    """The MCP server could not give a usable answer; `status` is what the backend returns."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class TaskServiceResponse(Exception):
    """The MCP server answered with a client error (404, 409, 422, ...) to pass on as is.

    `headers` has lower-case names.
    """

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers


class MCPClient:
    def __init__(self, settings: Settings, pool: httpcore2.AsyncConnectionPool | None = None):
        self._calls = 0
        base = urlsplit(settings.MCP_SERVER_URL.rstrip("/"))
        self._scheme = base.scheme.encode()
        self._host = (base.hostname or "").encode()
        self._port = base.port
        self._prefix = base.path
        # As the URL spells it, so an IPv6 address keeps its brackets.
        host_header = (b"Host", base.netloc.rpartition("@")[2].encode())
        auth = f"Bearer {settings.MCP_SERVICE_TOKEN.get_secret_value()}".encode()
        self._fixed_headers = [host_header, (b"Authorization", auth)]
        self._timeout = dict.fromkeys(("read", "write", "pool"), settings.MCP_TIMEOUT_SECONDS)
        self._timeout["connect"] = settings.MCP_CONNECT_TIMEOUT_SECONDS
        # TLS, for an https URL, gets the default verification. Idle connections are dropped
        # before uvicorn's 5 s keep-alive timeout closes them from the other end, so a call
        # is never sent down a closing connection.
        self._pool = pool or httpcore2.AsyncConnectionPool(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=3.0
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        *,
        body: bytes | None = None,
        timeout: dict[str, float] | None = None,
    ) -> httpcore2.Response:
        """One request through the pool; the response comes back read and released."""
        url = httpcore2.URL(
            scheme=self._scheme,
            host=self._host,
            port=self._port,
            target=(self._prefix + path).encode(),
        )
        return await self._pool.request(
            method,
            url,
            headers=[*self._fixed_headers, *headers],
            content=body,
            extensions={"timeout": timeout or self._timeout},
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        user_id: int,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TaskServiceReply:
        """Call the MCP server for `user_id`; return its 2xx answer, else raise."""
        headers = [(b"X-User-ID", str(user_id).encode())]
        body = None
        if json is not None:
            body = _json_bytes(json)
            headers.append((b"Content-Type", b"application/json"))
        if params:
            path = f"{path}?{urlencode(params)}"
        if idempotency_key is not None:
            headers.append((b"Idempotency-Key", f'"{idempotency_key}"'.encode()))
        self._calls += 1
        if self._calls % RECYCLE_EVERY == 0:
            headers.append((b"Connection", b"close"))
        request_id = request_id_var.get()
        if request_id:
            headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
        repeatable = method in _SAFE or idempotency_key is not None
        loop = asyncio.get_running_loop()
        # Refused connects are retried until the connect timeout, counted from the attempt's
        # first connect, is spent; each connect gets what is left of it.
        connect_deadline = loop.time() + self._timeout["connect"]
        refused = dropped = 0
        while True:
            timeout = {**self._timeout, "connect": connect_deadline - loop.time()}
            try:
                response = await self._send(method, path, headers, body=body, timeout=timeout)
                break
            except (httpcore2.ConnectTimeout, httpcore2.PoolTimeout) as exc:
                # No connection within the connect timeout: nobody is there to answer
                # (e.g. no MCP endpoint, packets dropped), so this is an outage, not slowness.
                log.warning(
                    "task service unreachable: %s %s (%s)", method, path, type(exc).__name__
                )
                raise TaskServiceError(503, "task service unavailable") from exc
            except httpcore2.TimeoutException as exc:
                # Not retried: a timed-out call already cost the caller its patience.
                log.warning("task service timed out: %s %s (%s)", method, path, type(exc).__name__)
                raise TaskServiceError(504, "task service timed out") from exc
            except httpcore2.ConnectError as exc:  # nothing was sent
                delay = _refused_delay(refused)
                if loop.time() + delay < connect_deadline:
                    refused += 1
                    await asyncio.sleep(delay)
                    continue
                log.warning(
                    "task service unreachable: %s %s (%r, %d connects refused)",
                    method,
                    path,
                    exc,
                    refused + 1,
                )
                raise TaskServiceError(503, "task service unavailable") from exc
            except _TRANSPORT_ERRORS as exc:  # the request may have reached the server
                if repeatable and dropped < len(_RETRY_DELAYS):
                    await asyncio.sleep(_RETRY_DELAYS[dropped])
                    dropped += 1
                    connect_deadline = loop.time() + self._timeout["connect"]
                    continue
                log.warning("task service unreachable: %s %s (%r)", method, path, exc)
                raise TaskServiceError(503, "task service unavailable") from exc
        return _check(response)

    async def ready(self) -> bool:
        try:
            response = await self._send("GET", "/ready", [], timeout=_READY_TIMEOUT)
        except (httpcore2.TimeoutException, *_TRANSPORT_ERRORS):
            return False
        return response.status == 200


def _refused_delay(retry: int) -> float:
    """How long to wait before the `retry`-th retry (from 0) of a refused connect."""
    return _REFUSED_DELAYS[retry] if retry < len(_REFUSED_DELAYS) else _REFUSED_DELAY_MAX


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _headers(response: httpcore2.Response) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers
    }


def _check(response: httpcore2.Response) -> TaskServiceReply:
    status = response.status
    if status < 300:
        return TaskServiceReply(status, _headers(response), response.content)
    if status == 401:
        # Our own service credential was refused: a deployment error, not the user's.
        # (403 is about the user, e.g. one that no longer exists: passed on below.)
        log.error("task service refused the service token (%s)", status)
        raise TaskServiceError(502, "task service refused the backend's credentials")
    if status == 503:
        raise TaskServiceError(503, "task service unavailable")
    if status >= 500:
        raise TaskServiceError(502, f"task service failed ({status})")
    if status >= 400:
        # Only a client error's body is passed on, so only it must be JSON.
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise TaskServiceError(502, "task service sent an invalid response") from exc
        raise TaskServiceResponse(status, body, _headers(response))
    raise TaskServiceError(502, f"task service answered {status}")
