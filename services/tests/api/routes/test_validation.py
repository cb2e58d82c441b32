"""Bad input at the backend edge: 422 naming the field and the reason, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import User


def assert_422(response: httpx.Response, loc: list, reason: str) -> None:
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"] == loc and reason in e["msg"] for e in errors), errors
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)  # never echoes the input


@pytest.mark.parametrize(
    ("body", "loc", "reason"),
    [
        ({}, ["body", "title"], "Field required"),
        ({"title": ""}, ["body", "title"], "at least 1 character"),
        ({"title": "x" * 201}, ["body", "title"], "at most 200 characters"),
        ({"title": "ok", "description": "x" * 2001}, ["body", "description"], "at most 2000"),
        ({"title": "ok", "owner_id": 1}, ["body", "owner_id"], "Extra inputs are not permitted"),
        ({"title": "nul\u0000byte"}, ["body", "title"], "must not contain NUL"),
        ({"title": 5}, ["body", "title"], "valid string"),
    ],
)
def test_create_rejects(api: httpx.Client, user: User, body: dict, loc: list, reason: str) -> None:
    assert_422(api.post("/api/v1/tasks", json=body, headers=user.auth), loc, reason)


def test_lone_surrogate_is_rejected_not_500(api: httpx.Client, user: User) -> None:
    raw = b'{"title": "\\ud800"}'
    response = api.post(
        "/api/v1/tasks",
        content=raw,
        headers={**user.auth, "Content-Type": "application/json"},
    )
    assert_422(response, ["body", "title"], "valid string")


def test_malformed_json_body(api: httpx.Client, user: User) -> None:
    response = api.post(
        "/api/v1/tasks",
        content=b'{"title": ',
        headers={**user.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("body", "loc", "reason"),
    [
        ({"title": None}, ["body", "title"], "valid string"),
        ({"completed": None}, ["body", "completed"], "valid boolean"),
        ({"completed": "maybe"}, ["body", "completed"], "valid boolean"),
        ({"id": 3}, ["body", "id"], "Extra inputs are not permitted"),
    ],
)
def test_update_rejects(api: httpx.Client, user: User, body: dict, loc: list, reason: str) -> None:
    task = api.post("/api/v1/tasks", json={"title": "t"}, headers=user.auth).json()
    response = api.patch(f"/api/v1/tasks/{task['id']}", json=body, headers=user.auth)
    assert_422(response, loc, reason)


@pytest.mark.parametrize(
    ("params", "loc", "reason"),
    [
        ({"limit": 0}, ["query", "limit"], "greater than or equal to 1"),
        ({"limit": 101}, ["query", "limit"], "less than or equal to 100"),
        ({"offset": -1}, ["query", "offset"], "greater than or equal to 0"),
        ({"offset": 2**40}, ["query", "offset"], "less than or equal to"),
        ({"status": "done"}, ["query", "status"], "'open' or 'completed'"),
        ({"colour": "red"}, ["query", "colour"], "Extra inputs are not permitted"),
    ],
)
def test_list_rejects(api: httpx.Client, user: User, params: dict, loc: list, reason: str) -> None:
    assert_422(api.get("/api/v1/tasks", params=params, headers=user.auth), loc, reason)


@pytest.mark.parametrize(
    ("task_id", "reason"),
    [
        ("0", "greater than 0"),
        ("-4", "greater than 0"),
        ("abc", "valid integer"),
        (str(2**31), "less than or equal to 2147483647"),
        (str(2**70), "less than or equal"),
    ],
)
def test_bad_task_ids(api: httpx.Client, user: User, task_id: str, reason: str) -> None:
    assert_422(api.get(f"/api/v1/tasks/{task_id}", headers=user.auth), ["path", "task_id"], reason)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer " + "a" * 500],
)
def test_tasks_need_a_valid_user_token(api: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = api.get("/api/v1/tasks", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


def test_expired_token_is_refused(api: httpx.Client, user: User) -> None:
    import jwt

    from app.core.security import create_access_token
    from tests.conftest import JWT_SECRET

    expired = jwt.encode({"sub": str(user.id), "exp": 1}, JWT_SECRET, algorithm="HS256")
    response = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or expired token"}
    forged, _ = create_access_token(
        user_id=user.id, secret="another-secret-" + "z" * 32, expire_minutes=5
    )
    response = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
