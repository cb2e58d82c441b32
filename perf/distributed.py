"""Locust in distributed mode inside the cluster: a master Job and N worker pods.

For loads one process on the host cannot give. The scenarios are the same
(`perf/locustfile.py`, shipped in a ConfigMap); the image holds Locust, the
MCP SDK and perf's own modules (`perf/locust.Dockerfile`, built from this
repository's files on the run's Python base, so it builds offline too).

- The master waits for every worker (`--expect-workers`) before any load.
- Workers reach the backend and the MCP server by their Service names; the
  release is told (through `networkPolicy.mcpServerExtraFrom`) to let the
  Locust pods reach the MCP server, and told again without it afterwards.
- Every request is recorded by each worker (the same per-request samples as
  a local run); after the run the samples of every worker and the master's
  CSV and HTML are fetched before anything is deleted, so the summary and
  the SLO check are exactly those of a local run.

`python -m perf.distributed image` builds the image (the perf session does
it before the run starts).
"""

# ruff: noqa: S603, S607 - runs the pinned kubectl and docker with fixed arguments

from __future__ import annotations

import io
import json
import re
import secrets
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from harness.kube import Kube, kubectl
from harness.proc import HarnessError, say, wait_until
from harness.release import Release

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "todo-perf-locust:dev"
NAME = "todo-perf-locust"
LABELS = {"app.kubernetes.io/name": NAME}
# Each distributed run's pods carry their own run id: the pods of the run before may still
# be terminating when the next starts (a Job's pods are deleted after the Job), and were
# taken for this run's, whose samples they never write.
RUN_LABEL = "todo-perf/run"
MASTER_PORT = 5557
RESULTS = "/results"
PERF_MODULES = ("__init__.py", "samples.py", "shapes.py", "mcp_bridge.py")
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def build_image(python_base: str) -> str:
    """The Locust image (cached by recipe label), on the run's Python base."""
    from harness.images import extra_ca_certs
    from toolchain import docker
    from toolchain.progress import step

    files: dict[str, Path | bytes] = {
        "Dockerfile": (ROOT / "perf" / "locust.Dockerfile").read_bytes(),
        "requirements-locust.txt": ROOT / "perf" / "requirements-locust.txt",
    }
    files.update({f"perf/{m}": ROOT / "perf" / m for m in PERF_MODULES})
    args = {"BASE_IMAGE": python_base}
    cas = extra_ca_certs()
    if cas:
        args["EXTRA_CA_CERTS"] = cas
    with step(f"Locust image {IMAGE}"):
        docker.ensure_image([IMAGE], files, build_args=args, extra=[docker.image_id(python_base)])
    return IMAGE


def _pod_spec(role: str, command: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        # `sh -c "...; sleep 3600"` as PID 1 ignores SIGTERM: gone at once when deleted.
        "terminationGracePeriodSeconds": 0,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": role, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", command],
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "securityContext": RESTRICTED,
            "volumeMounts": [{"name": "locustfile", "mountPath": "/locust"},
                             {"name": "results", "mountPath": RESULTS}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "1", "memory": "512Mi"}},
        }],
        "volumes": [{"name": "locustfile", "configMap": {"name": NAME}},
                    {"name": "results", "emptyDir": {}}],
    }  # fmt: skip


def _job(
    name: str, role: str, command: str, env: dict[str, str], parallelism: int, run: str
) -> dict:
    """A Job of `parallelism` pods, labelled with its role and the `run` it belongs to."""
    labels = {**LABELS, "app.kubernetes.io/component": role, RUN_LABEL: run}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "parallelism": parallelism,
            "completions": parallelism,
            "backoffLimit": 0,
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(role, command, env)},
        },
    }


