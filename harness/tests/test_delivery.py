"""How the run's images reach a cluster's nodes, decided before anything is built or installed."""

from __future__ import annotations

import pytest

from harness import delivery
from harness.proc import HarnessError
from harness.settings import Settings
from toolchain import decide

UPSTREAM = decide.decide({"TODO_IMAGE_SOURCE": "upstream", "TODO_NETPOL_ENFORCER": "kube-router",
                          "TODO_BROWSER": "system"}, probe=None)  # fmt: skip
LOCAL = decide.decide({"TODO_IMAGE_SOURCE": "local", "TODO_NETPOL_ENFORCER": "kube-router",
                       "TODO_BROWSER": "system"}, probe=None)  # fmt: skip


def test_kind_clusters_get_their_images_loaded() -> None:
    assert delivery.plan(Settings(), is_kind=True, choice=LOCAL, addons=set()) == delivery.LOAD


def test_a_cluster_that_cannot_get_the_app_image_is_refused_naming_it_and_the_option() -> None:
    with pytest.raises(HarnessError) as refused:
        delivery.plan(Settings(kubeconfig="/k"), is_kind=False, choice=UPSTREAM, addons=set())
    message = str(refused.value)
    assert message.startswith("this cluster cannot get todo-app:dev: it was built on this machine")
    assert "--registry REG (E2E_REGISTRY)" in message


def test_offline_a_cluster_without_a_registry_is_told_of_every_image_built_here() -> None:
    with pytest.raises(HarnessError) as refused:
        delivery.plan(Settings(kubeconfig="/k"), is_kind=False, choice=LOCAL,
                      addons={"metrics-server"})  # fmt: skip
    message = str(refused.value)
    assert "todo-airgap/postgres:15-bookworm" in message and "metrics-server" in message
    assert "--push-all" in message


def test_offline_images_need_push_all_to_reach_a_registry() -> None:
    given = Settings(kubeconfig="/k", registry="registry.example.com:5000")
    with pytest.raises(HarnessError, match=r"todo-airgap/postgres.*add --push-all"):
        delivery.plan(given, is_kind=False, choice=LOCAL, addons=set())
    pushed_all = Settings(kubeconfig="/k", registry="registry.example.com", push_all=True)
    assert delivery.plan(pushed_all, is_kind=False, choice=LOCAL, addons=set()) == (
        delivery.REGISTRY
    )
    # With upstream images only the app's is built here: the registry alone serves.
    assert delivery.plan(given, is_kind=False, choice=UPSTREAM, addons=set()) == delivery.REGISTRY


def test_the_local_registry_is_for_kind_clusters_the_run_creates() -> None:
    assert delivery.plan(Settings(local_registry=True), is_kind=True, choice=LOCAL,
                         addons=set()) == delivery.LOCAL_REGISTRY  # fmt: skip
    with pytest.raises(HarnessError, match="--registry REG"):
        delivery.plan(Settings(local_registry=True, kubeconfig="/k"), is_kind=True,
                      choice=LOCAL, addons=set())  # fmt: skip
    with pytest.raises(HarnessError, match="exclude each other"):
        delivery.plan(Settings(local_registry=True, registry="r:5000"), is_kind=True,
                      choice=LOCAL, addons=set())  # fmt: skip


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("todo-app:dev", ("todo-app", "dev")),
        ("todo-airgap/postgres:15-bookworm", ("todo-airgap/postgres", "15-bookworm")),
        ("127.0.0.1:5001/docker.io/library/postgres:15-bookworm",
         ("docker.io/library/postgres", "15-bookworm")),
        ("registry.k8s.io/metrics-server/metrics-server:v0.8.0",
         ("metrics-server/metrics-server", "v0.8.0")),
        ("localhost:5001/todo-app", ("todo-app", "latest")),
    ],
)  # fmt: skip
def test_an_image_keeps_its_repository_path_in_the_registry(image, expected) -> None:
    assert delivery._repository_and_tag(image) == expected


def test_push_all_pushes_only_the_add_ons_the_run_installs(monkeypatch: pytest.MonkeyPatch) -> None:
    pushed: list[str] = []

    def push(image: str, ref: str, *, docker_config=None) -> str:
        pushed.append(image)
        return "sha256:" + "0" * 64

    monkeypatch.setattr(delivery.registry, "push", push)
    monkeypatch.setattr(delivery.registry, "content_tag", lambda image: "sha-0123")
    monkeypatch.setattr(delivery, "say", lambda message: None)
    images = LOCAL.images
    every = [images.app, images.postgres, images.metrics_server, images.kube_router]
    given = Settings(registry="reg.example.com", push_all=True)
    done = delivery.deliver(delivery.REGISTRY, cluster_name="c", choice=LOCAL, settings=given,
                            images_for_nodes=every, addons={"kube-router"})  # fmt: skip
    assert pushed == [images.app, images.postgres, images.kube_router]
    assert done.images.metrics_server == images.metrics_server  # not installed, not renamed
    assert done.images.kube_router.startswith("reg.example.com/")
