"""Fixtures of the e2e suite: images in the cluster, the release, clients, the report.

The session goes: cluster (root conftest) -> images loaded + metrics-server
(+ kube-router where kindnet cannot enforce NetworkPolicy) -> a fresh
namespace with Pod Security "restricted" -> `helm upgrade --install --wait`
-> the backend answering /ready through the NodePort -> the tests, ordered by
the promise they prove -> the report. On a failure, events, describes and
logs are saved under artifacts/<run>/ and the path is printed.
"""

# ruff: noqa: S603 - runs the pinned tools from <cache>/bin and Locust, never user input

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from e2e import harness

if TYPE_CHECKING:
    import httpx
from e2e.harness import ARTIFACTS_DIR, RELEASE, REPORTS_DIR, HarnessError

RUN_ID = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")

# The promises of the issue, in the order the suite proves them.
PROMISES = {
    1: "install: one command, every workload Available, no restarts",
    2: "startup: each pod created -> Ready under 30 s",
    3: "health: /health and /ready 200 through the Services",
    4: "backend -> MCP: stored by MCP (REST + protocol), request id in both logs",
    5: "resources: usage under limits idle and under load, specs as the values ask",
    6: "HPA: MCP server scales 1 -> 3 under Locust load and back",
    7: "rollback and switches: broken upgrade rolled back; MCP off/on keeps data",
    8: "faults: MCP pod kill loses no acknowledged write; PostgreSQL restart keeps data",
    9: "security: PSS restricted, NetworkPolicy enforced, bad credentials refused",
    10: "helm test passes",
}

_STATE: dict[str, Any] = {"outcomes": {}, "failures": []}


# --- collection and markers ----------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "promise(n): the numbered promise of the deployment")


def _promise_of(item: pytest.Item) -> int:
    marker = item.get_closest_marker("promise")
    return int(marker.args[0]) if marker else 99


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Prove the promises in order: install first, disruptive tests last."""
    e2e_items = [i for i in items if Path(str(i.path)).parent == Path(__file__).parent]
    if not e2e_items:
        return
    others = [i for i in items if i not in e2e_items]
    e2e_items.sort(key=_promise_of)  # stable: file order within a promise
    items[:] = others + e2e_items
    for item in e2e_items:
        item.add_marker(pytest.mark.cluster)


# --- results shared with the report ---------------------------------------------------


@dataclass
class Results:
    """What the tests measured; written to reports/e2e-results.json for the report."""

    run_id: str = RUN_ID
    data: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def append(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)
        self.save()

    def save(self) -> None:
        REPORTS_DIR.mkdir(parents=True, exist_ok=True)
        payload = {"run_id": self.run_id, **self.data, "outcomes": _STATE["outcomes"]}
        (REPORTS_DIR / "e2e-results.json").write_text(json.dumps(payload, indent=2, default=str))


RESULTS = Results()


@pytest.fixture(scope="session")
def results() -> Results:
    return RESULTS


# --- the cluster's contents -----------------------------------------------------------


@pytest.fixture(scope="session")
def values_files(request: pytest.FixtureRequest) -> list[str]:
    files = list(request.config.getoption("values") or [])
    if not files and os.environ.get(harness.ENV_VALUES):
        files = [os.environ[harness.ENV_VALUES]]
    for f in files:
        if not Path(f).is_file():
            raise pytest.UsageError(f"--values {f}: no such file")
    return files


@pytest.fixture(scope="session")
def cluster_ready(k8s_cluster, images, results: Results) -> Any:
    """Images loaded into the nodes, metrics-server serving, NetworkPolicy enforced."""
    kubeconfig = k8s_cluster.kubeconfig_path
    is_kind = getattr(k8s_cluster, "is_kind", True)
    results.put("images", {**images.__dict__, "postgres": images.postgres})
    if is_kind:
        with harness.phase("image load"):
            harness.load_images(
                k8s_cluster, [images.app, images.postgres, images.metrics_server], images.source
            )
    with harness.phase("cluster add-ons"):
        got = harness.kubectl(
            kubeconfig,
            "get",
            "apiservice",
            "v1beta1.metrics.k8s.io",
            check=False,
            capture=True,
            quiet=True,
        )
        if got.returncode != 0 or "kube-system/metrics-server" not in got.stdout:
            harness.install_metrics_server(
                kubeconfig,
                images.metrics_server,
                node_container=f"{k8s_cluster.name}-control-plane" if is_kind else None,
            )
        enforcer, reason = ("cluster's own", "existing cluster: its CNI decides")
        if is_kind:
            enforcer, reason = harness.ensure_netpol_enforcer(
                k8s_cluster, kubeconfig, images.source
            )
        results.put("netpol_enforcer", {"enforcer": enforcer, "reason": reason})
    return k8s_cluster


@dataclass
class Release:
    """The installed release: where it is and how to talk to it."""

    name: str
    namespace: str
    kubeconfig: Path
    backend_url: str
    images: Any
    values_files: list[str]
    install_seconds: float = 0.0

    def helm(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return harness.helm(self.kubeconfig, *args, "--namespace", self.namespace, **kwargs)

    def kubectl(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return harness.kubectl(self.kubeconfig, "-n", self.namespace, *args, **kwargs)

    def upgrade(self, *extra: str, timeout: str = "5m", check: bool = True):
        """helm upgrade with the run's values plus `extra`; waits."""
        return harness.run(
            [
                harness.tool("helm"),
                "--kubeconfig",
                str(self.kubeconfig),
                "upgrade",
                RELEASE,
                str(harness.CHART_DIR),
                "--namespace",
                self.namespace,
                *harness.values_args(self.images, self.values_files),
                *extra,
                "--wait",
                "--timeout",
                timeout,
            ],
            check=check,
            capture=True,
        )

    def values(self) -> dict[str, Any]:
        out = self.helm("get", "values", self.name, "--all", "-o", "json", capture=True, quiet=True)
        return json.loads(out.stdout)

    @property
    def fullname(self) -> str:
        return f"{self.name}-todo-app" if "todo-app" not in self.name else self.name


