"""Locust load for the e2e HPA and resource promises (small on purpose).

Each simulated user registers once, then creates tasks and lists them through
the backend (backend -> MCP server -> PostgreSQL), so the load lands on the
MCP server the HPA scales. The pace is fixed per user (E2E_LOAD_RPS_PER_USER,
default 14 requests/s); the number of users grows from E2E_LOAD_USERS (16: about
220 requests/s, enough for one MCP pod of the kind values to ask the HPA for three
at once) by 8 every 20 s up to E2E_LOAD_MAX_USERS (64), for values whose HPA
needs more. `perf/` holds the full scenarios. Run by `e2e/load.py` as its own process:
`locust -f e2e/locustfile.py --headless -H http://127.0.0.1:30080 ...`.
"""

from __future__ import annotations

import os
import uuid

from locust import FastHttpUser, LoadTestShape, constant_throughput, task
from locust.exception import StopUser

TASKS = "/api/v1/tasks"
START_USERS = int(os.environ.get("E2E_LOAD_USERS", "16"))
MAX_USERS = int(os.environ.get("E2E_LOAD_MAX_USERS", "64"))
STEP_USERS = 8
STEP_SECONDS = 20


class Growing(LoadTestShape):
    """START_USERS, then STEP_USERS more every STEP_SECONDS up to MAX_USERS: values whose
    HPA needs more load than the start (larger CPU requests) still see it reach its
    maximum. e2e/load.py stops the run once the HPA has held its maximum."""

    def tick(self) -> tuple[int, float]:
        users = min(MAX_USERS, START_USERS + STEP_USERS * int(self.get_run_time() // STEP_SECONDS))
        return users, float(users)


class TaskWriter(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("E2E_LOAD_RPS_PER_USER", "14")))

    def on_start(self) -> None:
        username = f"load-{uuid.uuid4().hex[:12]}"
        password = uuid.uuid4().hex
        body = {"username": username, "password": password}
        if self.client.post("/api/v1/users", json=body).status_code != 201:
            raise StopUser()
        token = self.client.post("/api/v1/auth/token", json=body)
        if token.status_code != 200:
            raise StopUser()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.count = 0

    @task(3)
    def create_task(self) -> None:
        self.count += 1
        self.client.post(
            TASKS,
            json={"title": f"load task {self.count}", "description": "e2e load"},
            headers=self.headers,
            name="POST /api/v1/tasks",
        )

    @task(1)
    def list_tasks(self) -> None:
        self.client.get(f"{TASKS}?limit=20", headers=self.headers, name="GET /api/v1/tasks")
