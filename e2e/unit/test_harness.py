"""Unit tests of the e2e harness's pure parts (no Docker, no cluster)."""

from __future__ import annotations

import json

import pytest

from airgap import versions
from e2e import harness, report


def test_local_images_when_forced(monkeypatch):
    monkeypatch.setenv("TODO_IMAGE_SOURCE", "local")
    images = harness.choose_images()
    assert images.source == "local"
    assert images.node == versions.KIND_NODE_LOCAL
    assert images.postgres == f"{versions.POSTGRES_LOCAL_REPOSITORY}:{versions.POSTGRES_TAG}"
    assert images.metrics_server == versions.METRICS_SERVER_LOCAL
    assert images.app == "todo-app:dev"


def test_upstream_version_picks_the_pinned_node(monkeypatch):
    monkeypatch.setenv("TODO_IMAGE_SOURCE", "upstream")
    minor, node = list(versions.KUBERNETES_MATRIX.items())[-1]
    assert harness.choose_images(k8s_version=minor).node == node
    assert harness.choose_images(node_image="my/node:x").node == "my/node:x"


def test_offline_refuses_a_version_it_cannot_have(monkeypatch):
    monkeypatch.setenv("TODO_IMAGE_SOURCE", "local")
    other = next(
        m for m in versions.KUBERNETES_MATRIX if not versions.KUBERNETES_VERSION.startswith(m)
    )
    with pytest.raises(harness.HarnessError, match="needs a registry"):
        harness.choose_images(k8s_version=other)
    with pytest.raises(harness.HarnessError, match="no node image pinned"):
        harness.choose_images(k8s_version="v1.20")


def test_bad_image_source_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TODO_IMAGE_SOURCE", "dockerhub")
    with pytest.raises(harness.HarnessError, match="upstream"):
        harness.choose_images()


def test_values_order_keeps_test_access_last(monkeypatch):
    monkeypatch.setenv("TODO_IMAGE_SOURCE", "local")
    args = harness.values_args(harness.choose_images(), ["prod.yaml"])
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    assert files == [str(harness.VALUES_E2E), "prod.yaml"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert "backend.service.nodePort=30080" in sets
    assert "mcpServer.autoscaling.enabled=true" in sets
    assert f"postgresql.image.repository={versions.POSTGRES_LOCAL_REPOSITORY}" in sets
    assert args.index("prod.yaml") < args.index("--set")


def test_kind_config_maps_the_nodeport_to_loopback():
    text = harness.KIND_CONFIG.read_text()
    assert "containerPort: 30080" in text and "hostPort: 30080" in text
    assert 'listenAddress: "127.0.0.1"' in text


def test_metrics_server_manifest_renders_with_the_image():
    text = harness.render(harness.METRICS_SERVER_MANIFEST, METRICS_SERVER_IMAGE="x/ms:v1")
    assert "image: x/ms:v1" in text and "--kubelet-insecure-tls" in text
    with pytest.raises(harness.HarnessError, match="placeholder"):
        harness.render(harness.METRICS_SERVER_MANIFEST)


def test_phases_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "REPORTS_DIR", tmp_path)
    monkeypatch.setattr(harness, "PHASES_FILE", tmp_path / "phases.json")
    with harness.phase("one"):
        pass
    with pytest.raises(RuntimeError), harness.phase("two"):
        raise RuntimeError("boom")
    phases = {p["name"]: p["status"] for p in json.loads((tmp_path / "phases.json").read_text())}
    assert phases == {"one": "ok", "two": "failed"}


def test_missing_tool_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TODO_CACHE_DIR", str(tmp_path))
    with pytest.raises(harness.HarnessError, match="python -m airgap tools"):
        harness.tool("kind")


def test_report_marks_each_promise(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "PHASES_FILE", tmp_path / "none.json")
    results = {
        "run_id": "r1",
        "outcomes": {"1": {"test_a": "passed"}, "2": {"test_b": "failed"}},
        "startup": {
            "pods": [{"pod": "p", "component": "backend", "seconds": 2.0}],
            "median_by_component": {"backend": 2.0},
        },
    }
    (tmp_path / "e2e-results.json").write_text(json.dumps(results))
    text = report.write_report(tmp_path).read_text()
    assert "| 1 | install | PASS |" in text
    assert "| 2 | startup | FAIL |" in text
    assert "| 3 | health | not run |" in text
    assert "| p | backend | 2.0 |" in text
