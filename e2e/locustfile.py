"""Locust load for the e2e HPA and resource promises (small on purpose).

Each simulated user registers once, then creates tasks and lists them through
the backend (backend -> MCP server -> PostgreSQL), so the load lands on the
MCP server the HPA scales. The pace is fixed per user (E2E_LOAD_RPS_PER_USER,
default 14 requests/s: about 220 in all, enough for one MCP pod to ask the HPA
for three at once, little enough that a 2-core machine keeps CPU for the cluster);
`perf/` holds the full scenarios. Run by `e2e/load.py` as its own process:
`locust -f e2e/locustfile.py --headless -H http://127.0.0.1:30080 ...`.
"""

from __future__ import annotations

import os
import uuid

from locust import FastHttpUser, constant_throughput, task
from locust.exception import StopUser

TASKS = "/api/v1/tasks"


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
