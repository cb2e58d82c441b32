"""Diagnostics saved when something fails: events, describes, every pod's logs, helm state.

`dump(target, kubeconfig, namespace, others)` writes one file per view under
`target`; nothing here raises (a failing diagnostic is written as its error).
"""

# ruff: noqa: S603 - runs the pinned kubectl/helm with fixed arguments

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from toolchain.tools import tool

# `helm list` as the failure artifacts run it (with Helm 4).
ARTIFACT_LIST = ("list", "-q")


def _save(target: Path, name: str, argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        text = result.stdout + (result.stderr or "")
    except (OSError, subprocess.TimeoutExpired) as exc:
        text = f"could not run {argv[:4]}: {exc!r}"
        result = None
    (target / name).write_text(text)
    return result.stdout if result else ""


def dump(target: Path, kubeconfig: Path, namespace: str, others: Sequence[str] = ()) -> Path:
    """The cluster's events and nodes, then the namespace's views; each of `others` (more
    namespaces of the run, an upgrade's release say) in a folder of its own under `target`."""
    target.mkdir(parents=True, exist_ok=True)
    kubectl = [str(tool("kubectl")), "--kubeconfig", str(kubeconfig)]
    _save(target, "cluster-events.txt", [*kubectl, "get", "events", "-A",
                                         "--sort-by=.lastTimestamp"])  # fmt: skip
    _save(target, "nodes.txt", [*kubectl, "describe", "nodes"])
    _save(target, "kube-system-pods.txt", [*kubectl, "-n", "kube-system", "get", "pods", "-o",
                                           "wide"])  # fmt: skip
    _namespace(target, kubeconfig, namespace)
    for other in others:
        if other != namespace and _exists(kubectl, other):
            _namespace(target / other, kubeconfig, other)
    return target


def _exists(kubectl: list[str], namespace: str) -> bool:
    try:
        found = subprocess.run([*kubectl, "get", "namespace", namespace, "-o", "name"],
                               capture_output=True, check=False, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0


def _namespace(target: Path, kubeconfig: Path, namespace: str) -> None:
    """Events, describe of non-ready objects, every pod's logs (and previous logs), helm state."""
    target.mkdir(parents=True, exist_ok=True)
    kubectl = [str(tool("kubectl")), "--kubeconfig", str(kubeconfig)]
    ns = ["-n", namespace]

    def save(name: str, *args: str) -> str:
        return _save(target, name, [*kubectl, *args])

    save("events.txt", *ns, "get", "events", "--sort-by=.lastTimestamp", "-o", "wide")
    save("all.txt", *ns, "get", "all,pvc,networkpolicy,pdb,hpa,secret,configmap", "-o", "wide")
    try:
        pods = json.loads(save("pods.json", *ns, "get", "pods", "-o", "json"))["items"]
    except ValueError:
        pods = []
    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in status.get("conditions", []))  # fmt: skip
        if not ready:
            save(f"describe-pod-{name}.txt", *ns, "describe", "pod", name)
        statuses = (status.get("containerStatuses") or []) + (
            status.get("initContainerStatuses") or []
        )
        containers = [c["name"] for c in pod["spec"].get("initContainers", [])]
        containers += [c["name"] for c in pod["spec"]["containers"]]
        for c in containers:
            save(f"logs-{name}-{c}.txt", *ns, "logs", name, "-c", c)
            if any(s["name"] == c and s.get("restartCount", 0) > 0 for s in statuses):
                save(f"logs-{name}-{c}-previous.txt", *ns, "logs", name, "-c", c, "--previous")
    for kind in ("deployment", "statefulset", "job", "hpa", "pdb"):
        try:
            objects = json.loads(save(f"{kind}s.json", *ns, "get", kind, "-o", "json"))["items"]
        except ValueError:
            continue
        for obj in objects:
            st, spec = obj.get("status", {}), obj.get("spec", {})
            if kind in ("hpa", "pdb") or st.get("readyReplicas", 0) != spec.get("replicas", 1):
                save(f"describe-{kind}-{obj['metadata']['name']}.txt", *ns, "describe", kind,
                     obj["metadata"]["name"])  # fmt: skip
    # Helm 4 reads the releases Helm 3 wrote (the same storage), so one helm lists them all;
    # its `list` shows every status (Helm 3 needed --all, which Helm 4 refuses).
    helm = [str(tool("helm")), "--kubeconfig", str(kubeconfig)]
    for release in _save(target, "helm-list.txt", [*helm, *ARTIFACT_LIST, *ns]).split():
        for verb in ("status", "history"):
            _save(target, f"helm-{verb}-{release}.txt", [*helm, verb, release, *ns])
