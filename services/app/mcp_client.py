"""The backend's client for the MCP server's REST API.

One pooled `httpx2.AsyncHTTPTransport` per process. httpx2 is httpx's successor
(same API, same author), already required by the MCP SDK, and costs less than half
httpx's CPU per request (httpx's pool re-checks every idle connection on each
request). Requests go to the transport directly: AsyncClient's layer (base URL and
header merging, cookies, auth and redirect flows) did nothing for these calls and
was a fifth of the backend's CPU per forwarded call.

Failures become `TaskServiceError`s carrying the HTTP status the backend should
answer with (502/503/504), so a slow or absent MCP server never hangs a request
or surfaces as a 500.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import httpx2

from app.core.config import Settings
from app.logging import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger(__name__)

# Reads are retried on any transport error, and so is a call carrying an
# Idempotency-Key (a retry finds the first call's answer). Other idempotent calls only
# when the connection never opened: a DELETE that reached the server before the
# connection dropped would come back from a retry as a misleading 404.
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_IDEMPOTENT = _SAFE | {"PUT", "DELETE"}
_RETRY_DELAYS = (0.05, 0.2)  # two retries, idempotent calls only
# Every Nth call asks the MCP server to close its connection afterwards. kube-proxy
# balances connections, not requests: without this, pooled keep-alive connections stay
# on the pods that existed when they opened, and replicas the HPA adds get no traffic.
RECYCLE_EVERY = 25
# The MCP server's /ready answers in milliseconds when it is there. The backend's /ready
# reports this check but never fails on it, so a longer wait would only hold back the
# backend's own readiness answer, e.g. at install while the MCP Service has no endpoint yet.
_READY_TIMEOUT = httpx2.Timeout(0.5).as_dict()


class TaskServiceError(Exception):
    """The MCP server could not give a usable answer; `status` is what the backend returns."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class TaskServiceResponse(Exception):
    """The MCP server answered with a client error (404, 409, 422, ...) to pass on as is."""

    def __init__(self, status: int, body: Any, headers: httpx2.Headers) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers


class MCPClient:
    def __init__(self, settings: Settings, transport: httpx2.AsyncBaseTransport | None = None):
        self._calls = 0
        self._base = settings.MCP_SERVER_URL.rstrip("/")
        self._auth = f"Bearer {settings.MCP_SERVICE_TOKEN.get_secret_value()}"
        self._timeout = httpx2.Timeout(
            settings.MCP_TIMEOUT_SECONDS, connect=settings.MCP_CONNECT_TIMEOUT_SECONDS
        ).as_dict()
        # A plain-HTTP URL never uses TLS: a context without CAs skips loading the system
        # store (~1 MiB, ~20 ms at start). An https URL gets the default verification.
        plain = self._base.startswith("http://")
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if plain else True
        self._transport = transport or httpx2.AsyncHTTPTransport(
            verify=verify,
            # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes
            # them from the other end, so a call is never sent down a closing connection.
            limits=httpx2.Limits(
                max_connections=100, max_keepalive_connections=20, keepalive_expiry=3.0
            ),
            # In-cluster calls: never through an HTTP(S)_PROXY from the environment.
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: dict[str, float | None] | None = None,
    ) -> httpx2.Response:
        """One request through the pool; the response comes back read and released."""
        request = httpx2.Request(
            method,
            f"{self._base}{path}",
            params=params,
            headers={"Authorization": self._auth, **headers},
            json=json,
            extensions={"timeout": timeout or self._timeout},
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def request(
        self,
        method: str,
        path: str,
        *,
        user_id: int,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx2.Response:
        """Call the MCP server for `user_id`; return its 2xx response, else raise."""
        headers = {"X-User-ID": str(user_id)}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = f'"{idempotency_key}"'
        self._calls += 1
        if self._calls % RECYCLE_EVERY == 0:
            headers["Connection"] = "close"
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        repeatable = method in _SAFE or idempotency_key is not None
        attempts = len(_RETRY_DELAYS) + 1 if repeatable or method in _IDEMPOTENT else 1
        for attempt in range(attempts):
            try:
                response = await self._send(method, path, headers, json=json, params=params)
                break
            except (httpx2.ConnectTimeout, httpx2.PoolTimeout) as exc:
                # No connection within the connect timeout: nobody is there to answer
                # (e.g. no MCP endpoint, packets dropped), so this is an outage, not slowness.
                log.warning(
                    "task service unreachable: %s %s (%s)", method, path, type(exc).__name__
                )
                raise TaskServiceError(503, "task service unavailable") from exc
            except httpx2.TimeoutException as exc:
                # Not retried: a timed-out call already cost the caller its patience.
                log.warning("task service timed out: %s %s (%s)", method, path, type(exc).__name__)
                raise TaskServiceError(504, "task service timed out") from exc
            except httpx2.TransportError as exc:
                unsent = isinstance(exc, httpx2.ConnectError)
                if attempt + 1 < attempts and (repeatable or unsent):
                    await asyncio.sleep(_RETRY_DELAYS[attempt])
                    continue
                log.warning("task service unreachable: %s %s (%s)", method, path, exc)
                raise TaskServiceError(503, "task service unavailable") from exc
        return _check(response)

    async def ready(self) -> bool:
        try:
            response = await self._send("GET", "/ready", {}, timeout=_READY_TIMEOUT)
        except httpx2.HTTPError:
            return False
        return response.status_code == 200


def _check(response: httpx2.Response) -> httpx2.Response:
    if response.status_code < 300:
        return response
    if response.status_code == 401:
        # Our own service credential was refused: a deployment error, not the user's.
        # (403 is about the user, e.g. one that no longer exists: passed on below.)
        log.error("task service refused the service token (%s)", response.status_code)
        raise TaskServiceError(502, "task service refused the backend's credentials")
    if response.status_code == 503:
        raise TaskServiceError(503, "task service unavailable")
    if response.status_code >= 500:
        raise TaskServiceError(502, f"task service failed ({response.status_code})")
    if response.status_code >= 400:
        # Only a client error's body is passed on, so only it must be JSON.
        try:
            body = response.json()
        except ValueError as exc:
            raise TaskServiceError(502, "task service sent an invalid response") from exc
        raise TaskServiceResponse(response.status_code, body, response.headers)
    raise TaskServiceError(502, f"task service answered {response.status_code}")
