"""Promise 2: each pod goes from creation to Ready in under 30 s (every value recorded)."""

from __future__ import annotations

import statistics

import pytest

from harness.kube import ready_time

pytestmark = pytest.mark.promise(2)

LIMIT_SECONDS = 30.0


def test_pods_ready_within_30s(kube, results):
    rows = []
    pulled = _images_pulled(kube)
    for pod in kube.pods():
        if pod.metadata.owner_references and pod.metadata.owner_references[0].kind == "Job":
            continue  # hooks/jobs complete instead of becoming Ready
        ready = ready_time(pod)
        assert ready is not None, f"{pod.metadata.name} is not Ready"
        created = pod.metadata.creation_timestamp
        seconds = (ready - created).total_seconds()
        rows.append(
            {
                "pod": pod.metadata.name,
                "component": pod.metadata.labels.get("app.kubernetes.io/component"),
                "seconds": seconds,
                "created": created.isoformat(),
                "ready_at": ready.isoformat(),
                # Where the time went: created -> scheduled -> init done -> containers ready.
                "steps_s": _condition_times(pod, created),
                # ... and, between those, its images ready and its containers started.
                "image_pulled_s": _after(pulled.get(pod.metadata.name), created),
                "started_s": _after(_containers_started(pod), created),
            }
        )
    by_component: dict[str, list[float]] = {}
    for row in rows:
        by_component.setdefault(row["component"], []).append(row["seconds"])
    workloads = kube.deployments() + kube.statefulsets()
    objects_created = min(w.metadata.creation_timestamp for w in workloads)
    last_ready = max(ready_time(p) for p in kube.pods() if ready_time(p) is not None)
    results.put(
        "startup",
        {
            "pods": rows,
            "median_by_component": {c: statistics.median(v) for c, v in by_component.items()},
            "objects_created_to_all_ready_s": (last_ready - objects_created).total_seconds(),
        },
    )
    slow = [r for r in rows if r["seconds"] >= LIMIT_SECONDS]
    assert not slow, (
        f"pods slower than {LIMIT_SECONDS} s to Ready: {slow}; "
        f"what the cluster reported meanwhile: {_hindrances(kube, objects_created) or 'nothing'}"
    )
    assert {"backend", "mcp-server", "postgresql"} <= set(by_component), by_component


# Warnings that delay a pod for reasons outside the chart: the node, the runtime, storage.
HINDRANCES = {"FailedCreatePodSandBox", "FailedScheduling", "FailedMount", "ProvisioningFailed"}


def _hindrances(kube, since) -> list[str]:
    """Such warnings in any namespace since `since` (the storage provisioner has its own)."""
    events = kube.core.list_event_for_all_namespaces(field_selector="type=Warning").items
    return [
        f"{e.involved_object.namespace}/{e.involved_object.name}: {e.reason}: "
        f"{(e.message or '')[:200]}"
        for e in events
        if e.reason in HINDRANCES and (e.last_timestamp or e.event_time or since) >= since
    ]


def _after(moment, created) -> float | None:
    return None if moment is None else round((moment - created).total_seconds(), 1)


def _images_pulled(kube) -> dict:
    """pod -> when its last image was ready ("Pulled": pulled, or already on the node)."""
    found: dict = {}
    for event in kube.core.list_namespaced_event(kube.namespace).items:
        at = event.event_time or event.first_timestamp
        if event.reason != "Pulled" or event.involved_object.kind != "Pod" or at is None:
            continue
        name = event.involved_object.name
        found[name] = max(found.get(name, at), at)
    return found


def _containers_started(pod):
    """When the pod's last container started running."""
    started = [cs.state.running.started_at for cs in pod.status.container_statuses or []
               if cs.state and cs.state.running and cs.state.running.started_at]  # fmt: skip
    return max(started) if started else None


def _condition_times(pod, created) -> dict[str, float]:
    out = {}
    for cond in pod.status.conditions or []:
        if cond.status == "True" and cond.last_transition_time:
            out[cond.type] = round((cond.last_transition_time - created).total_seconds(), 1)
    return out
