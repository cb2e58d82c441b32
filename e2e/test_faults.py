"""Promise 8: faults lose no acknowledged write, and the backend says so clearly.

- Every MCP pod deleted while a writer keeps creating tasks: every task the
  backend acknowledged (201) exists afterwards; refusals are 502/503/504 with
  a JSON `detail`, never a 500 or a dropped connection.
- MCP scaled to zero: the backend answers 503 with a detail (not a dropped
  connection) and recovers by itself when the MCP server is back.
- PostgreSQL's pod deleted: the StatefulSet's volume keeps every task.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from harness.kube import wait_for

pytestmark = pytest.mark.promise(8)

OUTAGE_CODES = {502, 503, 504}
# What the backend's own /ready checks that a recovered backend pod must reach again.
BACKEND_NEEDS = ("database", "mcp")


class Writer(threading.Thread):
    """Creates tasks in a loop through the NodePort; records what was acknowledged."""

    def __init__(self, base_url: str, headers: dict[str, str], tag: str) -> None:
        super().__init__(daemon=True)
        self.base_url, self.headers, self.tag = base_url, headers, tag
        self.stop = threading.Event()
        self.acked: dict[int, str] = {}
        self.codes: Counter[str] = Counter()
        self.bad: list[str] = []

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.base_url, timeout=15) as client:
            while not self.stop.is_set():
                n += 1
                title = f"{self.tag} {n}"
                try:
                    r = client.post("/api/v1/tasks", json={"title": title}, headers=self.headers)
                except httpx.HTTPError as exc:
                    self.codes[type(exc).__name__] += 1
                    self.bad.append(f"{title}: {exc!r}")
                    time.sleep(0.2)
                    continue
                self.codes[str(r.status_code)] += 1
                if r.status_code == 201:
                    self.acked[r.json()["id"]] = title
                elif r.status_code in OUTAGE_CODES:
                    try:
                        assert r.json()["detail"]
                    except Exception:  # noqa: BLE001
                        self.bad.append(f"{title}: {r.status_code} without a JSON detail")
                    time.sleep(0.2)
                else:
                    self.bad.append(f"{title}: unexpected {r.status_code} {r.text[:200]}")
                time.sleep(0.02)


def _all_task_ids(api, user) -> set[int]:
    ids: set[int] = set()
    offset = 0
    while True:
        r = api.get("/api/v1/tasks", params={"limit": 100, "offset": offset}, headers=user.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        ids |= {t["id"] for t in page["items"]}
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return ids


def _wait_api(api, user, timeout: float = 120) -> None:
    """Until the task API answers 200 (connection errors count as "not yet")."""

    def answers() -> bool:
        try:
            r = api.get("/api/v1/tasks", params={"limit": 1}, headers=user.headers)
        except httpx.TransportError:
            return False
        return r.status_code == 200

    wait_for(answers, timeout=timeout, what="the task API to answer 200 again")


def _recovered(api, user, kube, timeout: float = 120) -> None:
    """The API answers again, and every backend pod (not only the one the Service picked)
    reaches PostgreSQL and the MCP server: the next test must not inherit the fault."""
    _wait_api(api, user, timeout=timeout)
    kube.wait_every_pod_reaches("backend", BACKEND_NEEDS, timeout=timeout)


def test_mcp_pod_kill_under_load_loses_no_acknowledged_write(release, kube, api, new_user, results):
    user = new_user()
    writer = Writer(release.backend_url, user.headers, "fault-mcp-kill")
    writer.start()
    time.sleep(5)
    victims = [p.metadata.name for p in kube.pods("mcp-server")]
    assert victims
    for name in victims:
        kube.core.delete_namespaced_pod(name, kube.namespace, grace_period_seconds=0)
    wait_for(
        lambda: (
            (pods := kube.ready_pods("mcp-server"))
            and not {p.metadata.name for p in pods} & set(victims)
        ),
        timeout=120,
        what="a new ready MCP pod",
    )
    time.sleep(5)
    writer.stop.set()
    writer.join(timeout=30)
    _recovered(api, user, kube)
    stored = _all_task_ids(api, user)
    lost = {i: t for i, t in writer.acked.items() if i not in stored}
    results.append(
        "faults",
        {
            "test": "mcp pod kill",
            "codes": dict(writer.codes),
            "acknowledged": len(writer.acked),
            "lost": len(lost),
        },
    )
    assert writer.acked, f"nothing was acknowledged: {dict(writer.codes)}"
    assert not lost, f"acknowledged writes lost: {lost}"
    assert not writer.bad, f"unclear answers during the fault: {writer.bad[:10]}"


def _readiness_window(kube, component: str) -> float:
    """Seconds a failing readiness probe takes to pull a pod, plus one period: an outage
    probed that long has outlasted any decision the probe could make."""
    probe = kube.deployment(component).spec.template.spec.containers[0].readiness_probe
    return probe.period_seconds * (probe.failure_threshold + 1)


def test_mcp_outage_is_a_clear_503_and_recovers(release, kube, api, user, results):
    dep = kube.deployment("mcp-server")
    replicas = dep.spec.replicas
    codes: Counter[str] = Counter()
    details: set[str] = set()
    kube.apps.patch_namespaced_deployment_scale(
        dep.metadata.name, kube.namespace, {"spec": {"replicas": 0}}
    )
    try:
        # Gone, terminating ones too: they keep serving through their preStop delay.
        wait_for(lambda: not kube.all_pods("mcp-server"), timeout=90, what="MCP pods gone")
        deadline = time.monotonic() + _readiness_window(kube, "backend")
        while time.monotonic() < deadline:
            try:
                r = api.get("/api/v1/tasks", headers=user.headers)
                codes[str(r.status_code)] += 1
                if r.status_code in OUTAGE_CODES:
                    details.add(r.json().get("detail") or "")
            except httpx.HTTPError as exc:
                codes[type(exc).__name__] += 1
            time.sleep(0.5)
    finally:
        # Recover whatever the verdict, so the tests after this one start healthy.
        kube.apps.patch_namespaced_deployment_scale(
            dep.metadata.name, kube.namespace, {"spec": {"replicas": max(1, replicas)}}
        )
        kube.wait_deployment_available("mcp-server", timeout=120)
        start = time.monotonic()
        _wait_api(api, user, timeout=90)
        recovery = round(time.monotonic() - start, 1)
        kube.wait_deployment_available("backend", timeout=120)
        kube.wait_every_pod_reaches("backend", BACKEND_NEEDS, timeout=90)
    results.append(
        "faults",
        {
            "test": "mcp outage",
            "codes": dict(codes),
            "details": sorted(details),
            "recovered_s_after_mcp_available": recovery,
        },
    )
    # The backend itself must answer during the outage: an MCP outage that makes the
    # backend unready (and drops it from its Service) shows up here as connection errors.
    assert set(codes) <= {str(c) for c in OUTAGE_CODES}, (
        f"during the MCP outage the backend answered {dict(codes)} (wanted only 503s, "
        "502/504 tolerated, each with a JSON detail)"
    )
    assert codes.get("503"), f"no 503 during the outage: {dict(codes)}"
    assert all(details), details


def test_postgresql_restart_keeps_data(release, kube, api, user, results):
    for i in range(5):
        assert (
            api.post(
                "/api/v1/tasks", json={"title": f"before pg restart {i}"}, headers=user.headers
            ).status_code
            == 201
        )
    before = _all_task_ids(api, user)
    pods = kube.pods("postgresql")
    assert len(pods) == 1, [p.metadata.name for p in pods]
    old_uid = pods[0].metadata.uid
    start = time.monotonic()
    kube.core.delete_namespaced_pod(pods[0].metadata.name, kube.namespace)
    wait_for(
        lambda: (ready := kube.ready_pods("postgresql")) and ready[0].metadata.uid != old_uid,
        timeout=180,
        what="PostgreSQL back and ready",
    )
    _recovered(api, user, kube, timeout=120)
    recovered = time.monotonic() - start
    after = _all_task_ids(api, user)
    results.append(
        "faults",
        {
            "test": "postgresql restart",
            "tasks_before": len(before),
            "tasks_after": len(after),
            "recovery_s": round(recovered, 1),
        },
    )
    assert before <= after, f"tasks lost across the PostgreSQL restart: {sorted(before - after)}"
    assert (
        api.post(
            "/api/v1/tasks", json={"title": "after pg restart"}, headers=user.headers
        ).status_code
        == 201
    )


def test_a_client_retrying_a_create_after_a_timeout_leaves_one_task(
    release, api, new_user, results
):
    """The request is sent whole, the client gives up reading, then retries with the same key."""
    user = new_user()
    title = f"retried {uuid.uuid4().hex[:8]}"
    key = str(uuid.uuid4())
    headers = {**user.headers, "Idempotency-Key": f'"{key}"'}
    impatient = httpx.Timeout(connect=10, read=0.001, write=10, pool=10)
    timed_out = 0
    with httpx.Client(base_url=release.backend_url, timeout=impatient) as client:
        try:
            client.post("/api/v1/tasks", json={"title": title}, headers=headers)
        except httpx.ReadTimeout:
            timed_out += 1

    def until_created() -> tuple[httpx.Response, list[int]]:
        """Retry with the same key until 201; 409 means a request with it is still in flight
        (the one given up on may reach the MCP server after this one)."""
        answers: list[int] = []
        deadline = time.monotonic() + 30
        while True:
            r = api.post("/api/v1/tasks", json={"title": title}, headers=headers)
            answers.append(r.status_code)
            if r.status_code != 409 or time.monotonic() > deadline:
                return r, answers
            time.sleep(float(r.headers.get("Retry-After", "1")))

    r, answers = until_created()
    assert r.status_code == 201, answers
    again, more = until_created()
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true", more
    assert again.json() == r.json()
    replayed = r.headers.get("Idempotent-Replayed") == "true"
    listed = api.get("/api/v1/tasks", params={"limit": 100}, headers=user.headers).json()["items"]
    same = [t for t in listed if t["title"] == title]
    results.append("faults", {"test": "retry after a client timeout",
                              "first_attempt_timed_out": bool(timed_out),
                              "retry_answers": answers + more, "retry_replayed": replayed,
                              "tasks_with_that_title": len(same)})  # fmt: skip
    assert len(same) == 1, same


def test_a_wrong_database_password_is_named_within_15_seconds(release, kube, api, user, results):
    """A database Secret rotated to a wrong password: the backend's new pods stop before
    serving, their migration naming the real reason, fast, while the old pods keep serving."""
    import base64

    secret = next(
        s for s in kube.core.list_namespaced_secret(release.namespace).items
        if s.data and "POSTGRES_PASSWORD" in s.data
    )  # fmt: skip
    name, original = secret.metadata.name, secret.data["POSTGRES_PASSWORD"]
    wrong_password = f"wrong-{uuid.uuid4().hex}"
    deployment = kube.deployment("backend").metadata.name
    old_pods = {p.metadata.name for p in kube.pods("backend")}

    def failed_migration():
        for pod in kube.pods("backend"):
            if pod.metadata.name in old_pods:
                continue
            for status in pod.status.container_statuses or []:
                last = status.last_state.terminated if status.last_state else None
                done = status.state.terminated or last
                if status.name == "backend" and done and done.exit_code != 0:
                    return done
        return None

    wrong = base64.b64encode(wrong_password.encode()).decode()
    kube.core.patch_namespaced_secret(
        name, release.namespace, {"data": {"POSTGRES_PASSWORD": wrong}}
    )
    try:
        release.kubectl("rollout", "restart", f"deployment/{deployment}", quiet=True)
        done = wait_for(failed_migration, timeout=180, what="a new pod's migration to fail")
        seconds = (done.finished_at - done.started_at).total_seconds()
        serving = api.get("/api/v1/tasks", headers=user.headers).status_code
    finally:
        kube.core.patch_namespaced_secret(name, release.namespace,
                                          {"data": {"POSTGRES_PASSWORD": original}})  # fmt: skip
        for pod in kube.pods("backend"):
            if pod.metadata.name not in old_pods:  # restart them now, not after their backoff
                kube.core.delete_namespaced_pod(pod.metadata.name, release.namespace)
    kube.wait_deployment_available("backend", timeout=180)
    message = done.message or ""
    results.append("faults", {"test": "wrong database password", "seconds_to_error": seconds,
                              "message": message[-300:], "old_pods_answered": serving})  # fmt: skip
    assert seconds <= 15, f"the migration took {seconds:.1f} s to give up"
    assert "password authentication failed" in message, message
    assert wrong_password not in message
    assert serving == 200, "the old pods stopped serving while the new ones could not start"
