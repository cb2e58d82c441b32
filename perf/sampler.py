"""Sample the release while load runs: replicas (Deployments, HPA) and pod CPU/memory.

A background thread polls the Kubernetes API every few seconds (Deployment
status, the MCP server's HorizontalPodAutoscaler, metrics.k8s.io pod usage)
and keeps one row per poll, timed in seconds since the phase started. API
errors (e.g. metrics-server has no data yet) are kept in the row, never
raised: sampling must not break the load test.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

COMPONENT = "app.kubernetes.io/component"


def deployment_rows(deployments: Sequence[Any]) -> dict[str, dict]:
    """{component: {"replicas": wanted, "ready": ready}} from V1Deployment objects."""
    out = {}
    for dep in deployments:
        labels = dep.metadata.labels or {}
        component = labels.get(COMPONENT, dep.metadata.name)
        out[component] = {
            "replicas": dep.spec.replicas or 0,
            "ready": (dep.status.ready_replicas or 0) if dep.status else 0,
        }
    return out


def hpa_row(hpa: Any) -> dict | None:
    """Current/desired replicas and CPU utilisation of a V2HorizontalPodAutoscaler."""
    if hpa is None:
        return None
    status = hpa.status
    cpu = None
    for metric in (status.current_metrics or []) if status else []:
        resource = getattr(metric, "resource", None)
        if resource is not None and resource.name == "cpu" and resource.current is not None:
            cpu = resource.current.average_utilization
    return {
        "current": (status.current_replicas or 0) if status else 0,
        "desired": (status.desired_replicas or 0) if status else 0,
        "min": hpa.spec.min_replicas,
        "max": hpa.spec.max_replicas,
        "cpu_pct": cpu,
    }


def pod_rows(
    metrics: dict[str, dict[str, tuple[float, float]]], components: dict[str, str]
) -> list[dict]:
    """Per-pod CPU (millicores) and memory (MiB), containers summed."""
    rows = []
    for pod, containers in sorted(metrics.items()):
        cpu = sum(c[0] or 0.0 for c in containers.values())
        mem = sum(c[1] or 0.0 for c in containers.values())
        rows.append(
            {"pod": pod, "component": components.get(pod, "?"), "cpu_m": cpu, "mem_mib": mem}
        )
    return rows


def replica_changes(rows: Sequence[dict], component: str = "mcp-server") -> list[dict]:
    """[{"t", "from", "to"}] each time the component's ready replica count changed."""
    changes = []
    last = None
    for row in rows:
        dep = (row.get("deployments") or {}).get(component)
        if dep is None:
            continue
        if last is not None and dep["ready"] != last:
            changes.append({"t": row["t"], "from": last, "to": dep["ready"]})
        last = dep["ready"]
    return changes


def first_time_at(
    rows: Sequence[dict], replicas: int, component: str = "mcp-server"
) -> float | None:
    """Seconds into the phase when `replicas` ready replicas were first seen."""
    for row in rows:
        dep = (row.get("deployments") or {}).get(component)
        if dep is not None and dep["ready"] >= replicas:
            return row["t"]
    return None


def busiest_share(rows: Sequence[dict], component: str = "mcp-server") -> dict | None:
    """How the component's CPU is split across its pods in the last sample with 2+ of them.

    {"t", "pods": {pod: millicores}, "share": busiest pod's fraction of the total}; None
    when no sample had two or more pods with metrics.
    """
    for row in reversed(rows):
        pods = {p["pod"]: p["cpu_m"] for p in row.get("pods") or [] if p["component"] == component}
        total = sum(pods.values())
        if len(pods) >= 2 and total > 0:
            return {"t": row["t"], "pods": pods, "share": max(pods.values()) / total}
    return None


def first_desired_at(rows: Sequence[dict], replicas: int) -> float | None:
    """Seconds into the phase when the HPA first asked for >= `replicas` replicas."""
    for row in rows:
        hpa = row.get("hpa") or {}
        if (hpa.get("desired") or 0) >= replicas:
            return row["t"]
    return None


class Sampler:
    """Poll `snapshot()` every `interval` s in a thread; rows accumulate in `.rows`."""

    def __init__(self, snapshot: Callable[[], dict], interval: float = 5.0) -> None:
        self._snapshot = snapshot
        self.interval = interval
        self.rows: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0

    def start(self) -> Sampler:
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="perf-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            t = round(time.monotonic() - self.t0, 1)
            try:
                row = self._snapshot()
            except Exception as exc:  # keep sampling; the row says what failed
                row = {"error": f"{type(exc).__name__}: {exc}"}
            row["t"] = t
            self.rows.append(row)
            self._stop.wait(self.interval)

    def stop(self) -> list[dict]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self.rows


def kube_snapshot(kube: Any) -> Callable[[], dict]:
    """A snapshot function over a `harness.kube.Kube` (the release's API handles)."""

    def snapshot() -> dict:
        row: dict[str, Any] = {}
        row["deployments"] = deployment_rows(kube.deployments())
        row["hpa"] = hpa_row(kube.hpa("mcp-server"))
        try:
            components = {
                p.metadata.name: (p.metadata.labels or {}).get(COMPONENT, "?") for p in kube.pods()
            }
            row["pods"] = pod_rows(kube.pod_metrics(), components)
        except Exception as exc:  # metrics.k8s.io may lag behind new pods
            row["pods"] = []
            row["metrics_error"] = f"{type(exc).__name__}: {exc}"
        return row

    return snapshot


def saturation(
    rows: Sequence[dict], start: float, end: float, limits: dict[str, float]
) -> list[dict]:
    """Each component's busiest pod over [start, end): mean CPU and its share of the limit.

    Sorted with the most saturated first: the process that runs out of CPU first
    at that load. `limits` is component -> CPU limit in millicores.
    """
    per_pod: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        if start <= row["t"] < end:
            for pod in row.get("pods") or []:
                per_pod[(pod["component"], pod["pod"])].append(pod["cpu_m"])
    busiest: dict[str, float] = {}
    for (component, _), values in per_pod.items():
        busiest[component] = max(busiest.get(component, 0.0), sum(values) / len(values))
    out = [
        {"component": c, "cpu_m": round(cpu), "limit_m": limits.get(c),
         "share": cpu / limits[c] if limits.get(c) else None}
        for c, cpu in busiest.items()
    ]  # fmt: skip
    return sorted(out, key=lambda r: r["share"] or 0.0, reverse=True)
