"""Issue 3's cluster smoke test: a kind cluster from the chosen node image works with no
registry.

One kind cluster (`todo-airgap-smoke`) is created from the node image
`airgap.images.image_names()` picks (the locally built one offline), the Python
base, PostgreSQL and metrics-server images are loaded into it, and then:

- kube-proxy and CoreDNS pods are Running;
- a Deployment from the Python base serves HTTP through a ClusterIP Service
  that another pod reaches by its DNS name;
- a privileged pod starts;
- the PostgreSQL image accepts a connection with the credentials it was given;
- `kubectl top pods` returns metrics (metrics-server from the local image).

Marked `cluster`; needs Docker, the images (`python -m airgap all`) and about
two minutes. AIRGAP_KEEP_CLUSTER=1 keeps the cluster afterwards;
AIRGAP_KIND_CONFIG=FILE passes a kind cluster config to `kind create cluster`.
"""

# ruff: noqa: S603 - runs the pinned kubectl/docker binaries

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest

from airgap import cluster, tools
from airgap.images import image_names

pytestmark = pytest.mark.cluster

NAME = "todo-airgap-smoke"
NS = "airgap-smoke"
ROOT = Path(__file__).resolve().parents[2]
METRICS_MANIFEST = ROOT / "e2e" / "manifests" / "metrics-server.yaml"
PG_PASSWORD = "smoke p@ss:w/rd"  # noqa: S105 - a throwaway test credential
IMAGES = image_names()


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubectl = str(tools.tool_path("kubectl"))
        self.kubeconfig = str(kubeconfig)

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120):
        result = subprocess.run(
            [self.kubectl, "--kubeconfig", self.kubeconfig, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def apply(self, *objects: dict) -> None:
        self.run("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                       "items": list(objects)}))  # fmt: skip

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def wait(self, what: str, condition: str, namespace: str, timeout: int = 120) -> None:
        """`kubectl wait` for `what` (e.g. "pod/x", "nodes --all", "pods -l app=y")."""
        words = what.split()
        result = self.run(
            "wait", *words, f"--for={condition}", "-n", namespace, f"--timeout={timeout}s",
            check=False, timeout=timeout + 30,
        )  # fmt: skip
        if result.returncode != 0:
            described = self.run("describe", *words[:1], *[w for w in words[1:] if w != "--all"],
                                 "-n", namespace, check=False).stdout  # fmt: skip
            raise AssertionError(f"{what} not {condition}: {result.stderr}\n{described[-3000:]}")


def _pull_policy() -> str:
    return "Never" if IMAGES.source == "local" else "IfNotPresent"


def _pod(name: str, image: str, command: list[str], **extra) -> dict:
    container = {"name": name, "image": image, "imagePullPolicy": _pull_policy(),
                 "command": command, **extra}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }


def install_metrics_server(kube: Kube) -> None:
    """metrics-server from the e2e manifest; its APIService only once the Service routes.

    The kube-apiserver keeps its discovery connection to the APIService's ClusterIP open.
    Opened before kube-proxy has programmed that Service, the connection is not DNATed
    and goes wherever the node's default route leads (on machines behind a transparent
    proxy something answers 404 there, for good). So the APIService comes last.
    """
    manifest = Template(METRICS_MANIFEST.read_text()).safe_substitute(
        METRICS_SERVER_IMAGE=IMAGES.metrics_server
    )
    docs = [d for d in manifest.split("\n---") if d.strip()]
    api_service = [d for d in docs if re.search(r"^kind:\s*APIService\s*$", d, re.MULTILINE)]
    rest = [d for d in docs if d not in api_service]
    assert len(api_service) == 1, "the metrics-server manifest should hold one APIService"
    kube.run("apply", "-f", "-", stdin="\n---".join(rest))
    kube.wait("deployment/metrics-server", "condition=Available", "kube-system", timeout=180)
    # The node routes the ClusterIP to metrics-server once /livez answers "ok" through it.
    ip = kube.run("get", "service", "metrics-server", "-n", "kube-system",
                  "-o", "jsonpath={.spec.clusterIP}").stdout.strip()  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        probe = subprocess.run(
            ["docker", "exec", f"{NAME}-control-plane",  # noqa: S607
             "curl", "-sk", "--max-time", "3", f"https://{ip}:443/livez"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.stdout.strip() == "ok":
            break
        assert time.monotonic() < deadline, f"metrics-server not reachable at {ip}: {probe}"
        time.sleep(1)
    kube.run("apply", "-f", "-", stdin=api_service[0])


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    kubeconfig = tmp_path_factory.mktemp("smoke") / "kubeconfig"
    images = [IMAGES.python_base, IMAGES.postgres, IMAGES.metrics_server]
    if IMAGES.source == "upstream":
        for image in images:
            subprocess.run(["docker", "pull", image], check=True)  # noqa: S607
    config = os.environ.get("AIRGAP_KIND_CONFIG") or None
    seconds = cluster.create_cluster(
        NAME, IMAGES.kind_node, kubeconfig, config=Path(config) if config else None
    )
    print(f"cluster create: {seconds:.1f}s from {IMAGES.kind_node}")
    try:
        cluster.load_images(NAME, images)
        kube = Kube(kubeconfig)
        kube.run("create", "namespace", NS)
        install_metrics_server(kube)
        yield kube
    finally:
        if os.environ.get("AIRGAP_KEEP_CLUSTER", "") not in ("1", "true", "yes"):
            cluster.delete_cluster(NAME)


def test_node_ready_and_system_pods_running(kube: Kube) -> None:
    kube.wait("nodes --all", "condition=Ready", "default", timeout=120)
    for label in ("k8s-app=kube-proxy", "k8s-app=kube-dns"):
        kube.wait(f"pods -l {label}", "condition=Ready", "kube-system", timeout=180)
        pods = kube.json("get", "pods", "-n", "kube-system", "-l", label)["items"]
        assert pods, label
        assert all(p["status"]["phase"] == "Running" for p in pods), label


def test_python_deployment_serves_http_via_clusterip_dns(kube: Kube) -> None:
    labels = {"app": "web"}
    serve = ("echo hello-from-airgap > /tmp/index.html && cd /tmp && "
             "exec python -m http.server 8080")  # fmt: skip
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{
                        "name": "web", "image": IMAGES.python_base,
                        "imagePullPolicy": _pull_policy(),
                        "command": ["sh", "-c", serve],
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                           "periodSeconds": 1},
                    }],
                },
            },
        },
    }  # fmt: skip
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"type": "ClusterIP", "selector": labels,
                 "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    kube.apply(deployment, service)
    kube.run("rollout", "status", "deployment/web", "-n", NS, "--timeout=120s", timeout=150)
    url = f"http://web.{NS}.svc.cluster.local/"
    fetch = (
        "import time, urllib.request\n"
        "for attempt in range(30):\n"
        "    try:\n"
        f"        print(urllib.request.urlopen({url!r}, timeout=5).read().decode()); break\n"
        "    except OSError as exc:\n"
        "        print('retry', exc); time.sleep(2)\n"
        "else:\n"
        "    raise SystemExit(1)\n"
    )
    kube.apply(_pod("web-client", IMAGES.python_base, ["python", "-c", fetch]))
    kube.wait("pod/web-client", "jsonpath={.status.phase}=Succeeded", NS, timeout=120)
    assert "hello-from-airgap" in kube.run("logs", "web-client", "-n", NS).stdout


