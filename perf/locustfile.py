"""Locust scenarios for todo-app.

Users:
- `TodoUser`: a person using the backend API. Registers and signs in once,
  then creates, lists (status filters, paging), reads, completes, updates and
  deletes their own tasks with think time between actions.
- `McpAgent`: an AI agent driving the MCP server's tools over the Model
  Context Protocol (official SDK client, Streamable HTTP, the user's JWT);
  each tool call is reported to Locust as a request named `mcp:<tool>`.
- `FrontendUser`: a person using the web front end (PERF_FRONTEND_URL): pages
  and plain form posts as a browser sends them, CSRF token and Idempotency-Key
  read from the page, each POST's 303 followed by the GET a browser makes;
  requests named `page:<method> <path>`.
- `HealthUser` / `CreateOnlyUser`: no think time, one operation each; used by
  the ceiling measurement (no-op endpoint vs create-task, same path).

Which classes run: PERF_USERS_CLASSES (comma-separated, default
"TodoUser,McpAgent", plus "FrontendUser" when PERF_FRONTEND_URL is set).
Shape: PERF_SHAPE (see perf/shapes.py). The agent needs PERF_MCP_URL (e.g.
http://127.0.0.1:18001/mcp through a port-forward).
Every request is also written to PERF_SAMPLES_FILE (CSV) for the summary.

Run by hand: `locust -f perf/locustfile.py --headless -H http://127.0.0.1:30080`.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
import uuid
from pathlib import Path

from locust import HttpUser, User, between, constant, events, task
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf import samples, shapes  # noqa: E402
from perf.mcp_bridge import AgentSession  # noqa: E402

# Load generation, not cryptography: a plain PRNG picks titles and tasks.
_rng = random.Random()  # noqa: S311
API = "/api/v1"
TASKS = f"{API}/tasks"
PASSWORD_BYTES = 12


def _think() -> tuple[float, float]:
    raw = os.environ.get("PERF_THINK", "0.5,2.0")
    low, high = (float(part) for part in raw.split(","))
    return low, high


def _title() -> str:
    verbs = ["buy", "call", "write", "review", "fix", "plan", "book", "clean"]
    nouns = ["milk", "report", "dentist", "invoice", "garden", "tickets", "slides", "car"]
    return f"{_rng.choice(verbs)} {_rng.choice(nouns)} #{_rng.randint(1, 99999)}"


def _register(client, prefix: str) -> tuple[str, str]:
    """Create an account and return (username, bearer token); StopUser on failure."""
    username = f"{prefix}-{uuid.uuid4().hex[:16]}"
    password = uuid.uuid4().hex[:PASSWORD_BYTES] + "Aa1!"
    body = {"username": username, "password": password}
    with client.post(
        f"{API}/users", json=body, name="POST /api/v1/users", catch_response=True
    ) as r:
        if r.status_code != 201:
            r.failure(f"register: HTTP {r.status_code}: {r.text[:200]}")
            raise StopUser()
    with client.post(
        f"{API}/auth/token", json=body, name="POST /api/v1/auth/token", catch_response=True
    ) as r:
        if r.status_code != 200 or "access_token" not in (r.json() if r.text else {}):
            r.failure(f"sign in: HTTP {r.status_code}: {r.text[:200]}")
            raise StopUser()
        return username, r.json()["access_token"]


def _is_task(body: object) -> bool:
    return isinstance(body, dict) and isinstance(body.get("id"), int) and "completed" in body


class TodoUser(HttpUser):
    """A person managing their todo list through the backend."""

    weight = 10
    wait_time = between(*_think())
    max_tasks = 40

    def on_start(self) -> None:
        self.username, token = _register(self.client, "perf")
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.open_ids: list[int] = []
        self.done_ids: list[int] = []

    # -- helpers -------------------------------------------------------------
    def _any_id(self) -> int | None:
        ids = self.open_ids + self.done_ids
        return _rng.choice(ids) if ids else None

    def _forget(self, task_id: int) -> None:
        for ids in (self.open_ids, self.done_ids):
            if task_id in ids:
                ids.remove(task_id)

    def _expect_task(self, r, status: int, what: str) -> dict | None:
        if r.status_code != status:
            r.failure(f"{what}: HTTP {r.status_code}: {r.text[:200]}")
            return None
        body = r.json()
        if not _is_task(body):
            r.failure(f"{what}: not a task: {r.text[:200]}")
            return None
        return body

    # -- tasks ---------------------------------------------------------------
    @task(5)
    def create(self) -> None:
        if len(self.open_ids) + len(self.done_ids) >= self.max_tasks:
            self.delete()
            return
        body = {"title": _title()}
        if _rng.random() < 0.5:
            body["description"] = "created by the perf scenario " + uuid.uuid4().hex[:8]
        with self.client.post(
            TASKS, json=body, name="POST /api/v1/tasks", catch_response=True
        ) as r:
            created = self._expect_task(r, 201, "create")
            if created:
                self.open_ids.append(created["id"])

    @task(3)
    def list_open(self) -> None:
        self._list("open")

    @task(1)
    def list_completed(self) -> None:
        self._list("completed")

    @task(2)
    def list_page(self) -> None:
        offset = _rng.choice([0, 0, 10, 20])
        self._list(None, limit=10, offset=offset)

    def _list(self, status: str | None, limit: int = 20, offset: int = 0) -> None:
        params: dict[str, object] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        name = f"GET /api/v1/tasks?status={status or 'all'}"
        with self.client.get(TASKS, params=params, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"list: HTTP {r.status_code}: {r.text[:200]}")
                return
            page = r.json()
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list) or page.get("limit") != limit:
                r.failure(f"list: unexpected page: {r.text[:200]}")
                return
            if status and any(i["completed"] != (status == "completed") for i in items):
                r.failure(f"list: status filter {status} returned other tasks")

    @task(2)
    def read(self) -> None:
        task_id = self._any_id()
        if task_id is None:
            return self.create()
        with self.client.get(
            f"{TASKS}/{task_id}", name="GET /api/v1/tasks/[id]", catch_response=True
        ) as r:
            self._expect_task(r, 200, "read")

    @task(2)
    def complete(self) -> None:
        if not self.open_ids:
            return self.create()
        task_id = _rng.choice(self.open_ids)
        with self.client.post(
            f"{TASKS}/{task_id}/complete",
            name="POST /api/v1/tasks/[id]/complete",
            catch_response=True,
        ) as r:
            done = self._expect_task(r, 200, "complete")
            if done:
                if not done["completed"]:
                    r.failure("complete: task is not completed")
                self._forget(task_id)
                self.done_ids.append(task_id)

    @task(2)
    def update(self) -> None:
        task_id = self._any_id()
        if task_id is None:
            return self.create()
        body = {"title": _title(), "description": f"edited at {time.time():.0f}"}
        with self.client.patch(
            f"{TASKS}/{task_id}", json=body, name="PATCH /api/v1/tasks/[id]", catch_response=True
        ) as r:
            updated = self._expect_task(r, 200, "update")
            if updated and updated["title"] != body["title"]:
                r.failure("update: title did not change")

    @task(1)
    def delete(self) -> None:
        pool = self.done_ids or self.open_ids
        if not pool:
            return self.create()
        task_id = pool[0]
        with self.client.delete(
            f"{TASKS}/{task_id}", name="DELETE /api/v1/tasks/[id]", catch_response=True
        ) as r:
            if r.status_code != 204:
                r.failure(f"delete: HTTP {r.status_code}: {r.text[:200]}")
                return
            self._forget(task_id)


class McpAgent(User):
    """An AI agent working on its user's tasks through the MCP server's tools."""

    fixed_count = int(os.environ.get("PERF_AGENTS", "1"))
    wait_time = between(*_think())

    def on_start(self) -> None:
        url = os.environ.get("PERF_MCP_URL")
        if not url:
            raise RuntimeError("McpAgent needs PERF_MCP_URL (the MCP server's /mcp URL)")
        from locust.clients import HttpSession

        backend = HttpSession(
            base_url=self.host, request_event=self.environment.events.request, user=self
        )
        _, token = _register(backend, "agent")
        self.session = AgentSession(
            url, token, host_header=os.environ.get("PERF_MCP_HOST_HEADER") or None
        )
        self._timed("mcp:connect", self.session.open)
        self.task_ids: list[int] = []

    def on_stop(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()

    def _timed(self, name: str, call, *args):
        """Run `call` and report it to Locust as one request named `name`."""
        start = time.perf_counter()
        wall = time.time()
        error: Exception | None = None
        result = None
        try:
            result = call(*args)
        except Exception as exc:  # reported as a failed request, the user goes on
            error = exc
        events.request.fire(
            request_type="MCP",
            name=name,
            response_time=(time.perf_counter() - start) * 1000.0,
            response_length=len(str(result)) if result is not None else 0,
            exception=error,
            context={},
            start_time=wall,
            url=os.environ.get("PERF_MCP_URL"),
            response=None,
        )
        return None if error is not None else result

    def _tool(self, tool: str, **arguments):
        # A session that failed to connect or dropped is opened again (each try reported as
        # mcp:connect): in a cluster, a new pod may be let through a NetworkPolicy seconds
        # after it starts.
        if not self.session.is_open:
            self.session.close()
            self._timed("mcp:connect", self.session.open)
            if not self.session.is_open:
                return None
        return self._timed(f"mcp:{tool}", self.session.call, tool, arguments)

    @task(3)
    def add_task(self) -> None:
        task = self._tool("add_task", title=_title(), description="added by an agent")
        if _is_task(task):
            self.task_ids.append(task["id"])

    @task(3)
    def list_tasks(self) -> None:
        status = _rng.choice([None, "open", "completed"])
        self._tool("list_tasks", **({"status": status} if status else {}), limit=20)

    @task(1)
    def complete_task(self) -> None:
        if self.task_ids:
            self._tool("complete_task", task_id=_rng.choice(self.task_ids))

    @task(1)
    def update_task(self) -> None:
        if self.task_ids:
            self._tool("update_task", task_id=_rng.choice(self.task_ids), title=_title())

    @task(1)
    def delete_task(self) -> None:
        if len(self.task_ids) > 5:
            self._tool("delete_task", task_id=self.task_ids.pop(0))


_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
_TASK_ID = re.compile(r'action="/tasks/(\d+)/complete"')
_ANY_TASK = re.compile(r'data-task-id="(\d+)"')


class FrontendUser(HttpUser):
    """A person using the web front end: every action a form post and the page after it."""

    weight = 4
    wait_time = between(*_think())
    max_tasks = 30

    def on_start(self) -> None:
        from locust.clients import HttpSession

        url = os.environ.get("PERF_FRONTEND_URL")
        if not url:
            raise RuntimeError("FrontendUser needs PERF_FRONTEND_URL (the front end's URL)")
        self.client = HttpSession(
            base_url=url, request_event=self.environment.events.request, user=self
        )
        self.html = self._page("/signup", "page:GET /signup")
        password = uuid.uuid4().hex[:PASSWORD_BYTES] + "Aa1!"
        form = {
            "username": f"web-{uuid.uuid4().hex[:16]}",
            "password": password,
            "confirm": password,
        }
        if not self._post("/signup", form, "page:POST /signup"):
            raise StopUser()
        self.tasks_seen = 0

    # -- helpers -------------------------------------------------------------
    def _page(self, path: str, name: str) -> str:
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as r:
            if r.status_code != 200 or 'class="banner"' in r.text:
                r.failure(f"{name}: HTTP {r.status_code}: {r.text[:200]}")
                return ""
            return r.text

    def _post(self, path: str, form: dict[str, str], name: str) -> bool:
        """Post a form of the current page; follow its 303 as a browser does."""
        fields = dict(_HIDDEN.findall(self.html))
        data = {"csrf_token": fields.get("csrf_token", ""), **form}
        with self.client.post(
            path, data=data, name=name, catch_response=True, allow_redirects=False
        ) as r:
            if r.status_code != 303:
                r.failure(f"{name}: HTTP {r.status_code}: {r.text[:200]}")
                return False
            location = r.headers.get("location", "/tasks")
        self.html = self._page(location, f"page:GET {location.split('?')[0]}")
        self.tasks_seen = len(_ANY_TASK.findall(self.html))
        return bool(self.html)

    # -- pages ---------------------------------------------------------------
    @task(4)
    def list_tasks(self) -> None:
        # The second page when there is one (a person follows the "Next" link).
        page = 2 if 'rel="next"' in self.html and _rng.random() < 0.25 else 1
        html = self._page(f"/tasks?page={page}", "page:GET /tasks")
        if html:
            self.html = html
            self.tasks_seen = len(_ANY_TASK.findall(html))

    @task(3)
    def add(self) -> None:
        if self.tasks_seen >= self.max_tasks:
            return self.delete()
        key = dict(_HIDDEN.findall(self.html)).get("idempotency_key")
        if key is None:  # not on the list page: open it first
            return self.list_tasks()
        self._post(
            "/tasks",
            {"title": _title(), "description": "", "idempotency_key": key},
            "page:POST /tasks",
        )

    @task(2)
    def complete(self) -> None:
        open_ids = _TASK_ID.findall(self.html)
        if not open_ids:
            return self.add()
        task_id = _rng.choice(open_ids)
        self._post(
            f"/tasks/{task_id}/complete", {"title": "a task"}, "page:POST /tasks/[id]/complete"
        )

    @task(1)
    def edit(self) -> None:
        ids = _ANY_TASK.findall(self.html)
        if not ids:
            return self.add()
        task_id = _rng.choice(ids)
        html = self._page(f"/tasks/{task_id}/edit", "page:GET /tasks/[id]/edit")
        if not html:
            return
        self.html = html
        self._post(
            f"/tasks/{task_id}/edit",
            {"title": _title(), "description": "edited"},
            "page:POST /tasks/[id]/edit",
        )

    @task(1)
    def delete(self) -> None:
        ids = _ANY_TASK.findall(self.html)
        if not ids:
            return self.add()
        self._post(f"/tasks/{ids[-1]}/delete", {"title": "a task"}, "page:POST /tasks/[id]/delete")


class HealthUser(HttpUser):
    """No-op endpoint, no think time: what the network path into the cluster allows."""

    wait_time = constant(0)

    @task
    def health(self) -> None:
        with self.client.get("/health", name="GET /health", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"health: HTTP {r.status_code}")


class CreateOnlyUser(HttpUser):
    """Create-task only, no think time: the service's write throughput."""

    wait_time = constant(0)

    def on_start(self) -> None:
        _, token = _register(self.client, "perf-create")
        self.client.headers["Authorization"] = f"Bearer {token}"

    @task
    def create(self) -> None:
        with self.client.post(
            TASKS, json={"title": _title()}, name="POST /api/v1/tasks", catch_response=True
        ) as r:
            if r.status_code != 201:
                r.failure(f"create: HTTP {r.status_code}: {r.text[:200]}")


# Only the selected user classes are runnable (Locust ignores abstract ones).
_DEFAULT_CLASSES = "TodoUser,McpAgent" + (
    ",FrontendUser" if os.environ.get("PERF_FRONTEND_URL") else ""
)
_SELECTED = {
    name.strip()
    for name in os.environ.get("PERF_USERS_CLASSES", _DEFAULT_CLASSES).split(",")
    if name.strip()
}
_ALL = {cls.__name__: cls for cls in (TodoUser, McpAgent, FrontendUser, HealthUser, CreateOnlyUser)}
_UNKNOWN = _SELECTED - set(_ALL)
if _UNKNOWN:
    raise SystemExit(f"PERF_USERS_CLASSES names unknown classes: {', '.join(sorted(_UNKNOWN))}")
for _name, _cls in _ALL.items():
    _cls.abstract = _name not in _SELECTED
del _name, _cls  # Locust would count a class bound to a second module name twice

PROFILE = shapes.from_env()
LoadShape = shapes.locust_shape(PROFILE)

samples.install(events, os.environ.get("PERF_SAMPLES_FILE"))
