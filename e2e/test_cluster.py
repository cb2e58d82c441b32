"""Promise 0: the cluster under the release works, whatever built its images.

On the offline path every image was built here (the node image included), so
these check what a registry-built cluster would give for free: kube-proxy and
CoreDNS run, a Service is reached by its DNS name through its ClusterIP, a
privileged pod starts (the node's runtime on a host without CAP_SYS_RESOURCE),
and PostgreSQL takes the credentials it was given and refuses others
(metrics-server is proven with the resource promise, once it has scraped).
The checks run in a namespace of their own (Pod Security "privileged"),
created and deleted by the run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from harness.kube import kubectl, wait_for

pytestmark = pytest.mark.promise(0)


@pytest.fixture(scope="module")
def checks_ns(environment, release) -> Iterator[str]:
    """A namespace for these checks, deleted (and waited for) once they are done, so no pod
    of theirs is left to stand in a node drain's way."""
    name = environment.new_namespace(f"{release.namespace}-checks", pod_security="privileged")
    yield name
    kubectl(release.kubeconfig, "delete", "namespace", name, "--wait=true", "--timeout=120s",
            check=False)  # fmt: skip
    environment.namespaces.remove(name)
    environment.deleted.append(f"namespace {name}")


def _json(release, *args: str) -> dict:
    return json.loads(kubectl(release.kubeconfig, *args, "-o", "json", capture=True,
                              quiet=True).stdout)  # fmt: skip


def _apply(release, namespace: str, *objects: dict) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    kubectl(release.kubeconfig, "-n", namespace, "apply", "-f", "-", input_text=json.dumps(doc),
            quiet=True)  # fmt: skip


def _pod(name: str, image: str, command: list[str], **container) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            # Throwaway: killed at once when the namespace goes (a shell as PID 1 ignores
            # SIGTERM, so the default 30 s grace period held the namespace's deletion).
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": command, **container}],
        },
    }  # fmt: skip


def _finished(release, namespace: str, name: str, timeout: float = 120) -> str:
    """Wait until a pod ends; return its phase."""

    def phase() -> str | None:
        got = _json(release, "-n", namespace, "get", "pod", name)
        value = got.get("status", {}).get("phase")
        return value if value in ("Succeeded", "Failed") else None

    return wait_for(phase, timeout=timeout, what=f"pod {name} to finish")


def test_nodes_ready_and_system_pods_running(release):
    nodes = _json(release, "get", "nodes")["items"]
    assert nodes
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
    for label in ("k8s-app=kube-proxy", "k8s-app=kube-dns"):
        pods = _json(release, "-n", "kube-system", "get", "pods", "-l", label)["items"]
        assert pods, f"no {label} pods"
        assert all(p["status"]["phase"] == "Running" for p in pods), label


def test_a_service_is_reached_by_dns_through_its_clusterip(release, checks_ns):
    labels = {"app": "web"}
    serve = (
        "echo hello-from-the-cluster > /tmp/index.html && cd /tmp && "
        "exec python -m http.server 8080"
    )
    web = {
        "name": "web",
        "image": release.images.app,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", serve],
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                # Throwaway, as _pod's: python as PID 1 ignores SIGTERM.
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [web]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    _apply(release, checks_ns, deployment, service)
    kubectl(release.kubeconfig, "-n", checks_ns, "rollout", "status", "deployment/web",
            "--timeout=120s")  # fmt: skip
    url = f"http://web.{checks_ns}.svc.cluster.local/"
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
    _apply(release, checks_ns, _pod("web-client", release.images.app, ["python", "-c", fetch]))
    assert _finished(release, checks_ns, "web-client") == "Succeeded"
    logs = kubectl(release.kubeconfig, "-n", checks_ns, "logs", "web-client", capture=True,
                   quiet=True).stdout  # fmt: skip
    assert "hello-from-the-cluster" in logs


def test_a_privileged_pod_starts(release, checks_ns, cluster):
    if not cluster.created:
        pytest.skip(
            "not provable on this cluster: the run did not create it, so privileged pods "
            "are its own policy"
        )
    pod = _pod("privileged", release.images.app,
               ["sh", "-c", "grep CapEff /proc/self/status; sleep 3600"],
               securityContext={"privileged": True, "runAsUser": 0})  # fmt: skip
    _apply(release, checks_ns, pod)
    kubectl(release.kubeconfig, "-n", checks_ns, "wait", "--for=condition=Ready", "pod/privileged",
            "--timeout=120s")  # fmt: skip

    def cap_eff() -> str | None:
        # Ready says the container started, not that its first line reached the log yet.
        out = kubectl(release.kubeconfig, "-n", checks_ns, "logs", "privileged", capture=True,
                      quiet=True).stdout  # fmt: skip
        return next((line.split()[1] for line in out.splitlines() if line.startswith("CapEff")),
                    None)  # fmt: skip

    mask = wait_for(cap_eff, timeout=30, interval=0.5, what="the privileged pod's CapEff line")
    assert int(mask, 16) & (1 << 21), "the privileged pod lacks CAP_SYS_ADMIN"


def test_postgresql_takes_its_credentials_and_refuses_others(release, kube):
    pod = kube.ready_pods("postgresql")[0].metadata.name
    secret = next(
        s for s in kube.core.list_namespaced_secret(release.namespace).items
        if s.data and "POSTGRES_PASSWORD" in s.data
    )  # fmt: skip
    name = secret.metadata.name
    db_user = kube.secret_value(name, "POSTGRES_USER")
    db_name = kube.secret_value(name, "POSTGRES_DB")

    def psql(password: str, *where: str):
        return release.kubectl(
            "exec", pod, "-c", "postgresql", "--", "env", f"PGPASSWORD={password}",
            "psql", *where, "-U", db_user, "-d", db_name, "-tAc", "select 1",
            capture=True, quiet=True, check=False,
        )  # fmt: skip

    # Inside the pod too, over loopback and the socket: the image's initdb would trust
    # both unless the chart says otherwise.
    for where in (("-h", "127.0.0.1"), ()):
        good = psql(kube.secret_value(name, "POSTGRES_PASSWORD"), *where)
        assert good.returncode == 0 and good.stdout.strip() == "1", (where, good.stderr)
        wrong = psql(f"wrong-{uuid.uuid4().hex[:8]}", *where)
        assert wrong.returncode != 0, f"a wrong password was accepted over {where or 'the socket'}"
        assert "password authentication failed" in wrong.stderr, wrong.stderr
