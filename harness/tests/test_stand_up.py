"""The bring-up's guards on clusters it did not create, and its images step."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from harness import stand_up
from harness.settings import Settings
from toolchain import decide


@pytest.mark.parametrize("context", ["prod", "eu-production-1", "kind-prd", "live-cluster",
                                     "gke_acme_europe-west1_prod-eu"])  # fmt: skip
def test_production_like_context_names_are_recognised(context: str) -> None:
    assert stand_up.PRODUCTION_LIKE.search(context)


@pytest.mark.parametrize("context", ["kind-todo-e2e", "staging", "kind-outside", "productive-dev"])
def test_other_context_names_pass(context: str) -> None:
    assert not stand_up.PRODUCTION_LIKE.search(context)


def test_only_kind_contexts_name_a_kind_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stand_up.kind, "node_containers", lambda name: [f"{name}-control-plane"])
    assert stand_up.existing_kind_name("kind-outside") == "outside"
    assert stand_up.existing_kind_name("gke_acme") is None
    monkeypatch.setattr(stand_up.kind, "node_containers", lambda name: [])
    assert stand_up.existing_kind_name("kind-gone") is None


def _cluster(is_kind: bool) -> stand_up.kind.Cluster:
    return stand_up.kind.Cluster("c", Path("/nonexistent/kubeconfig"), is_kind=is_kind)


def _env(is_kind: bool, **given) -> stand_up.Environment:
    choice = decide.decide({"TODO_IMAGE_SOURCE": "upstream", "TODO_NETPOL_ENFORCER": "kindnet",
                            "TODO_BROWSER": "system"}, probe=None)  # fmt: skip
    return stand_up.Environment(Settings(**given), choice, _cluster(is_kind))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The images step's calls, with loading and waiting each needing the other started."""
    seen: list[str] = []
    load_started, wait_started = threading.Event(), threading.Event()

    def load(name: str, images: list[str]) -> None:
        load_started.set()
        assert wait_started.wait(5), "the load waited for the nodes to be ready"
        seen.append(f"load {name} {' '.join(images)}")

    def wait_ready(kubeconfig: Path) -> None:
        wait_started.set()
        if load_started.wait(0.5):
            seen.append("ready while loading")
        else:
            seen.append("ready")

    monkeypatch.setattr(stand_up, "cluster_images", lambda choice: ["app:1", "pg:1"])
    monkeypatch.setattr(stand_up.kind, "load", load)
    monkeypatch.setattr(stand_up, "wait_cluster_ready", wait_ready)
    monkeypatch.setattr(stand_up, "say", lambda message: seen.append(message))
    return seen


def test_kind_nodes_get_the_images_while_they_become_ready(calls: list[str]) -> None:
    env = _env(is_kind=True)
    stand_up.images_into_cluster(env, set())
    assert sorted(calls) == ["load c app:1 pg:1", "ready while loading"]
    assert env.images == env.choice.images  # loaded: the nodes see the local names


def test_another_cluster_without_a_registry_is_refused_before_anything_happens(
    calls: list[str],
) -> None:
    with pytest.raises(stand_up.HarnessError, match=r"cannot get todo-app:dev.*--registry REG"):
        stand_up.images_into_cluster(_env(is_kind=False), set())
    assert calls == []


