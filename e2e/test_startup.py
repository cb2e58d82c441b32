"""Promise 2: each pod goes from creation to Ready in under 30 s (every value recorded)."""

from __future__ import annotations

import statistics

import pytest

from harness.kube import ready_time

pytestmark = pytest.mark.promise(2)

LIMIT_SECONDS = 30.0


def test_pods_ready_within_30s(kube, results):
    rows = []
    for pod in kube.pods():
        if pod.metadata.owner_references and pod.metadata.owner_references[0].kind == "Job":
            continue  # hooks/jobs complete instead of becoming Ready
        ready = ready_time(pod)
        assert ready is not None, f"{pod.metadata.name} is not Ready"
        seconds = (ready - pod.metadata.creation_timestamp).total_seconds()
        rows.append(
            {
                "pod": pod.metadata.name,
                "component": pod.metadata.labels.get("app.kubernetes.io/component"),
                "seconds": seconds,
            }
        )
    by_component: dict[str, list[float]] = {}
    for row in rows:
        by_component.setdefault(row["component"], []).append(row["seconds"])
    results.put(
        "startup",
        {
            "pods": rows,
            "median_by_component": {c: statistics.median(v) for c, v in by_component.items()},
        },
    )
    slow = [r for r in rows if r["seconds"] >= LIMIT_SECONDS]
    assert not slow, f"pods slower than {LIMIT_SECONDS} s to Ready: {slow}"
    assert {"backend", "mcp-server", "postgresql"} <= set(by_component), by_component
