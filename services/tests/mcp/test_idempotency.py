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


def stored(database_url: str, user: User) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(task titles, idempotency keys) of `user`, as committed."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tasks = conn.execute("SELECT title FROM tasks WHERE owner_id = %s", (user.id,)).fetchall()
        keys = conn.execute(
            "SELECT key FROM idempotency_keys WHERE owner_id = %s", (user.id,)
        ).fetchall()
    return tuple(row[0] for row in tasks), tuple(row[0] for row in keys)


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


def test_a_crash_in_the_middle_of_a_keyed_create_leaves_both_task_and_key_or_neither(
    launch: Callable[..., Server], database_url: str, mcp_server: Server, user: User
) -> None:
    """The server is killed while its create waits for a lock after writing (the foreign
    key check of the rows it inserted waits for the user's row, which another transaction
    holds). Whatever PostgreSQL then does with the orphaned statement, the task and the
    key's record are kept together or dropped together, and a retry with the key ends
    with exactly one task: a fresh one, or the first one replayed."""
    key = str(uuid.uuid4())
    doomed = launch("app.mcp_server:app", base_env(database_url))
    url = f"{doomed.url}/tasks"
    with psycopg.connect(database_url) as blocker, psycopg.connect(database_url) as watcher:
        hold_users_row(blocker, user)
        request = threading.Thread(target=_post_expecting_a_crash, args=(url, service(user, key)))
        request.start()
        orphans = statements_waiting_on(blocker, watcher)
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        request.join()
        blocker.rollback()
        wait_until_sessions_end(watcher, orphans)
    after_crash = stored(database_url, user)
    assert after_crash in {((), ()), (("x",), (key,))}  # both or neither
    retry = httpx.post(f"{mcp_server.url}/tasks", json={"title": "x"}, headers=service(user, key))
    assert retry.status_code == 201
    assert ("Idempotent-Replayed" in retry.headers) == (after_crash != ((), ()))
    assert stored(database_url, user) == (("x",), (key,))


def hold_users_row(blocker: psycopg.Connection, user: User) -> None:
    """Lock the user's row until `blocker` rolls back: a statement inserting that user's
    task or key record writes its rows, then waits in the foreign key check at its end."""
    blocker.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user.id,))


def statements_waiting_on(blocker: psycopg.Connection, watcher: psycopg.Connection) -> list[int]:
    """The server processes (pids) of the statements that wait for `blocker`, once any does."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = watcher.execute(
            "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            (blocker.info.backend_pid,),
        ).fetchall()
        watcher.rollback()
        if waiting:
            return [row[0] for row in waiting]
        time.sleep(0.05)
    pytest.fail("the create never waited for the lock")


def wait_until_sessions_end(watcher: psycopg.Connection, pids: list[int]) -> None:
    """Until PostgreSQL has ended these sessions (their client is gone)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
        ).fetchone()
        watcher.rollback()
        if left == (0,):
            return
        time.sleep(0.05)
    pytest.fail(f"sessions {pids} never ended")


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
    assert stored(database_url, user) == (("tool",), (key,))


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


def test_a_keyed_create_answers_what_a_read_of_its_task_answers(
    mcp_server: Server, user: User
) -> None:
    """The stored answer is written before the task exists (app.services.idempotency): the
    same bytes as the task read back, as a creation without a key would answer."""
    key = str(uuid.uuid4())
    body = {"title": 'é "quoted" \\ \t', "description": "d"}
    created = httpx.post(f"{mcp_server.url}/tasks", json=body, headers=service(user, key))
    assert created.status_code == 201
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-ID": str(user.id)}
    read = httpx.get(f"{mcp_server.url}/tasks/{created.json()['id']}", headers=headers)
    assert read.content == created.content
