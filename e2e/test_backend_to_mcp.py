"""Promise 4: a task created through the backend is stored by the MCP server.

Seen three ways: the MCP server's REST API (service token from the release's
Secret), an MCP protocol client (official SDK, the user's JWT), and the
request id the test sent, found in both services' logs.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from e2e.mcp_protocol import mcp_calls
from harness.kube import wait_for

pytestmark = pytest.mark.promise(4)


@pytest.fixture(scope="module")
def created(api, user):
    request_id = f"e2e-{uuid.uuid4()}"
    title = f"e2e task {uuid.uuid4().hex[:8]}"
    r = api.post(
        "/api/v1/tasks",
        json={"title": title, "description": "created through the backend"},
        headers={**user.headers, "X-Request-ID": request_id},
    )
    assert r.status_code == 201, r.text
    assert r.headers.get("x-request-id") == request_id
    task = r.json()
    assert task["title"] == title and task["completed"] is False
    return {"task": task, "request_id": request_id}


def test_task_visible_through_mcp_rest(release, port_forward, service_token, user, created):
    task = created["task"]
    with port_forward(f"svc/{release.fullname}-mcp-server", 8001) as url:
        headers = {"Authorization": f"Bearer {service_token}", "X-User-ID": str(user.id)}
        one = httpx.get(f"{url}/tasks/{task['id']}", headers=headers, timeout=10)
        assert one.status_code == 200, one.text
        assert one.json()["title"] == task["title"]
        listing = httpx.get(f"{url}/tasks", headers=headers, params={"limit": 100}, timeout=10)
        assert listing.status_code == 200
        assert task["id"] in [t["id"] for t in listing.json()["items"]]
        # Another user's id does not see it: ownership is enforced by the MCP server.
        other = {**headers, "X-User-ID": str(user.id + 100000)}
        assert httpx.get(f"{url}/tasks/{task['id']}", headers=other, timeout=10).status_code == 404


def test_task_visible_through_mcp_protocol(release, port_forward, api, user, created):
    task = created["task"]
    title = f"added over MCP {uuid.uuid4().hex[:8]}"
    with port_forward(f"svc/{release.fullname}-mcp-server", 8001) as url:
        out = mcp_calls(
            f"{url}/mcp",
            user.token,
            ("list_tasks", {"limit": 100}),
            ("add_task", {"title": title}),
        )
    assert {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"} <= set(
        out["tools"]
    ), out["tools"]
    listed, added = out["results"]
    assert not listed["is_error"], listed
    assert task["id"] in [t["id"] for t in listed["structured"]["items"]], listed
    assert not added["is_error"], added
    # What the agent added is the user's task through the backend too.
    r = api.get(f"/api/v1/tasks/{added['structured']['id']}", headers=user.headers)
    assert r.status_code == 200 and r.json()["title"] == title


def test_request_id_in_both_services_logs(kube, created):
    request_id = created["request_id"]

    def seen(component: str) -> bool:
        return any(
            request_id in kube.logs(p.metadata.name, container=p.spec.containers[0].name)
            for p in kube.running_pods(component)
        )

    wait_for(lambda: seen("backend"), timeout=20, what=f"{request_id} in the backend's logs")
    wait_for(lambda: seen("mcp-server"), timeout=20, what=f"{request_id} in the MCP server's logs")
