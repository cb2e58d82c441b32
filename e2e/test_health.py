"""Promise 3: /health and /ready answer 200 on both services through their Services."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.promise(3)


def test_backend_health_and_ready_via_nodeport(api):
    health = api.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = api.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready", body
    assert body["checks"], body


def test_mcp_health_and_ready_via_service(release, port_forward):
    import httpx

    with port_forward(f"svc/{release.fullname}-mcp-server", 8001) as url:
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = httpx.get(f"{url}/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"


def test_services_have_ready_endpoints(kube):
    from kubernetes import client

    for component in ("backend", "mcp-server", "postgresql"):
        svc = kube.service(component)
        assert svc is not None, f"no Service for {component}"
        slices = client.DiscoveryV1Api(kube.api_client).list_namespaced_endpoint_slice(
            kube.namespace, label_selector=f"kubernetes.io/service-name={svc.metadata.name}"
        )
        ready = [
            ep
            for s in slices.items
            for ep in s.endpoints or []
            if ep.conditions and ep.conditions.ready
        ]
        assert ready, f"Service {svc.metadata.name} has no ready endpoint"
