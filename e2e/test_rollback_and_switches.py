"""Promise 7: a broken upgrade fails and `helm rollback` restores the release;
`mcpServer.enabled=false` removes the MCP resources and the backend answers the
documented 503; enabling it again restores service with the data intact.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.kube import selector, wait_for

pytestmark = pytest.mark.promise(7)


def _history(release) -> list[dict]:
    return json.loads(
        release.helm("history", release.name, "-o", "json", capture=True, quiet=True).stdout
    )


def _settled(call, *args, timeout: float = 45, **kwargs):
    """Call `api.<verb>` until it stops failing at the transport level (right after a rollout
    the NodePort may still route to a pod that is shutting down); count those failures."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call(*args, **kwargs)
        except httpx.TransportError as exc:
            ROLLOUT_RESETS.append(repr(exc))
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


ROLLOUT_RESETS: list[str] = []


def _images(kube) -> set[str]:
    return {c.image for d in kube.deployments() for c in d.spec.template.spec.containers}


IMAGE_MISSING = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")
BROKEN_TAG = "e2e-broken-does-not-exist"
BROKEN_REGISTRY = "127.0.0.1:1"  # in a node: refused at once


def _pods_on_tag(kube, tag: str) -> list[str]:
    """The release's pods (terminating ones too) with a container of that image tag."""
    return [pod.metadata.name for pod in kube.all_pods() for c in pod.spec.containers
            if c.image.endswith(f":{tag}")]  # fmt: skip


def _waiting_for_image(kube) -> bool:
    return any(
        status.state and status.state.waiting and status.state.waiting.reason in IMAGE_MISSING
        for pod in kube.all_pods()
        for status in [
            *(pod.status.init_container_statuses or []),
            *(pod.status.container_statuses or []),
        ]  # fmt: skip
    )


def test_broken_upgrade_fails_and_rollback_restores(release, kube, api, user):
    kept = api.post("/api/v1/tasks", json={"title": "survives the rollback"}, headers=user.headers)
    assert kept.status_code == 201, kept.text
    good_revision = _history(release)[-1]["revision"]
    good_images = _images(kube)

    # A missing image on a registry that refuses at once (nothing listens on the node's port
    # 1): a missing tag on an unreachable registry would keep each pull waiting for its
    # DNS to time out (offline, about 50 s a pod, one pod after another).
    missing = [f"image.repository={BROKEN_REGISTRY}/todo-app", f"image.tag={BROKEN_TAG}"]
    broken = release.upgrade(sets=missing, timeout="5s", check=False)
    assert broken.returncode != 0, "an upgrade to a missing image must fail"
    assert _history(release)[-1]["status"] == "failed"
    # Failed for the reason given: a new pod cannot get its image.
    wait_for(lambda: _waiting_for_image(kube), timeout=60, what="a new pod stuck on its image")
    # The old pods keep serving while the broken rollout is stuck.
    assert api.get("/ready").status_code == 200

    release.rollback(good_revision, timeout="3m")
    history = _history(release)
    assert history[-1]["status"] == "deployed"
    assert "Rollback" in history[-1]["description"]
    for component in ("backend", "mcp-server"):
        kube.wait_deployment_available(component, timeout=120)
    # Restored means the broken pods are gone too (a pod the rollback deleted stays while
    # the kubelet is still pulling its image).
    wait_for(lambda: not _pods_on_tag(kube, BROKEN_TAG), timeout=240, what="the broken pods gone")
    assert _images(kube) == good_images
    r = _settled(api.get, f"/api/v1/tasks/{kept.json()['id']}", headers=user.headers)
    assert r.status_code == 200, r.text


def test_disable_mcp_removes_resources_and_backend_answers_503(release, kube, api, user, results):
    before = api.post(
        "/api/v1/tasks", json={"title": "kept while MCP is off"}, headers=user.headers
    )
    assert before.status_code == 201
    release.upgrade(sets=["mcpServer.enabled=false"], timeout="3m")

    def mcp_objects() -> list[str]:
        sel = selector("mcp-server")
        found = []
        ns = kube.namespace
        for kind, items in (
            ("deployment", kube.apps.list_namespaced_deployment(ns, label_selector=sel).items),
            ("service", kube.core.list_namespaced_service(ns, label_selector=sel).items),
            (
                "hpa",
                kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(
                    ns, label_selector=sel
                ).items,
            ),
            (
                "pdb",
                kube.policy.list_namespaced_pod_disruption_budget(ns, label_selector=sel).items,
            ),
            (
                "networkpolicy",
                kube.networking.list_namespaced_network_policy(ns, label_selector=sel).items,
            ),
            ("configmap", kube.core.list_namespaced_config_map(ns, label_selector=sel).items),
        ):
            found += [f"{kind}/{o.metadata.name}" for o in items]
        return found

    try:
        assert mcp_objects() == [], mcp_objects()
        # Terminating pods count: through their preStop delay they still serve open
        # connections, and an old backend pod would still call the (draining) MCP server.
        wait_for(lambda: not kube.all_pods("mcp-server"), timeout=90, what="MCP pods gone")
        kube.wait_deployment_available("backend", timeout=120)
        wait_for(
            lambda: not kube.terminating_pods("backend"), timeout=90, what="old backend pods gone"
        )

        r = _settled(api.get, "/api/v1/tasks", headers=user.headers)
        assert r.status_code == 503, r.text
        assert "disabled" in r.json()["detail"]
        r = _settled(api.post, "/api/v1/tasks", json={"title": "refused"}, headers=user.headers)
        assert r.status_code == 503 and "disabled" in r.json()["detail"]
        ready = api.get("/ready")
        assert ready.status_code == 200, f"readiness must not fail when MCP is off: {ready.text}"

    finally:
        # Always back on: the tests after this one need the MCP server.
        release.upgrade(sets=["mcpServer.enabled=true"], timeout="3m")
    kube.wait_deployment_available("mcp-server", timeout=120)
    kube.wait_deployment_available("backend", timeout=120)
    deadline = time.monotonic() + 60
    while True:
        r = _settled(api.get, "/api/v1/tasks", params={"limit": 100}, headers=user.headers)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert r.status_code == 200, r.text
    ids = {t["id"] for t in r.json()["items"]}
    assert before.json()["id"] in ids, "a task stored before disabling MCP is gone"
    results.put("rollout_transport_errors", ROLLOUT_RESETS[-20:])