@pytest.fixture(scope="session")
def namespace(cluster_ready) -> Iterator[str]:
    """A fresh namespace per run, labelled as ours, PSS restricted; deleted without waiting."""
    name = f"todo-e2e-{RUN_ID.replace('-', '')[4:]}-{secrets.token_hex(2)}"
    kubeconfig = cluster_ready.kubeconfig_path
    harness.create_namespace(kubeconfig, name)
    _STATE["namespace"] = name
    _STATE["kubeconfig"] = kubeconfig
    yield name
    harness.delete_namespace(kubeconfig, name)


@pytest.fixture(scope="session")
def release(
    request: pytest.FixtureRequest, cluster_ready, namespace, images, values_files, results
) -> Release:
    """The chart installed in one `helm upgrade --install --wait`, reachable over HTTP."""
    rel = Release(
        name=RELEASE,
        namespace=namespace,
        kubeconfig=cluster_ready.kubeconfig_path,
        backend_url=request.config.getoption("backend_url").rstrip("/"),
        images=images,
        values_files=values_files,
    )
    with harness.phase("install to ready"):
        start = time.monotonic()
        harness.helm_deploy(rel.kubeconfig, namespace, images, values_files)
        rel.install_seconds = time.monotonic() - start
        waited = harness.wait_http(f"{rel.backend_url}/ready", timeout=120)
    results.put(
        "install",
        {
            "helm_seconds": round(rel.install_seconds, 1),
            "ready_after_helm_seconds": round(waited, 1),
            "namespace": namespace,
            "values_files": values_files,
        },
    )
    return rel


@pytest.fixture(scope="session")
def kube(release: Release):
    from e2e.kube import Kube

    return Kube(release.kubeconfig, release.namespace)


# --- clients --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api(release: Release) -> Iterator[httpx.Client]:
    """HTTP client for the backend through the NodePort (127.0.0.1:30080)."""
    import httpx

    # One connection per request: the tests roll the backend (upgrades, rollback), and a
    # kept-alive connection to a pod that has gone away would fail the next request.
    with httpx.Client(
        base_url=release.backend_url, timeout=15, headers={"Connection": "close"}
    ) as client:
        yield client


@dataclass
class User:
    id: int
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register_user(client: httpx.Client, prefix: str = "e2e") -> User:
    username = f"{prefix}-{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(16)
    created = client.post("/api/v1/users", json={"username": username, "password": password})
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert token.status_code == 200, token.text
    return User(created.json()["id"], username, password, token.json()["access_token"])


@pytest.fixture(scope="session")
def new_user(api: httpx.Client) -> Callable[[], User]:
    return lambda: register_user(api)


@pytest.fixture(scope="session")
def user(new_user) -> User:
    return new_user()


@pytest.fixture(scope="session")
def service_token(release: Release, kube) -> str:
    """The backend -> MCP service credential, read from the release's auth Secret."""
    return kube.secret_value(f"{release.fullname}-auth", "MCP_SERVICE_TOKEN")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port_forward(release: Release) -> Iterator[Callable[..., Any]]:
    """Factory: `with port_forward("svc/x", 8001) as url:` -> http://127.0.0.1:<port>.

    Each forward is a `kubectl port-forward` process, polled with an HTTP GET
    of `ready_path` until it answers 200, and killed at exit. Used for
    functional checks of the MCP server only; load goes through the NodePort.
    """
    procs: list[subprocess.Popen] = []

    @contextmanager
    def forward(target: str, remote_port: int, ready_path: str = "/health", timeout: float = 45):
        port = _free_port()
        log = ARTIFACTS_DIR / RUN_ID / f"port-forward-{port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    str(harness.tool("kubectl")),
                    "--kubeconfig",
                    str(release.kubeconfig),
                    "-n",
                    release.namespace,
                    "port-forward",
                    "--address",
                    "127.0.0.1",
                    target,
                    f"{port}:{remote_port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            if proc.poll() is not None:
                raise HarnessError(
                    f"kubectl port-forward {target} exited: {log.read_text()[-800:]}"
                )
            try:
                r = httpx.get(url + ready_path, timeout=3)
                if r.status_code == 200:
                    break
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"port-forward {target}: {ready_path} never answered 200 ({last})"
                )
            time.sleep(0.5)
        try:
            yield url
        finally:
            _stop(proc)

    yield forward
    for proc in procs:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- the shared load run (promises 5 and 6) -------------------------------------------


