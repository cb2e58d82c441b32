"""Promise 11: several nodes: replicas spread over them, and a node drain under load.

Where the cluster has more than one schedulable node and the values run more
than one pod of the backend and of the MCP server (the production values):
- the replicas of each land on different nodes;
- `kubectl drain` of a node that runs a backend pod (not PostgreSQL's: its
  volume is bound to its node), while an in-cluster client writes steadily,
  respects the PodDisruptionBudgets (ready pods never fall below what they
  allow), loses no acknowledged write, and its failed requests and longest
  gap go to the report. The node is uncordoned afterwards.
"""

from __future__ import annotations

import secrets
import threading
import time

import pytest

from e2e.steady import SteadyLoad
from harness.kube import kubectl, pod_ready

pytestmark = pytest.mark.promise(11)


def _schedulable_nodes(kube) -> list[str]:
    nodes = []
    for node in kube.core.list_node().items:
        taints = node.spec.taints or []
        if node.spec.unschedulable or any(t.effect == "NoSchedule" for t in taints):
            continue
        nodes.append(node.metadata.name)
    return nodes


def _nodes_of(kube, component: str) -> list[str]:
    return [p.spec.node_name for p in kube.ready_pods(component)]


@pytest.fixture(scope="module")
def several(kube):
    nodes = _schedulable_nodes(kube)
    if len(nodes) < 2:
        pytest.skip(f"not applicable: one schedulable node ({', '.join(nodes)}), nothing to spread")
    backend = kube.deployment("backend")
    if (backend.spec.replicas or 1) < 2:
        pytest.skip(
            "not applicable: these values run one backend pod (the production values run two)"
        )
    return nodes


def test_replicas_of_each_app_land_on_different_nodes(kube, several, results):
    spread = {c: _nodes_of(kube, c) for c in ("backend", "mcp-server", "postgresql")}
    results.put("drain", {"spread": spread, "steps": []})
    for component in ("backend", "mcp-server"):
        placed = spread[component]
        assert len(placed) >= 2, f"{component}: {placed}"
        assert len(set(placed)) == len(placed), f"{component} pods share a node: {placed}"


def _min_ready(kube, stop: threading.Event, seen: dict[str, int]) -> None:
    while not stop.is_set():
        for component in ("backend", "mcp-server"):
            ready = sum(1 for p in kube.pods(component) if pod_ready(p))
            seen[component] = min(seen.get(component, ready), ready)
        time.sleep(0.5)


def test_drain_respects_the_budgets_and_loses_no_acknowledged_write(
    kube, release, several, results
):
    postgres_node = _nodes_of(kube, "postgresql")[0]
    victim = next(n for n in _nodes_of(kube, "backend") if n != postgres_node)
    budgets = {
        pdb.metadata.labels.get("app.kubernetes.io/component"): pdb
        for pdb in kube.policy.list_namespaced_pod_disruption_budget(kube.namespace).items
    }
    assert {"backend", "mcp-server"} <= set(budgets), f"PodDisruptionBudgets: {list(budgets)}"
    client = SteadyLoad(kube, release.images.app, f"http://{release.fullname}-backend:8000",
                        f"drain-{secrets.token_hex(4)}", secrets.token_urlsafe(16),
                        node=postgres_node)  # fmt: skip
    seen: dict[str, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_min_ready, args=(kube, stop, seen), daemon=True)
    client.start("drain")
    watcher.start()
    started = time.monotonic()
    try:
        drained = kubectl(release.kubeconfig, "drain", victim, "--ignore-daemonsets",
                          "--delete-emptydir-data", "--timeout=240s", capture=True,
                          check=False)  # fmt: skip
        drain_seconds = time.monotonic() - started
        kube.wait_deployment_available("backend", timeout=180)
        kube.wait_deployment_available("mcp-server", timeout=180)
    finally:
        stop.set()
        watcher.join(timeout=10)
        outcome = client.stop(f"drain {victim}")
        kubectl(release.kubeconfig, "uncordon", victim, check=False)
    lost = outcome.lost()
    allowed = {c: (kube.deployment(c).spec.replicas or 1) - 1 for c in ("backend", "mcp-server")}
    step = {**outcome.summary(), "drain_seconds": round(drain_seconds, 1), "node": victim,
            "min_ready": seen, "data_kept": "yes" if not lost else f"{len(lost)} lost"}  # fmt: skip
    results.put("drain", {**(results.data.get("drain") or {}), "steps": [step]})
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert not lost, f"acknowledged writes lost across the drain: {sorted(lost)[:20]}"
    for component, floor in allowed.items():
        assert seen.get(component, 0) >= floor, (
            f"{component}: {seen.get(component)} ready during the drain, the budget allows {floor}"
        )