def test_privileged_pod_starts(kube: Kube) -> None:
    pod = _pod(
        "privileged",
        IMAGES.python_base,
        ["sh", "-c", "grep CapEff /proc/self/status; sleep 3600"],
        securityContext={"privileged": True},
    )
    kube.apply(pod)
    kube.wait("pod/privileged", "condition=Ready", NS, timeout=120)
    out = kube.run("logs", "privileged", "-n", NS).stdout
    eff = int(out.split()[1], 16)
    assert eff & (1 << 21), "privileged pod lacks CAP_SYS_ADMIN"


def test_postgres_accepts_its_credentials(kube: Kube) -> None:
    labels = {"app": "pg"}
    env = [
        {"name": "POSTGRES_PASSWORD", "value": PG_PASSWORD},
        {"name": "POSTGRES_USER", "value": "smoke"},
        {"name": "POSTGRES_DB", "value": "smoke_db"},
        # As the chart does: a volume root is not the server's to chmod, a sub-folder is.
        {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
    ]
    pg = _pod("pg", IMAGES.postgres, [], env=env, ports=[{"containerPort": 5432}])
    pg["spec"]["restartPolicy"] = "Always"
    del pg["spec"]["containers"][0]["command"]
    pg["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "smoke"]},
        "periodSeconds": 1,
    }
    if IMAGES.source == "local":  # how the chart runs it: read-only root, emptyDirs
        pg["spec"]["containers"][0]["securityContext"] = {
            "readOnlyRootFilesystem": True, "runAsUser": 999, "runAsGroup": 999,
        }  # fmt: skip
        pg["spec"]["containers"][0]["volumeMounts"] = [
            {"name": v, "mountPath": p}
            for v, p in (("data", "/var/lib/postgresql/data"), ("run", "/var/run/postgresql"),
                         ("tmp", "/tmp"))  # noqa: S108 - paths inside the pod
        ]  # fmt: skip
        pg["spec"]["volumes"] = [{"name": v, "emptyDir": {}} for v in ("data", "run", "tmp")]
        pg["spec"]["securityContext"] = {"fsGroup": 999}
    pg["metadata"]["labels"] = labels
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "pg", "namespace": NS},
        "spec": {"selector": labels, "ports": [{"port": 5432}]},
    }
    kube.apply(pg, service)
    kube.wait("pod/pg", "condition=Ready", NS, timeout=120)
    client = _pod(
        "pg-client",
        IMAGES.postgres,
        ["psql", "-h", f"pg.{NS}.svc.cluster.local", "-U", "smoke", "-d", "smoke_db",
         "-tAc", "select current_user || '@' || current_database()"],
        env=[{"name": "PGPASSWORD", "value": PG_PASSWORD}],
    )  # fmt: skip
    kube.apply(client)
    kube.wait("pod/pg-client", "jsonpath={.status.phase}=Succeeded", NS, timeout=120)
    assert kube.run("logs", "pg-client", "-n", NS).stdout.strip() == "smoke@smoke_db"
    wrong = _pod(
        "pg-wrong",
        IMAGES.postgres,
        ["psql", "-h", f"pg.{NS}.svc.cluster.local", "-U", "smoke", "-d", "smoke_db",
         "-c", "select 1"],
        env=[{"name": "PGPASSWORD", "value": "wrong"}],
    )  # fmt: skip
    kube.apply(wrong)
    kube.wait("pod/pg-wrong", "jsonpath={.status.phase}=Failed", NS, timeout=120)
    assert "password authentication failed" in kube.run("logs", "pg-wrong", "-n", NS).stdout + (
        kube.run("logs", "pg-wrong", "-n", NS).stderr
    )


def test_kubectl_top_pods_returns_metrics(kube: Kube) -> None:
    kube.wait("deployment/metrics-server", "condition=Available", "kube-system", timeout=180)
    deadline = time.monotonic() + 180
    last = None
    while time.monotonic() < deadline:
        last = kube.run("top", "pods", "-n", "kube-system", "--no-headers", check=False)
        rows = [line.split() for line in last.stdout.splitlines() if line.strip()]
        if last.returncode == 0 and any(r[0].startswith("kube-apiserver") for r in rows):
            cpu, memory = rows[0][1], rows[0][2]
            assert cpu.endswith("m") and memory.endswith("Mi")
            return
        time.sleep(5)
    raise AssertionError(f"kubectl top pods never returned metrics: {last and last.stderr}")
