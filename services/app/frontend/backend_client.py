"""The front end's one client for the backend's REST API, and what its answers mean.

Every call goes through `BackendClient._send`, which turns the answers a page must
treat specially into exceptions: 401 (the session's token is no longer accepted),
404 (the task is gone), 422 (field messages), and the outages (503 from the backend,
502/504 from the task service behind it, or the backend not reachable at all).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx2

from app.frontend.config import FrontendSettings
from app.logging import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger(__name__)

# A create with an Idempotency-Key still being processed answers 409 + Retry-After (a
# double click, a browser retry): wait for the first to finish and take its answer.
IN_FLIGHT_WAIT_SECONDS = 10.0
IN_FLIGHT_POLL_SECONDS = 0.25


class SessionExpired(Exception):
    """The backend refused the session's token (expired, or signed with an old key)."""


class TaskGone(Exception):
    """The task does not exist (any more) for this user."""


class UsernameTaken(Exception):
    pass


class WrongCredentials(Exception):
    pass


class InvalidInput(Exception):
    """422: messages per form field, and any that belong to no field; `key_refused` when the
    Idempotency-Key header was refused (e.g. already used with another request)."""

    def __init__(self, fields: dict[str, str], other: list[str], key_refused: bool = False) -> None:
        super().__init__(fields, other)
        self.fields = fields
        self.other = other
        self.key_refused = key_refused


class ServiceDown(Exception):
    """The task service or the backend cannot answer now; `status` is what the page returns."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason  # "unavailable" | "timeout" | "failed"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class BackendClient:
    def __init__(self, settings: FrontendSettings) -> None:
        timeout = httpx2.Timeout(
            settings.BACKEND_TIMEOUT_SECONDS, connect=settings.BACKEND_CONNECT_TIMEOUT_SECONDS
        )
        # retries=1: a connection that could not be opened is tried once more (nothing was
        # sent, so any call is safe to repeat).
        self.http = httpx2.AsyncClient(
            base_url=settings.BACKEND_URL,
            timeout=timeout,
            transport=httpx2.AsyncHTTPTransport(retries=1),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def ready(self) -> bool:
        try:
            answer = await self.http.get("/health", timeout=0.5)
        except httpx2.HTTPError:
            return False
        return answer.status_code == 200

    async def _send(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx2.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        try:
            answer = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx2.TimeoutException as exc:
            log.warning("backend timed out: %s %s", method, path.split("?")[0])
            raise ServiceDown(504, "timeout") from exc
        except httpx2.HTTPError as exc:
            log.warning("backend unreachable: %s", type(exc).__name__)
            raise ServiceDown(503, "unavailable") from exc
        status = answer.status_code
        if status == 401 and token is not None:
            raise SessionExpired
        if status == 404 and token is not None:
            raise TaskGone
        if status == 422:
            raise _invalid_input(answer)
        if status in (503, 502, 504):
            reason = {503: "unavailable", 502: "failed", 504: "timeout"}[status]
            raise ServiceDown(status, reason)
        if status >= 500:
            log.error("backend answered %d: %s %s", status, method, path.split("?")[0])
            raise ServiceDown(502, "failed")
        return answer

    # --- users and tokens ---------------------------------------------------------

    async def sign_up(self, username: str, password: str) -> None:
        body = {"username": username, "password": password}
        answer = await self._send("POST", "/api/v1/users", json=body)
        if answer.status_code == 409:
            raise UsernameTaken
        _expect(answer, 201)

    async def sign_in(self, username: str, password: str) -> str:
        body = {"username": username, "password": password}
        answer = await self._send("POST", "/api/v1/auth/token", json=body)
        if answer.status_code == 401:
            raise WrongCredentials
        _expect(answer, 200)
        return answer.json()["access_token"]

    # --- tasks ----------------------------------------------------------------------

    async def list_tasks(self, token: str, *, limit: int, offset: int, status: str | None) -> Page:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        answer = await self._send("GET", "/api/v1/tasks", token=token, params=params)
        _expect(answer, 200)
        page = answer.json()
        return Page(page["items"], page["total"], page["limit"], page["offset"])

    async def get_task(self, token: str, task_id: int) -> dict[str, Any]:
        answer = await self._send("GET", f"/api/v1/tasks/{task_id}", token=token)
        _expect(answer, 200)
        return answer.json()

    async def create_task(self, token: str, body: dict[str, Any], *, key: str) -> dict[str, Any]:
        """Create once per `key`: a retry or a second click with the same key gets the first
        answer, and one still in progress (409) is waited for."""
        headers = {"Idempotency-Key": key}
        waited = 0.0
        while True:
            answer = await self._send(
                "POST", "/api/v1/tasks", token=token, json=body, headers=headers
            )
            if answer.status_code != 409 or waited >= IN_FLIGHT_WAIT_SECONDS:
                break
            await asyncio.sleep(IN_FLIGHT_POLL_SECONDS)
            waited += IN_FLIGHT_POLL_SECONDS
        if answer.status_code == 409:  # still in progress after the wait
            raise ServiceDown(504, "timeout")
        _expect(answer, 201)
        return answer.json()

    async def update_task(self, token: str, task_id: int, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self._send("PATCH", f"/api/v1/tasks/{task_id}", token=token, json=body)
        _expect(answer, 200)
        return answer.json()

    async def complete_task(self, token: str, task_id: int) -> None:
        answer = await self._send("POST", f"/api/v1/tasks/{task_id}/complete", token=token)
        _expect(answer, 200)

    async def delete_task(self, token: str, task_id: int) -> None:
        answer = await self._send("DELETE", f"/api/v1/tasks/{task_id}", token=token)
        _expect(answer, 204)


def _expect(answer: httpx2.Response, status: int) -> None:
    if answer.status_code != status:
        log.error("backend answered %d where %d was expected", answer.status_code, status)
        raise ServiceDown(502, "failed")


# Pydantic's messages, worded for a person filling in a form.
_PATTERN_HINTS = {
    "username": "Use only letters, digits, '.', '_' and '-'.",
}


def _invalid_input(answer: httpx2.Response) -> InvalidInput:
    fields: dict[str, str] = {}
    other: list[str] = []
    key_refused = False
    try:
        detail = answer.json()["detail"]
    except (ValueError, KeyError, TypeError):
        detail = None
    if not isinstance(detail, list):
        return InvalidInput({}, ["The input was not accepted."])
    for error in detail:
        loc = error.get("loc") or []
        if [str(part).lower() for part in loc] == ["header", "idempotency-key"]:
            key_refused = True
            continue
        name = str(loc[-1]) if len(loc) >= 2 and loc[0] == "body" else None
        message = _sentence(name, str(error.get("msg", "")), str(error.get("type", "")))
        if name and name not in fields:
            fields[name] = message
        elif not name:
            other.append(message)
    return InvalidInput(fields, other, key_refused)


def _sentence(field: str | None, msg: str, kind: str) -> str:
    if kind == "string_pattern_mismatch" and field in _PATTERN_HINTS:
        return _PATTERN_HINTS[field]
    if kind == "missing" or (kind == "string_too_short" and "at least 1 " in msg):
        return "This field is required."
    msg = msg.removeprefix("Value error, ")
    for prefix in ("String should", "Value should", "Input should"):
        if msg.startswith(prefix):
            msg = "Must" + msg.removeprefix(prefix)
            break
    return msg[:1].upper() + msg[1:] + ("" if msg.endswith(".") else ".")