class InCluster:
    """Distributed Locust runs against one release; `open()` before, `close()` after."""

    def __init__(self, release: Release, kube: Kube, workers: int) -> None:
        if workers < 1:
            raise HarnessError(f"--workers must be at least 1, not {workers}")
        self.release, self.kube, self.workers = release, kube, workers
        self.connected: list[int] = []
        self._values = Path(tempfile.mkdtemp(prefix="todo-perf-")) / "locust-may-reach-mcp.yaml"

    @property
    def backend_url(self) -> str:
        return f"http://{self.release.fullname}-backend:8000"

    @property
    def mcp_url(self) -> str:
        return f"http://{self.release.fullname}-mcp-server:8001/mcp"

    def _kubectl(self, *args: str, **kwargs):
        return kubectl(self.release.kubeconfig, "-n", self.release.namespace, *args, **kwargs)

    def open(self) -> None:
        """The locustfile ConfigMap, the master's Service, the MCP server open to Locust."""
        locustfile = (ROOT / "perf" / "locustfile.py").read_text()
        configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": NAME, "labels": LABELS},
                     "data": {"locustfile.py": locustfile}}  # fmt: skip
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": f"{NAME}-master", "labels": LABELS},
                   "spec": {"selector": {**LABELS, "app.kubernetes.io/component": "master"},
                            "ports": [{"name": "locust", "port": MASTER_PORT}]}}  # fmt: skip
        doc = {"apiVersion": "v1", "kind": "List", "items": [configmap, service]}
        self._kubectl("apply", "-f", "-", input_text=json.dumps(doc), quiet=True)
        self._values.write_text(
            "networkPolicy:\n  mcpServerExtraFrom:\n    - podSelector:\n        matchLabels:\n"
            f"          app.kubernetes.io/name: {NAME}\n"
        )
        # Part of the release's values until close(), so the phases' own upgrades (HPA on,
        # replicas pinned) keep Locust's pods let through to the MCP server.
        self.release.values_files = [*self.release.values_files, self._values]
        self.release.upgrade(timeout="4m")

    def close(self) -> None:
        self._kubectl("delete", "job,service,configmap", "-l", f"app.kubernetes.io/name={NAME}",
                      "--ignore-not-found", "--wait=false", check=False, quiet=True)  # fmt: skip
        self.release.values_files = [p for p in self.release.values_files if p != self._values]
        self.release.upgrade(timeout="4m", check=False)

    def run(self, name: str, env: dict[str, str], duration: float, out: Path) -> Path:
        """One distributed run; returns the merged samples file (in `out`)."""
        common = {**env, "PERF_MCP_URL": self.mcp_url,
                  "PERF_SAMPLES_FILE": f"{RESULTS}/samples.csv"}  # fmt: skip
        locust = "locust -f /locust/locustfile.py --loglevel INFO"
        master = (
            f"{locust} --master --headless --expect-workers {self.workers} "
            f"--expect-workers-max-wait 180 -H {self.backend_url} "
            f"--csv {RESULTS}/{name} --csv-full-history --html {RESULTS}/{name}.html "
            f"--only-summary; echo $? > {RESULTS}/exit; sleep 3600"
        )
        # A worker is done once its samples file exists (written whole when it quits): the
        # process itself may linger after that, held by threads its libraries left behind.
        worker = (
            f"{locust} --worker --master-host {NAME}-master --master-port {MASTER_PORT}; sleep 3600"
        )
        run = f"{name}-{secrets.token_hex(3)}"
        jobs = [_job(f"{NAME}-master", "master", master, common, 1, run),
                _job(f"{NAME}-worker", "worker", worker, common, self.workers, run)]  # fmt: skip
        self._kubectl("delete", "job", "-l", f"app.kubernetes.io/name={NAME}", "--wait=true",
                      "--ignore-not-found", quiet=True)  # fmt: skip
        doc = {"apiVersion": "v1", "kind": "List", "items": jobs}
        self._kubectl("apply", "-f", "-", input_text=json.dumps(doc), quiet=True)
        say(f"{name}: Locust master and {self.workers} worker(s) in the cluster, ~{duration:.0f} s")
        master_pod = wait_until(lambda: self._pods("master", run)[:1], timeout=120,
                                what="the Locust master pod")[0]  # fmt: skip
        wait_until(lambda: self._done(master_pod), timeout=duration + 420, interval=5,
                   what="the distributed Locust run to finish")  # fmt: skip
        log = self._kubectl("logs", master_pod, capture=True, quiet=True).stdout
        (out / f"{name}.log").write_text(log)
        self.connected.append(max_workers_connected(log))
        self._fetch(master_pod, out, name)
        merged = out / f"samples_{name}.csv"
        worker_pods = self._pods("worker", run)
        try:
            for pod in worker_pods:
                wait_until(lambda pod=pod: self._done(pod, "samples.csv"), timeout=120,
                           what=f"{pod} to write its samples")  # fmt: skip
        finally:  # every worker's log beside the master's, finished or not
            for pod in worker_pods:
                log = self._kubectl("logs", pod, capture=True, quiet=True, check=False).stdout
                (out / f"{name}-{pod}.log").write_text(log)
        merge_samples([self._cat(pod, f"{RESULTS}/samples.csv") for pod in worker_pods], merged)
        self._kubectl("delete", "job", "-l", f"app.kubernetes.io/name={NAME}", "--wait=false",
                      quiet=True)  # fmt: skip
        return merged

    def _pods(self, role: str, run: str) -> list[str]:
        """The pods of one role of one run (never a pod of the run before)."""
        selector = (
            f"app.kubernetes.io/name={NAME},app.kubernetes.io/component={role},{RUN_LABEL}={run}"
        )
        names = "jsonpath={.items[*].metadata.name}"
        got = self._kubectl("get", "pods", "-l", selector, "-o", names, capture=True, quiet=True)
        return got.stdout.split()

    def _done(self, pod: str, marker: str = "exit") -> bool:
        got = self._kubectl("exec", pod, "--", "test", "-f", f"{RESULTS}/{marker}", check=False,
                            capture=True, quiet=True)  # fmt: skip
        return got.returncode == 0

    def _cat(self, pod: str, path: str) -> str:
        return self._kubectl("exec", pod, "--", "cat", path, capture=True, quiet=True).stdout

    def _fetch(self, pod: str, out: Path, name: str) -> None:
        """The master's CSV and HTML files, as a local run writes them."""
        import subprocess

        from toolchain.tools import tool

        raw = subprocess.run(
            [str(tool("kubectl")), "--kubeconfig", str(self.release.kubeconfig), "-n",
             self.release.namespace, "exec", pod, "--", "tar", "cf", "-", "-C", RESULTS, "."],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar.getmembers():
                if member.isfile() and Path(member.name).name.startswith(name):
                    data = tar.extractfile(member)
                    if data is not None:
                        (out / Path(member.name).name).write_bytes(data.read())


def max_workers_connected(master_log: str) -> int:
    """The most workers the master reported connected ("... N workers connected")."""
    counts = [int(n) for n in re.findall(r"(\d+) workers? connected", master_log)]
    return max(counts, default=0)


def merge_samples(texts: list[str], into: Path) -> None:
    """The workers' sample files as one (one header)."""
    lines: list[str] = []
    for text in texts:
        rows = text.splitlines()
        if not rows:
            continue
        if not lines:
            lines.append(rows[0])
        lines += rows[1:]
    if not lines:
        raise HarnessError("no worker wrote any request sample")
    into.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["image"]:
        print("usage: python -m perf.distributed image", file=sys.stderr)
        return 2
    from toolchain import decide

    print(build_image(decide.current().images.python_base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
