"""Prove the node image works offline: create a kind cluster from it and check it.

A check passes when `kind create cluster` returns, the node is Ready, every
pod in kube-system and local-path-storage is Ready, and no event mentions
pulling an image (everything had to be preloaded). Creation time is
measured per run; the cluster is deleted afterwards.
"""

# ruff: noqa: S603, S607  (a build driver: runs fixed argv lists of docker/go/gcc, never a shell string)

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from airgap import cache as cache_mod
from airgap.node.build import NODE_IMAGE, kubernetes_binaries
from airgap.progress import note, step

CLUSTER = "airgap-check"
NAMESPACES = ("kube-system", "local-path-storage")


class VerifyError(RuntimeError):
    pass


@dataclass
class RunResult:
    create_seconds: float
    ready_seconds: float
    pods: list[str] = field(default_factory=list)
    pull_events: list[str] = field(default_factory=list)


def _run(cmd: list[str], timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise VerifyError(f"`{' '.join(cmd[:4])} ...` failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def pull_events(events: dict) -> list[str]:
    """Events that show the kubelet tried (or failed) to pull an image."""
    found = []
    for item in events.get("items", []):
        reason = item.get("reason", "")
        message = item.get("message", "")
        tried = reason == "Pulling" or (
            reason in ("Failed", "ErrImagePull", "BackOff") and "pull" in message.lower()
        )
        if tried:
            found.append(f"{item['involvedObject'].get('name')}: {reason}: {message}")
    return found


def check_once(image: str = NODE_IMAGE, name: str = CLUSTER, keep: bool = False) -> RunResult:
    from airgap.cluster import create_cluster, delete_cluster

    kubectl = str(kubernetes_binaries() / "kubectl")
    kubeconfig = cache_mod.sub_dir("node", "verify") / f"{name}.kubeconfig"
    start = time.monotonic()
    # The shared path: deletes a leftover cluster, guards the kind network's egress.
    created = create_cluster(name, image, kubeconfig, wait="5m")
    k = [kubectl, "--kubeconfig", str(kubeconfig)]
    try:
        with step("wait for kube-system and local-path-storage pods"):
            for ns in NAMESPACES:
                deadline = time.monotonic() + 300
                while True:
                    pods = json.loads(_run([*k, "get", "pods", "-n", ns, "-o", "json"]).stdout)[
                        "items"
                    ]
                    if pods and all(_pod_ready(p) for p in pods):
                        break
                    if time.monotonic() > deadline:
                        states = [
                            f"{p['metadata']['name']}={p['status'].get('phase')}" for p in pods
                        ]
                        raise VerifyError(f"pods in {ns} not Ready after 5 min: {states}")
                    time.sleep(1)
        ready = time.monotonic() - start
        with step("workload smoke: DNS, Service routing, local-path volume"):
            smoke_workload(k)
        pods = _run([*k, "get", "pods", "-A", "-o", "wide"]).stdout
        note(pods)
        events = json.loads(_run([*k, "get", "events", "-A", "-o", "json"]).stdout)
        result = RunResult(created, ready, pods.splitlines(), pull_events(events))
        if result.pull_events:
            raise VerifyError("images were pulled:\n" + "\n".join(result.pull_events))
        nodes = _run([*k, "get", "nodes", "-o", "wide"]).stdout
        note(nodes)
        if " Ready " not in nodes:
            raise VerifyError(f"node not Ready:\n{nodes}")
        return result
    finally:
        if not keep:
            delete_cluster(name)


# A pod from an image already in the node (kube-proxy's has bash and getent): it
# resolves the API Service by name through CoreDNS, connects to its ClusterIP
# through kube-proxy's rules, and writes to a volume the local-path provisioner
# creates (which runs kind's helper image). imagePullPolicy Never: no pulls.
SMOKE_MANIFEST = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: airgap-smoke}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 16Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: airgap-smoke}}
spec:
  restartPolicy: Never
  containers:
    - name: smoke
      image: {image}
      imagePullPolicy: Never
      command:
        - bash
        - -ec
        - |
          ip=$(getent hosts kubernetes.default.svc.cluster.local | cut -d' ' -f1)
          timeout 5 bash -c "echo > /dev/tcp/$ip/443"
          echo ok > /data/probe
          echo "SMOKE-OK dns=$ip volume=$(cat /data/probe)"
      volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
    - name: data
      persistentVolumeClaim: {{claimName: airgap-smoke}}
"""


def smoke_workload(kubectl: list[str], timeout: float = 180) -> str:
    """Run SMOKE_MANIFEST's pod to completion; return its output line."""
    image = _run(
        [*kubectl, "-n", "kube-system", "get", "ds", "kube-proxy", "-o",
         "jsonpath={.spec.template.spec.containers[0].image}"]
    ).stdout.strip()  # fmt: skip
    manifest = SMOKE_MANIFEST.format(image=image)
    proc = subprocess.run(
        [*kubectl, "-n", "default", "apply", "-f", "-"], input=manifest, capture_output=True,
        text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise VerifyError(f"cannot create the smoke workload: {proc.stderr}")
    deadline = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < deadline:
        phase = _run(
            [*kubectl, "-n", "default", "get", "pod", "airgap-smoke", "-o",
             "jsonpath={.status.phase}"]
        ).stdout.strip()  # fmt: skip
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    logs = _run([*kubectl, "-n", "default", "logs", "airgap-smoke"], check=False).stdout
    if phase != "Succeeded" or "SMOKE-OK" not in logs:
        raise VerifyError(f"smoke pod ended {phase or 'not at all'}; output:\n{logs}")
    note(logs.strip())
    return logs.strip()


def _pod_ready(pod: dict) -> bool:
    if pod["status"].get("phase") == "Succeeded":
        return True
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def verify(runs: int = 1, keep: bool = False) -> list[RunResult]:
    results = []
    for i in range(runs):
        with step(f"verify run {i + 1}/{runs}"):
            results.append(check_once(keep=keep and i == runs - 1))
    creates = [r.create_seconds for r in results]
    readies = [r.ready_seconds for r in results]
    note(
        f"kind create cluster: median {statistics.median(creates):.1f}s "
        f"(runs: {', '.join(f'{s:.1f}' for s in creates)}); all pods Ready: median "
        f"{statistics.median(readies):.1f}s"
    )
    return results