@pytest.fixture(scope="session")
def load_run(release: Release, kube, results: Results):
    """One Locust run against the NodePort with a sampler; used by the HPA and resource tests."""
    from e2e.load import run_hpa_load

    with harness.phase("load run (Locust)"):
        timeline = run_hpa_load(release, kube, ARTIFACTS_DIR / RUN_ID / "locust")
    results.put("hpa", timeline.summary())
    results.put("hpa_samples", timeline.samples)
    return timeline


# --- failure artifacts ----------------------------------------------------------------


def dump_artifacts(target: Path, kubeconfig: Path, namespace: str) -> None:
    """Events, describe of non-ready objects, every pod's logs (and previous logs)."""
    target.mkdir(parents=True, exist_ok=True)
    kubectl = str(harness.tool("kubectl"))

    def save(name: str, *args: str) -> str:
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        (target / name).write_text(result.stdout + (result.stderr or ""))
        return result.stdout

    ns = ["-n", namespace]
    save("events.txt", *ns, "get", "events", "--sort-by=.lastTimestamp", "-o", "wide")
    save("all.txt", *ns, "get", "all,pvc,networkpolicy,pdb,hpa,secret,configmap", "-o", "wide")
    save("cluster-events.txt", "get", "events", "-A", "--sort-by=.lastTimestamp")
    save("nodes.txt", "describe", "nodes")
    pods_json = save("pods.json", *ns, "get", "pods", "-o", "json")
    try:
        pods = json.loads(pods_json)["items"]
    except ValueError:
        pods = []
    for pod in pods:
        name = pod["metadata"]["name"]
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod.get("status", {}).get("conditions", [])
        )
        if not ready:
            save(f"describe-pod-{name}.txt", *ns, "describe", "pod", name)
        containers = [c["name"] for c in pod["spec"].get("initContainers", [])]
        containers += [c["name"] for c in pod["spec"]["containers"]]
        for c in containers:
            save(f"logs-{name}-{c}.txt", *ns, "logs", name, "-c", c)
            statuses = pod.get("status", {}).get("containerStatuses", []) or []
            if any(s["name"] == c and s.get("restartCount", 0) > 0 for s in statuses):
                save(f"logs-{name}-{c}-previous.txt", *ns, "logs", name, "-c", c, "--previous")
    for kind in ("deployment", "statefulset", "job", "hpa"):
        listing = subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), *ns, "get", kind, "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            objs = json.loads(listing.stdout)["items"]
        except ValueError:
            continue
        for obj in objs:
            st = obj.get("status", {})
            want = obj.get("spec", {}).get("replicas", 1)
            if kind == "hpa" or st.get("readyReplicas", 0) != want:
                save(
                    f"describe-{kind}-{obj['metadata']['name']}.txt",
                    *ns,
                    "describe",
                    kind,
                    obj["metadata"]["name"],
                )
    helm = str(harness.tool("helm"))
    for args, name in (
        (["status", RELEASE], "helm-status.txt"),
        (["history", RELEASE], "helm-history.txt"),
    ):
        result = subprocess.run(
            [helm, "--kubeconfig", str(kubeconfig), *args, "-n", namespace],
            capture_output=True,
            text=True,
            check=False,
        )
        (target / name).write_text(result.stdout + result.stderr)
    save("kube-system-pods.txt", "-n", "kube-system", "get", "pods", "-o", "wide")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if item.get_closest_marker("promise") is None:
        return report
    number = _promise_of(item)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "passed" if report.passed else ("skipped" if report.skipped else "failed")
        entry = _STATE["outcomes"].setdefault(str(number), {})
        entry[item.name] = outcome
        RESULTS.save()
    if report.failed and "namespace" in _STATE:
        safe = item.name.replace("/", "_").replace("[", "_").replace("]", "")
        target = ARTIFACTS_DIR / RUN_ID / safe
        try:
            dump_artifacts(target, _STATE["kubeconfig"], _STATE["namespace"])
            report.sections.append(("e2e artifacts", f"saved under {target}"))
            harness.say(f"{item.name} failed: events, describes and logs saved under {target}")
        except Exception as exc:  # noqa: BLE001 - never hide the test's own failure
            harness.say(f"could not save artifacts for {item.name}: {exc!r}")
        _STATE["failures"].append(str(target))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _STATE["outcomes"]:
        return
    from e2e.report import write_report

    RESULTS.save()
    try:
        path = write_report(REPORTS_DIR, PROMISES)
        harness.say(f"report written: {path}")
    except Exception as exc:  # noqa: BLE001 - the run's verdict stays pytest's
        harness.say(f"could not write the report: {exc!r}")
    if _STATE["failures"]:
        harness.say("failure artifacts: " + ", ".join(sorted(set(_STATE["failures"]))))
