"""The MCP server's REST API for the backend: service credential plus X-User-ID."""

from __future__ import annotations

import httpx
import pytest
from harness.local import Server

from tests.conftest import SERVICE_TOKEN, User


def service_headers(user_id: int | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-User-ID": str(user_id)}


def test_crud_as_the_named_user(mcp_server: Server, user: User) -> None:
    with httpx.Client(base_url=mcp_server.url, headers=service_headers(user.id)) as client:
        created = client.post("/tasks", json={"title": "direct"})
        assert created.status_code == 201
        task_id = created.json()["id"]
        assert client.get(f"/tasks/{task_id}").json()["title"] == "direct"
        assert client.patch(f"/tasks/{task_id}", json={"title": "d2"}).json()["title"] == "d2"
        assert client.post(f"/tasks/{task_id}/complete").json()["completed"] is True
        assert client.get("/tasks", params={"status": "completed"}).json()["total"] == 1
        assert client.delete(f"/tasks/{task_id}").status_code == 204


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="}],
)
def test_service_token_required(mcp_server: Server, headers: dict[str, str]) -> None:
    response = httpx.get(f"{mcp_server.url}/tasks", headers={**headers, "X-User-ID": "1"})
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_token_checked_before_user_id(mcp_server: Server, headers: dict[str, str]) -> None:
    # Without the service token the answer is 401, whatever else is missing or malformed.
    for user_id in (None, "abc"):
        sent = headers if user_id is None else {**headers, "X-User-ID": user_id}
        response = httpx.get(f"{mcp_server.url}/tasks", headers=sent)
        assert response.status_code == 401, response.text
        assert "token" in response.json()["detail"]


def test_user_token_is_not_a_service_token(mcp_server: Server, user: User) -> None:
    response = httpx.get(f"{mcp_server.url}/tasks", headers={**user.auth, "X-User-ID": "1"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid service token"}


@pytest.mark.parametrize("user_id", [None, "0", "-1", "abc", str(2**31)])
def test_user_id_required_and_valid(mcp_server: Server, user_id: str | None) -> None:
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    if user_id is not None:
        headers["X-User-ID"] = user_id
    response = httpx.get(f"{mcp_server.url}/tasks", headers=headers)
    assert response.status_code == 422
    assert ["header", "X-User-ID"] in [e["loc"] for e in response.json()["detail"]]


def test_unknown_user_cannot_create(mcp_server: Server) -> None:
    response = httpx.post(
        f"{mcp_server.url}/tasks", json={"title": "ghost"}, headers=service_headers(2**31 - 1)
    )
    assert response.status_code == 403
    assert response.json() == {"detail": f"user {2**31 - 1} does not exist"}


def test_isolation_by_user_id(mcp_server: Server, make_user) -> None:
    alice, bob = make_user(), make_user()
    created = httpx.post(
        f"{mcp_server.url}/tasks", json={"title": "a"}, headers=service_headers(alice.id)
    ).json()
    as_bob = httpx.get(f"{mcp_server.url}/tasks/{created['id']}", headers=service_headers(bob.id))
    assert as_bob.status_code == 404


def test_health_and_ready(mcp_server: Server) -> None:
    assert httpx.get(f"{mcp_server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{mcp_server.url}/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_ready_only_once_the_schema_is_migrated(launch, make_database) -> None:
    """The MCP server does not migrate; it serves only a database the backend migrated."""
    from tests.conftest import base_env, run_migrate

    url = make_database()
    server = launch("app.mcp_server:app", base_env(url))
    before = httpx.get(f"{server.url}/ready")
    assert before.status_code == 503
    assert before.json()["checks"] == {"database": "ok", "schema": "not migrated"}
    assert run_migrate(url).returncode == 0
    after = httpx.get(f"{server.url}/ready")
    assert after.status_code == 200, after.text
