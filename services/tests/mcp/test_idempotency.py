"""Idempotency keys at the MCP server, which owns them: kept in PostgreSQL across restarts,
written in the task's own transaction (a crash leaves neither), and the add_task tool's
optional key means what the REST header means."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from harness.local import Server, stop
from mcp.client.session import ClientSession

from app.services.idempotency import lock_id
from tests.conftest import SERVICE_TOKEN, User, base_env
from tests.mcp.test_tools import call, with_session


def service(user: User, key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {SERVICE_TOKEN}",
        "X-User-ID": str(user.id),
        "Idempotency-Key": key,
    }


def stored(database_url: str, user: User) -> tuple[list[str], list[str]]:
    """(task titles, idempotency keys) of `user`, as committed."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tasks = conn.execute("SELECT title FROM tasks WHERE owner_id = %s", (user.id,)).fetchall()
        keys = conn.execute(
            "SELECT key FROM idempotency_keys WHERE owner_id = %s", (user.id,)
        ).fetchall()
    return [row[0] for row in tasks], [row[0] for row in keys]


def test_keys_survive_a_restart(
    launch: Callable[..., Server], database_url: str, user: User
) -> None:
    key = str(uuid.uuid4())
    first_server = launch("app.mcp_server:app", base_env(database_url))
    first = httpx.post(
        f"{first_server.url}/tasks", json={"title": "kept"}, headers=service(user, key)
    )
    assert first.status_code == 201
    stop(first_server)
    second_server = launch("app.mcp_server:app", base_env(database_url))
    again = httpx.post(
        f"{second_server.url}/tasks", json={"title": "kept"}, headers=service(user, key)
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_a_crash_between_task_and_key_leaves_neither(
    launch: Callable[..., Server], database_url: str, mcp_server: Server, user: User
) -> None:
    """The server is killed after inserting the task, while its key's record waits for a
    lock: the transaction dies with it, and a retry creates the task exactly once."""
    key = str(uuid.uuid4())
    doomed = launch("app.mcp_server:app", base_env(database_url))
    url = f"{doomed.url}/tasks"
    with psycopg.connect(database_url) as blocker, psycopg.connect(database_url) as watcher:
        blocker.execute("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE")  # writes wait
        request = threading.Thread(target=_post_expecting_a_crash, args=(url, service(user, key)))
        request.start()
        _wait_for_waiting_insert(watcher)
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        request.join()
        blocker.rollback()
    assert stored(database_url, user) == ([], [])  # the insert died with the process
    retry = httpx.post(f"{mcp_server.url}/tasks", json={"title": "x"}, headers=service(user, key))
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert stored(database_url, user) == (["x"], [key])


def _wait_for_waiting_insert(watcher: psycopg.Connection) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'INSERT INTO idempotency_keys%%'"
        ).fetchone()
        watcher.rollback()
        if waiting and waiting[0]:
            return
        time.sleep(0.05)
    pytest.fail("the create never reached the key's insert")


def _post_expecting_a_crash(url: str, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.TransportError):  # the server is killed mid-request
        httpx.post(url, json={"title": "x"}, headers=headers, timeout=30)


def test_add_task_key_means_what_the_header_means(
    mcp_server: Server, user: User, database_url: str
) -> None:
    key = str(uuid.uuid4())

    async def work(session: ClientSession) -> list[tuple[bool, Any]]:
        return [
            await call(session, "add_task", title="tool", idempotency_key=key),
            await call(session, "add_task", title="tool", idempotency_key=key),
            await call(session, "add_task", title="other", idempotency_key=key),
            await call(session, "add_task", title="tool", idempotency_key="not a key"),
        ]

    first, again, reused, malformed = with_session(mcp_server, user.token, work)
    assert first[0] is False and again == first
    assert reused[0] is True
    assert reused[1].endswith(
        "this idempotency key was already used with another request; use a new key"
    )
    assert malformed[0] is True and "idempotency_key" in malformed[1]
    # One key space per user: the REST header with the same key replays the tool's task.
    rest = httpx.post(f"{mcp_server.url}/tasks", json={"title": "tool"}, headers=service(user, key))
    assert rest.headers["Idempotent-Replayed"] == "true"
    assert rest.json() == first[1]
    assert stored(database_url, user) == (["tool"], [key])


def test_add_task_key_in_flight_is_a_tool_error(
    mcp_server: Server, user: User, database_url: str
) -> None:
    key = str(uuid.uuid4())

    async def work(session: ClientSession) -> tuple[bool, Any]:
        return await call(session, "add_task", title="t", idempotency_key=key)

    with psycopg.connect(database_url, autocommit=True) as other_request:
        other_request.execute("SELECT pg_advisory_lock(%s, %s)", lock_id(user.id, key))
        busy = with_session(mcp_server, user.token, work)
    assert busy[0] is True
    assert busy[1].endswith("a request with this idempotency key is still in progress; retry later")
    assert with_session(mcp_server, user.token, work)[0] is False


def test_an_unknown_user_is_refused_with_a_key_too(mcp_server: Server) -> None:
    ghost = 2**31 - 1
    headers = {
        "Authorization": f"Bearer {SERVICE_TOKEN}",
        "X-User-ID": str(ghost),
        "Idempotency-Key": "k",
    }
    response = httpx.post(f"{mcp_server.url}/tasks", json={"title": "t"}, headers=headers)
    assert response.status_code == 403
    assert response.json() == {"detail": f"user {ghost} does not exist"}
