"""The front end on loopback, in front of the suite's real backend, MCP server and PostgreSQL.

`Visitor` is a person with a browser reduced to HTTP: it keeps the session cookie,
reads the CSRF token and the add form's Idempotency-Key from the page it was given,
and posts forms as a browser does (urlencoded, no redirects followed unless asked).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from harness.local import Server

from tests.conftest import JWT_SECRET, base_env

SESSION_SECRET = "test-session-secret-" + "z" * 32
PASSWORD = "correct horse battery"  # noqa: S105 - test credential
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def frontend_env(backend_url: str, **overrides: str) -> dict[str, str]:
    env = base_env(
        "postgresql://unused@127.0.0.1:1/none",
        BACKEND_URL=backend_url,
        SESSION_SECRET=SESSION_SECRET,
        **overrides,
    )
    for name in ("DATABASE_URL", "JWT_SECRET", "MCP_SERVICE_TOKEN"):
        env.pop(name)  # the front end holds no database or service credential
    return env


@pytest.fixture(scope="session")
def frontend(launch: Callable[..., Server], backend: Server) -> Server:
    return launch("app.frontend.main:app", frontend_env(backend.url))


@pytest.fixture(scope="session")
def backend_without_tasks(launch: Callable[..., Server], database_url: str) -> Server:
    """A backend whose task service is down (nothing listens at its MCP_SERVER_URL)."""
    env = base_env(
        database_url, MCP_SERVER_URL="http://127.0.0.1:9", MCP_CONNECT_TIMEOUT_SECONDS="1"
    )
    return launch("app.main:app", env)


@pytest.fixture(scope="session")
def frontend_without_tasks(launch: Callable[..., Server], backend_without_tasks: Server) -> Server:
    return launch("app.frontend.main:app", frontend_env(backend_without_tasks.url))


@dataclass
class Visitor:
    http: httpx.Client
    username: str = ""

    def page(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def hidden(self, html: str, name: str) -> str:
        values = [value for field, value in _HIDDEN.findall(html) if field == name]
        assert values, f"no hidden {name} on the page"
        return values[0]

    def submit(self, form_page: str, action: str, **fields: str) -> httpx.Response:
        """Open `form_page`, then post `action` with its CSRF token and `fields`."""
        html = self.page(form_page).text
        return self.http.post(
            action, data={"csrf_token": self.hidden(html, "csrf_token"), **fields}
        )

    def sign_up(self) -> httpx.Response:
        self.username = f"web_{uuid.uuid4().hex[:10]}"
        return self.submit(
            "/signup", "/signup", username=self.username, password=PASSWORD, confirm=PASSWORD
        )

    def add(self, title: str, description: str = "") -> httpx.Response:
        html = self.page("/tasks").text
        return self.http.post(
            "/tasks",
            data={
                "csrf_token": self.hidden(html, "csrf_token"),
                "idempotency_key": self.hidden(html, "idempotency_key"),
                "title": title,
                "description": description,
            },
        )


@pytest.fixture
def make_visitor(frontend: Server) -> Iterator[Callable[..., Visitor]]:
    clients: list[httpx.Client] = []

    def make(server: Server = frontend) -> Visitor:
        client = httpx.Client(base_url=server.url, timeout=20, follow_redirects=False)
        clients.append(client)
        return Visitor(client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def visitor(make_visitor: Callable[..., Visitor]) -> Visitor:
    return make_visitor()


@pytest.fixture
def member(visitor: Visitor) -> Visitor:
    """A visitor who has signed up (and is so signed in)."""
    assert visitor.sign_up().status_code == 303
    return visitor


def backend_token(api: httpx.Client, username: str) -> str:
    answer = api.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def stored_tasks(api: httpx.Client, username: str) -> list[dict]:
    """The user's tasks as stored, read through the backend (and so the MCP server)."""
    token = backend_token(api, username)
    answer = api.get(
        "/api/v1/tasks", params={"limit": 100}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


__all__ = ["JWT_SECRET", "SESSION_SECRET", "Visitor", "backend_token", "stored_tasks"]
