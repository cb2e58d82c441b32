"""Task CRUD through the backend, which forwards every call to the MCP server over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import User


def create(api: httpx.Client, user: User, **body: object) -> dict:
    response = api.post("/api/v1/tasks", json=body, headers=user.auth)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_and_get(api: httpx.Client, user: User) -> None:
    task = create(api, user, title="buy milk", description="2 litres")
    assert task["title"] == "buy milk"
    assert task["description"] == "2 litres"
    assert task["completed"] is False
    assert set(task) == {"id", "title", "description", "completed", "created_at", "updated_at"}
    fetched = api.get(f"/api/v1/tasks/{task['id']}", headers=user.auth)
    assert fetched.status_code == 200
    assert fetched.json() == task


def test_description_is_optional(api: httpx.Client, user: User) -> None:
    assert create(api, user, title="no description")["description"] is None


def test_list_filters_and_pages(api: httpx.Client, user: User) -> None:
    ids = [create(api, user, title=f"task {n}")["id"] for n in range(5)]
    api.post(f"/api/v1/tasks/{ids[0]}/complete", headers=user.auth).raise_for_status()
    api.post(f"/api/v1/tasks/{ids[3]}/complete", headers=user.auth).raise_for_status()

    everything = api.get("/api/v1/tasks", headers=user.auth).json()
    assert [t["id"] for t in everything["items"]] == ids
    assert (everything["total"], everything["limit"], everything["offset"]) == (5, 20, 0)

    done = api.get("/api/v1/tasks", params={"status": "completed"}, headers=user.auth).json()
    assert [t["id"] for t in done["items"]] == [ids[0], ids[3]]
    assert done["total"] == 2
    still_open = api.get("/api/v1/tasks", params={"status": "open"}, headers=user.auth).json()
    assert [t["id"] for t in still_open["items"]] == [ids[1], ids[2], ids[4]]

    page = api.get("/api/v1/tasks", params={"limit": 2, "offset": 2}, headers=user.auth).json()
    assert [t["id"] for t in page["items"]] == ids[2:4]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)


def test_update_changes_only_given_fields(api: httpx.Client, user: User) -> None:
    task = create(api, user, title="draft", description="keep me")
    response = api.patch(f"/api/v1/tasks/{task['id']}", json={"title": "final"}, headers=user.auth)
    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["description"], updated["completed"]) == (
        "final",
        "keep me",
        False,
    )
    assert updated["updated_at"] >= task["updated_at"]

    cleared = api.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"description": None, "completed": True},
        headers=user.auth,
    ).json()
    assert (cleared["description"], cleared["completed"]) == (None, True)


def test_complete(api: httpx.Client, user: User) -> None:
    task = create(api, user, title="finish me")
    response = api.post(f"/api/v1/tasks/{task['id']}/complete", headers=user.auth)
    assert response.status_code == 200
    assert response.json()["completed"] is True


def test_delete(api: httpx.Client, user: User) -> None:
    task = create(api, user, title="delete me")
    response = api.delete(f"/api/v1/tasks/{task['id']}", headers=user.auth)
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/api/v1/tasks/{task['id']}", headers=user.auth).status_code == 404
    assert api.delete(f"/api/v1/tasks/{task['id']}", headers=user.auth).status_code == 404


def test_missing_task_is_404(api: httpx.Client, user: User) -> None:
    response = api.get("/api/v1/tasks/2147483647", headers=user.auth)
    assert response.status_code == 404
    assert response.json() == {"detail": "task 2147483647 not found"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tasks/{id}", None),
        ("PATCH", "/api/v1/tasks/{id}", {"title": "stolen"}),
        ("POST", "/api/v1/tasks/{id}/complete", None),
        ("DELETE", "/api/v1/tasks/{id}", None),
    ],
)
def test_other_users_task_is_404(
    api: httpx.Client, make_user: Callable[[], User], method: str, path: str, body: object
) -> None:
    owner, intruder = make_user(), make_user()
    task = create(api, owner, title="private")
    url = path.format(id=task["id"])
    response = api.request(method, url, json=body, headers=intruder.auth)
    assert response.status_code == 404
    # ...and the owner's task is untouched.
    assert api.get(url.removesuffix("/complete"), headers=owner.auth).json() == task


def test_list_shows_only_own_tasks(api: httpx.Client, make_user: Callable[[], User]) -> None:
    alice, bob = make_user(), make_user()
    create(api, alice, title="alice's")
    create(api, bob, title="bob's")
    listed = api.get("/api/v1/tasks", headers=alice.auth).json()
    assert [t["title"] for t in listed["items"]] == ["alice's"]
    assert listed["total"] == 1


def test_user_deleted_after_login_gets_403(
    api: httpx.Client, user: User, database_url: str
) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (user.id,))
    response = api.post("/api/v1/tasks", json={"title": "orphan"}, headers=user.auth)
    assert response.status_code == 403
    assert response.json() == {"detail": f"user {user.id} does not exist"}