def test_a_failed_load_fails_the_step(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    def load(name: str, images: list[str]) -> None:
        raise stand_up.HarnessError("kind load failed")

    monkeypatch.setattr(stand_up.kind, "load", load)
    with pytest.raises(stand_up.HarnessError, match="kind load failed"):
        stand_up.images_into_cluster(_env(is_kind=True), set())


def test_the_run_records_the_commit_it_tested() -> None:
    asked = ["git", "-C", str(stand_up.ROOT), "rev-parse", "HEAD"]
    head = subprocess.run(asked, capture_output=True, text=True, check=True)  # noqa: S603, S607
    head = head.stdout.strip()
    recorded = stand_up.commit()
    assert recorded["sha"] == head
    assert isinstance(recorded["dirty"], bool)


def test_versions_of_an_unreachable_cluster_are_recorded_as_an_error(tmp_path: Path) -> None:
    """The pinned tools and the chart are known without a cluster; what the cluster would
    say is replaced by why it could not be read, and nothing raises."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    cluster = stand_up.kind.Cluster("c", kubeconfig, is_kind=True)
    env = stand_up.Environment(settings=None, choice=None, cluster=cluster)
    found = stand_up.versions(env)
    assert found["chart"].startswith("todo-app ")
    assert found["helm"] == stand_up.pins.HELM_VERSION
    assert found["kind"] == stand_up.pins.KIND_VERSION
    assert found.get("kubernetes_server") is None
    assert "could not read the cluster's versions" in found["error"]


def test_a_local_registry_started_for_a_delivery_that_failed_is_removed_at_teardown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    choice = decide.decide({"TODO_IMAGE_SOURCE": "local", "TODO_NETPOL_ENFORCER": "kindnet",
                            "TODO_BROWSER": "system"}, probe=None)  # fmt: skip
    cluster = stand_up.kind.Cluster("c", tmp_path / "kubeconfig", is_kind=True, created=True)
    env = stand_up.Environment(Settings(local_registry=True), choice, cluster)
    started = stand_up.registry.LocalRegistry(created=True, volume_created=True)
    removed: list[stand_up.registry.LocalRegistry] = []

    def unreachable_nodes(name: str, pull_address: str, endpoint: str) -> None:
        raise stand_up.HarnessError("cannot write hosts.toml on c-control-plane")

    monkeypatch.setattr(stand_up.registry, "ensure_local_registry", lambda: started)
    monkeypatch.setattr(stand_up.kind, "point_nodes_at_registry", unreachable_nodes)
    monkeypatch.setattr(stand_up.kind, "delete", lambda name: None)
    monkeypatch.setattr(stand_up.registry, "remove_local_registry", removed.append)
    monkeypatch.setattr(stand_up.registry.LocalRegistry, "log", lambda self: "access log\n")
    monkeypatch.setattr(stand_up, "ROOT", tmp_path)
    with pytest.raises(stand_up.HarnessError, match="hosts.toml"):
        stand_up.images_into_cluster(env, set())
    assert env.delivery is None and "local registry todo-registry" in env.created[0]
    stand_up.tear_down(env)
    assert removed == [started]
    assert (tmp_path / "reports" / "local-registry.log").read_text() == "access log\n"
    assert env.deleted[-1].startswith("local registry todo-registry and its storage")


def _pod(name: str, container: str, image: str, image_id: str) -> dict:
    statuses = [{"name": container, "image": image, "imageID": image_id}]
    return {"metadata": {"name": name}, "status": {"containerStatuses": statuses}}


def test_the_app_images_digest_is_read_under_the_name_the_pods_pulled_it_by(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    env = _env(is_kind=False, registry="reg.example.com")
    pushed = replace(env.choice.images, app="reg.example.com/todo-app:sha-0123456789abcdef")
    env.delivery = stand_up.delivery.Delivery(stand_up.delivery.REGISTRY, pushed)
    env.release = stand_up.Release("todo", "ns", env.cluster.kubeconfig, pushed)
    digest = "reg.example.com/todo-app@sha256:" + "a" * 64
    pods = {
        "items": [
            _pod("todo-backend-x", "backend", pushed.app, digest),
            _pod("todo-postgresql-0", "postgresql", "postgres:15", "postgres@sha256:b"),
        ]
    }
    answers = {"version": {"serverVersion": {"gitVersion": "v1.34.0"}}, "get": pods}

    def kubectl(kubeconfig, *args, **kwargs):
        asked = next(a for a in args if a in answers)
        return subprocess.CompletedProcess(args, 0, json.dumps(answers[asked]), "")

    monkeypatch.setattr(stand_up, "kubectl", kubectl)
    found = stand_up.versions(env)
    assert found["app_image_ids"] == {"todo-backend-x/backend": digest}


def test_a_mistyped_kubeconfig_is_named_before_how_the_images_would_travel(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "kube" / "confg")
    run = _env(is_kind=False, kubeconfig=missing)
    with pytest.raises(stand_up.HarnessError) as refused:
        stand_up.images_plan(run.settings, run.choice)
    assert str(refused.value) == f"--kubeconfig {missing}: no such file"


@pytest.mark.parametrize("existed", [True, False])
def test_the_pull_secret_goes_only_into_namespaces_the_run_created(
    monkeypatch: pytest.MonkeyPatch, existed: bool
) -> None:
    env = _env(is_kind=False, kubeconfig="/k", registry="reg.example.com",
               registry_config="/c.json")  # fmt: skip
    given: list[str] = []
    monkeypatch.setattr(stand_up, "namespace_exists", lambda kubeconfig, name: existed)
    monkeypatch.setattr(stand_up, "create_namespace", lambda *args, **kwargs: None)
    monkeypatch.setattr(stand_up, "say", lambda message: None)
    monkeypatch.setattr(stand_up.delivery, "pull_secret", lambda k, namespace, s: given.append(
        namespace))  # fmt: skip
    env.new_namespace("team-ns")
    assert given == ([] if existed else ["team-ns"])
    assert env.pull_secrets("team-ns") == ([] if existed else [stand_up.delivery.PULL_SECRET])


def test_a_namespace_that_was_there_before_is_used_as_it_is_and_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _env(is_kind=False, kubeconfig="/k", namespace="team-ns")
    created: list[str] = []
    monkeypatch.setattr(stand_up, "namespace_exists", lambda kubeconfig, name: name == "team-ns")
    monkeypatch.setattr(stand_up, "create_namespace", lambda k, name, **kw: created.append(name))
    monkeypatch.setattr(stand_up, "say", lambda message: None)
    env.new_namespace("team-ns")
    env.new_namespace("team-ns-checks")
    assert created == ["team-ns-checks"]
    assert env.namespaces == ["team-ns-checks"] and env.kept_namespaces == ["team-ns"]

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        stand_up, "delete_namespace", lambda k, name: calls.append(("delete", name))
    )
    release = stand_up.Release("todo", "team-ns", Path("/k"), images=env.images)
    monkeypatch.setattr(release, "helm", lambda *args, **kw: calls.append(("helm", *args)))
    monkeypatch.setattr(release, "kubectl", lambda *args, **kw: calls.append(("kubectl", *args)))
    env.release = release
    stand_up.tear_down(env)
    assert ("delete", "team-ns-checks") in calls and ("delete", "team-ns") not in calls
    assert ("helm", "uninstall", "todo", "--wait") in calls
    assert any(c[0] == "kubectl" and "todo-e2e-access" in c for c in calls)
