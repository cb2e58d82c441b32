"""Idempotency-Key on task creation, through the backend (which forwards the key to the
MCP server, where key and task are stored in one transaction)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest
from harness.local import Server

from app.services.idempotency import PURGE_EVERY, lock_id
from tests.conftest import User, base_env
from tests.mcp.test_idempotency import hold_users_row


def create(api: httpx.Client, user: User, key: str | None, **body: object) -> httpx.Response:
    headers = {**user.auth, **({"Idempotency-Key": key} if key is not None else {})}
    return api.post("/api/v1/tasks", json=body, headers=headers)


def titles(api: httpx.Client, user: User) -> list[str]:
    page = api.get("/api/v1/tasks", params={"limit": 100}, headers=user.auth).json()
    return [task["title"] for task in page["items"]]


def new_key() -> str:
    return str(uuid.uuid4())


def test_same_key_and_body_create_one_task_and_replay_the_first_answer(
    api: httpx.Client, user: User
) -> None:
    key = new_key()
    first = create(api, user, f'"{key}"', title="once")  # the draft's quoted form
    again = create(api, user, key, title="once", description=None)  # bare: the same key
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert titles(api, user) == ["once"]


def test_same_key_with_another_body_is_refused(api: httpx.Client, user: User) -> None:
    key = new_key()
    assert create(api, user, key, title="first").status_code == 201
    reused = create(api, user, key, title="second")
    assert reused.status_code == 422
    assert reused.json()["detail"] == [
        {
            "loc": ["header", "Idempotency-Key"],
            "msg": "this idempotency key was already used with another request; use a new key",
            "type": "idempotency_key_reused",
        }
    ]
    assert titles(api, user) == ["first"]


def test_keys_belong_to_a_user(api: httpx.Client, make_user: Callable[[], User]) -> None:
    alice, bob = make_user(), make_user()
    key = new_key()
    mine = create(api, alice, key, title="same").json()
    theirs = create(api, bob, key, title="same")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]
    assert titles(api, alice) == titles(api, bob) == ["same"]


def test_without_a_key_every_post_creates(api: httpx.Client, user: User) -> None:
    assert create(api, user, None, title="twice").status_code == 201
    assert create(api, user, None, title="twice").status_code == 201
    assert titles(api, user) == ["twice", "twice"]


@pytest.mark.parametrize(
    "key",
    ["", '""', '"', "with space", '"a"b"', "x" * 256, '"' + "x" * 256 + '"', "ключ", "a,b"],
)
def test_malformed_keys_are_refused(api: httpx.Client, user: User, key: str) -> None:
    response = api.post(
        "/api/v1/tasks",
        json={"title": "t"},
        headers={**user.auth, "Idempotency-Key": key.encode()},  # UTF-8 bytes as sent
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert titles(api, user) == []


def test_a_key_sent_twice_is_refused(api: httpx.Client, user: User) -> None:
    headers = [*user.auth.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "a")]
    response = api.post("/api/v1/tasks", json={"title": "t"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "must be sent once"


def test_a_key_in_flight_is_409_then_usable(
    api: httpx.Client, user: User, database_url: str
) -> None:
    key = new_key()
    with psycopg.connect(database_url, autocommit=True) as other_request:
        other_request.execute("SELECT pg_advisory_lock(%s, %s)", lock_id(user.id, key))
        busy = create(api, user, key, title="t")
    assert busy.status_code == 409
    assert busy.headers["Retry-After"] == "1"
    assert busy.json() == {
        "detail": "a request with this idempotency key is still in progress; retry later"
    }
    created = create(api, user, key, title="t")
    assert created.status_code == 201
    assert "Idempotent-Replayed" not in created.headers


def test_concurrent_identical_requests_create_one_task(
    backend: Server, user: User, api: httpx.Client
) -> None:
    key = new_key()
    start = threading.Barrier(8)
    answers: list[httpx.Response] = []

    def post() -> None:
        start.wait()
        headers = {**user.auth, "Idempotency-Key": key}
        answers.append(
            httpx.post(f"{backend.url}/api/v1/tasks", json={"title": "c"}, headers=headers)
        )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {answer.status_code for answer in answers} <= {201, 409}
    assert len({answer.json()["id"] for answer in answers if answer.status_code == 201}) == 1
    assert titles(api, user) == ["c"]


def test_key_expires_after_24_hours_by_default_and_is_then_forgotten(
    api: httpx.Client, user: User, database_url: str
) -> None:
    key = new_key()
    assert create(api, user, key, title="old").status_code == 201
    with psycopg.connect(database_url, autocommit=True) as conn:
        kept = conn.execute(
            "SELECT expires_at - created_at FROM idempotency_keys WHERE owner_id = %s AND key = %s",
            (user.id, key),
        ).fetchone()
        assert kept is not None and kept[0].total_seconds() == 24 * 3600
        conn.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
            " WHERE owner_id = %s AND key = %s",
            (user.id, key),
        )
    reused = create(api, user, key, title="new")  # no 422: the old use has expired
    assert reused.status_code == 201
    assert "Idempotent-Replayed" not in reused.headers
    assert create(api, user, key, title="new").headers["Idempotent-Replayed"] == "true"
    assert titles(api, user) == ["old", "new"]


def test_expired_keys_are_purged_by_later_keyed_creations(
    api: httpx.Client, user: User, database_url: str
) -> None:
    for n in range(3):
        assert create(api, user, f"expiring-{n}", title=f"t{n}").status_code == 201
    query = "SELECT count(*) FROM idempotency_keys WHERE owner_id = %s AND key LIKE 'expiring-%%'"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
            " WHERE owner_id = %s",
            (user.id,),
        )
        assert conn.execute(query, (user.id,)).fetchone() == (3,)
        for n in range(PURGE_EVERY):  # one of any PURGE_EVERY keyed creations purges
            assert create(api, user, new_key(), title=f"later {n}").status_code == 201
        assert conn.execute(query, (user.id,)).fetchone() == (0,)


@pytest.fixture(scope="module")
def impatient_backend(
    launch: Callable[..., Server], database_url: str, mcp_server: Server
) -> Server:
    env = base_env(database_url, MCP_SERVER_URL=mcp_server.url, MCP_TIMEOUT_SECONDS="1")
    return launch("app.main:app", env)


def test_a_create_that_timed_out_retried_with_its_key_leaves_one_task(
    impatient_backend: Server, user: User, api: httpx.Client, database_url: str
) -> None:
    """The MCP server stalls in the middle of the create (its foreign key check waits for
    the user's row, which another transaction holds): the backend answers 504 while the
    create is still under way. Retries with the same key get 409 while it is, and the
    first answer once it committed: one task, however often the client retried."""
    key = new_key()
    headers = {**user.auth, "Idempotency-Key": key}
    url = f"{impatient_backend.url}/api/v1/tasks"
    with psycopg.connect(database_url) as stall:
        hold_users_row(stall, user)
        timed_out = httpx.post(url, json={"title": "slow"}, headers=headers, timeout=10)
        assert timed_out.status_code == 504
        in_flight = httpx.post(url, json={"title": "slow"}, headers=headers, timeout=10)
        assert in_flight.status_code == 409
        assert in_flight.headers["Retry-After"] == "1"
        stall.rollback()
    deadline = time.monotonic() + 10
    while (retry := httpx.post(url, json={"title": "slow"}, headers=headers)).status_code == 409:
        assert time.monotonic() < deadline, "the first request never finished"
        time.sleep(0.1)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert titles(api, user) == ["slow"]
    assert api.get(f"/api/v1/tasks/{retry.json()['id']}", headers=user.auth).json() == retry.json()
