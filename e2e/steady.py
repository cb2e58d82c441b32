"""A steady in-cluster client: writes tasks through the backend's Service while a step runs.

`SteadyLoad` starts one pod (the app image, Pod Security "restricted") that
signs in, writes a few tasks, says READY, then creates tasks every
INTERVAL seconds until told to stop; finally it lists every task the user
has and prints one RESULT line. The promises that roll pods (upgrade,
rollback, a change of values, a node drain) read from it what an in-cluster
client saw: requests that failed, the longest time without a successful
one, and whether every acknowledged write is still stored.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.kube import wait_for

INTERVAL = 0.1
MAX_TIMELINE = 6000  # requests kept per step for the report (10 minutes at INTERVAL)

# Runs in the pod. Standard library only (the app image has no HTTP client of its own
# besides the app's). Prints READY, then RESULT <json> when /tmp/stop appears.
SCRIPT = r"""
import json, os, time, urllib.error, urllib.request

BASE, USER, PASSWORD = os.environ["BASE"], os.environ["USERNAME"], os.environ["PASSWORD"]
SEED, TAG, INTERVAL = int(os.environ["SEED"]), os.environ["TAG"], float(os.environ["INTERVAL"])
KEEP = int(os.environ["KEEP"])

def call(method, path, body=None, token=None, timeout=5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except Exception as exc:
        return type(exc).__name__, None

def until_ok(method, path, body=None, token=None, want=(200, 201)):
    for _ in range(600):
        status, doc = call(method, path, body, token)
        if status in want:
            return doc
        time.sleep(0.5)
    raise SystemExit(f"{method} {path} never answered {want}")

CREDENTIALS = {"username": USER, "password": PASSWORD}
until_ok("POST", "/api/v1/users", CREDENTIALS, want=(201, 409))
token = until_ok("POST", "/api/v1/auth/token", CREDENTIALS)["access_token"]
acked = []
for i in range(SEED):
    acked.append(until_ok("POST", "/api/v1/tasks", {"title": f"{TAG} seed {i}"}, token)["id"])
print("READY", flush=True)
codes, failures, last_ok, max_gap, n = {}, [], time.time(), 0.0, 0
began, timeline = time.time(), []
while not os.path.exists("/tmp/stop"):
    n += 1
    started = time.time()
    status, doc = call("POST", "/api/v1/tasks", {"title": f"{TAG} {n}"}, token)
    codes[str(status)] = codes.get(str(status), 0) + 1
    if len(timeline) < KEEP:
        timeline.append([round(started - began, 2), str(status),
                         round((time.time() - started) * 1000, 1)])
    if status == 201:
        acked.append(doc["id"])
        max_gap = max(max_gap, time.time() - last_ok)
        last_ok = time.time()
    else:
        failures.append({"t": round(started, 2), "status": str(status)})
    time.sleep(INTERVAL)
max_gap = max(max_gap, time.time() - last_ok)
stored, offset = set(), 0
while True:
    page = until_ok("GET", f"/api/v1/tasks?limit=100&offset={offset}", token=token)
    stored |= {t["id"] for t in page["items"]}
    offset += len(page["items"])
    if not page["items"] or offset >= page["total"]:
        break
print("RESULT " + json.dumps({"acked": acked, "stored": sorted(stored), "codes": codes,
      "failures": failures[:50], "failed": len(failures), "requests": n,
      "longest_gap_s": round(max_gap, 2), "timeline": timeline}), flush=True)
"""


@dataclass
class Outcome:
    """What the in-cluster client saw during one step."""

    step: str
    seconds: float
    requests: int
    failed: int
    codes: dict[str, int]
    longest_gap_s: float
    acked: list[int]
    stored: set[int]
    failures: list[dict[str, Any]] = field(default_factory=list)
    # [seconds since writing began, status, milliseconds] per request, for the report's plot.
    timeline: list[list] = field(default_factory=list)

    def lost(self, earlier: set[int] = frozenset()) -> set[int]:
        """Acknowledged writes (this step's and `earlier`) the database no longer has."""
        return (set(self.acked) | set(earlier)) - self.stored

    def summary(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "failed": self.failed,
            "codes": self.codes,
            "longest_gap_s": self.longest_gap_s,
            "acknowledged": len(self.acked),
            "first_failures": self.failures[:5],
            "requests_over_time": self.timeline,
        }


class SteadyLoad:
    """One client pod writing through `base_url` (a Service's in-cluster URL)."""

    def __init__(self, kube, image: str, base_url: str, username: str, password: str,
                 seed: int = 10, node: str | None = None) -> None:  # fmt: skip
        self.kube, self.image, self.base_url, self.node = kube, image, base_url, node
        self.username, self.password, self.seed = username, password, seed
        self.name = f"steady-{uuid.uuid4().hex[:8]}"
        self.started = 0.0

    def _pod(self, tag: str) -> dict[str, Any]:
        """The client pod; pinned to `node` when given (a drain must not evict the client)."""
        env = {"BASE": self.base_url, "USERNAME": self.username, "PASSWORD": self.password,
               "SEED": str(self.seed), "TAG": tag, "INTERVAL": str(INTERVAL),
               "KEEP": str(MAX_TIMELINE)}  # fmt: skip
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/name": "steady-load"}},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "client", "image": self.image, "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", SCRIPT],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}},
                    "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                                  "limits": {"cpu": "200m", "memory": "64Mi"}},
                }],
            },
        }  # fmt: skip

    def _logs(self) -> str:
        # The client answers None, not "", for a pod that has written nothing yet.
        return self.kube.core.read_namespaced_pod_log(self.name, self.kube.namespace) or ""

    def start(self, tag: str) -> SteadyLoad:
        """Create the pod; return once it has written its seed tasks and is writing steadily."""
        pod = self._pod(tag)
        if self.node:
            pod["spec"]["nodeName"] = self.node
        self.kube.core.create_namespaced_pod(self.kube.namespace, pod)
        wait_for(lambda: "READY" in self._logs(), timeout=180, what=f"{self.name} to be writing")
        self.started = time.monotonic()
        return self

    def stop(self, step: str) -> Outcome:
        """Tell the pod to stop; read what it saw; delete it."""
        seconds = time.monotonic() - self.started
        from harness.kube import kubectl

        kubectl(self.kube.kubeconfig, "-n", self.kube.namespace, "exec", self.name, "--",
                "touch", "/tmp/stop", quiet=True)  # noqa: S108 - inside the pod  # fmt: skip
        try:
            wait_for(lambda: "RESULT " in self._logs(), timeout=180, what=f"{self.name}'s result")
            line = next(ln for ln in self._logs().splitlines() if ln.startswith("RESULT "))
        finally:
            self.kube.core.delete_namespaced_pod(self.name, self.kube.namespace,
                                                 grace_period_seconds=0)  # fmt: skip
        data = json.loads(line[len("RESULT ") :])
        return Outcome(step, seconds, data["requests"], data["failed"], data["codes"],
                       data["longest_gap_s"], data["acked"], set(data["stored"]),
                       data["failures"], data.get("timeline") or [])  # fmt: skip
