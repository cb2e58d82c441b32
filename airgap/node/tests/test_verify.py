"""Recognising image pulls in a cluster's events (the offline check must fail on them)."""

from __future__ import annotations

from airgap.node import verify


def _event(reason: str, message: str, name: str = "pod-a") -> dict:
    return {"reason": reason, "message": message, "involvedObject": {"name": name}}


def test_pull_attempts_are_reported() -> None:
    events = {
        "items": [
            _event("Pulled", 'Container image "registry.k8s.io/pause:3.10" already present'),
            _event("Pulling", 'Pulling image "docker.io/library/busybox:latest"', "bb"),
            _event("Failed", 'Failed to pull image "x": dial tcp: lookup registry', "x"),
            _event("BackOff", 'Back-off pulling image "x"', "x"),
            _event("Failed", "Error: container create failed", "y"),
            _event("Scheduled", "Successfully assigned default/a to node"),
        ]
    }
    found = verify.pull_events(events)
    assert len(found) == 3
    assert found[0].startswith("bb: Pulling")
    assert all(not f.startswith("y:") for f in found)


def test_no_events_no_pulls() -> None:
    assert verify.pull_events({"items": []}) == []
    assert verify.pull_events({}) == []


def test_smoke_manifest_never_pulls() -> None:
    manifest = verify.SMOKE_MANIFEST.format(image="registry.k8s.io/kube-proxy:v1.34.0")
    assert "imagePullPolicy: Never" in manifest
    assert "image: registry.k8s.io/kube-proxy:v1.34.0" in manifest
    assert "claimName: airgap-smoke" in manifest
