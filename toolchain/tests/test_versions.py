"""The pins in toolchain.versions agree with each other and with the kind module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolchain import docker, versions
from toolchain.kindmod import KindModule, docker_name


@pytest.fixture(scope="module")
def kind() -> KindModule:
    # The kind module from the Go module cache (downloaded through the Go proxy once).
    return KindModule.pinned()


def _minor(tag: str) -> tuple[int, int]:
    match = re.match(r"v(\d+)\.(\d+)", tag)
    assert match, tag
    return int(match.group(1)), int(match.group(2))


def test_kind_default_node_is_the_pinned_kubernetes(kind: KindModule) -> None:
    node = kind.default_node_image
    assert node == versions.KIND_NODE_UPSTREAM
    tag = node.split(":", 1)[1].split("@", 1)[0]
    assert tag == versions.KUBERNETES_VERSION
    assert versions.KIND_NODE_LOCAL.endswith(":" + versions.KUBERNETES_VERSION)


def test_kind_cni_and_storage_images_are_read_from_the_module(kind: KindModule) -> None:
    assert re.fullmatch(
        r"docker\.io/kindest/kindnetd:v\d{8}-[0-9a-f]+", kind.image("kindnetdImage")
    )
    provisioner = kind.image("storageProvisionerImage")
    assert provisioner.startswith("docker.io/kindest/local-path-provisioner:")
    assert kind.image("storageHelperImage").startswith("docker.io/kindest/local-path-helper:")
    assert docker_name(kind.image("kindnetdImage")).startswith("kindest/kindnetd:")


def test_local_path_provisioner_pin_matches_kind(kind: KindModule) -> None:
    got = kind.local_path_provisioner_version
    assert got == versions.LOCAL_PATH_PROVISIONER_VERSION


def test_matrix_stays_on_cgroup_v1_capable_kubernetes() -> None:
    # Kubernetes 1.35+ kubelets refuse cgroup v1 by default; these hosts are v1.
    assert versions.KUBERNETES_VERSION[: len("v1.34")] in versions.KUBERNETES_MATRIX
    assert versions.KUBERNETES_MATRIX["v1.34"] == versions.KIND_NODE_UPSTREAM
    for minor, image in versions.KUBERNETES_MATRIX.items():
        assert _minor(minor) <= (1, 34)
        assert image.startswith(f"kindest/node:{minor}.")


def test_tool_and_image_pins_look_like_releases() -> None:
    for pin in (
        versions.KIND_VERSION,
        versions.HELM_VERSION,
        versions.ACTIONLINT_VERSION,
        versions.METRICS_SERVER_VERSION,
        versions.LOCAL_PATH_PROVISIONER_VERSION,
        versions.KUBE_ROUTER_VERSION,
    ):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", pin), pin
    assert versions.HELM_VERSION.startswith("v3.")
    assert versions.METRICS_SERVER_VERSION.startswith("v0.8.")
    assert versions.POSTGRES_TAG.startswith(versions.POSTGRES_MAJOR + "-")


def test_recipe_key_changes_with_every_input(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    files = docker.folder_files(tmp_path)
    first = docker.recipe_key(files, ["v1"])
    assert docker.recipe_key(files, ["v1"]) == first
    assert docker.recipe_key(files, ["v2"]) != first
    assert docker.recipe_key({**files, "extra": b"x"}, ["v1"]) != first
    assert docker.recipe_key(files, ["v1"], modes={"Dockerfile": 0o755}) != first
    (tmp_path / "Dockerfile").write_text("FROM scratch\nUSER 1\n")
    assert docker.recipe_key(docker.folder_files(tmp_path), ["v1"]) != first
