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


def test_local_path_provisioner_pin_is_kinds_or_the_newest_the_go_proxy_serves_below_it(
    kind: KindModule,
) -> None:
    # kind v0.33.0 packages v0.0.34, which the Go module proxy refuses (403); the offline
    # image is built from v0.0.33 under kind's image name.
    packaged = kind.local_path_provisioner_version
    pin = versions.LOCAL_PATH_PROVISIONER_VERSION
    assert _patch(pin) <= _patch(packaged)
    assert _patch(packaged) - _patch(pin) <= 1, (pin, packaged)


def _patch(version: str) -> int:
    return int(version.rsplit(".", 1)[1])


def test_supported_minors_are_the_three_newest_newest_first_and_the_default() -> None:
    minors = [_minor(m) for m in versions.KUBERNETES_SUPPORTED]
    assert len(minors) == 3
    assert minors == sorted(minors, reverse=True)
    assert [b - a for (_, a), (_, b) in zip(minors[1:], minors, strict=False)] == [1, 1]
    assert versions.KUBERNETES_VERSION.startswith(next(iter(versions.KUBERNETES_SUPPORTED)) + ".")
    assert versions.KIND_NODE_LOCAL.endswith(":" + versions.KUBERNETES_VERSION)
    # extended support: older than every supported minor, and not also listed as supported
    for minor in versions.KUBERNETES_EXTENDED:
        assert _minor(minor) < min(minors)
    assert versions.KUBERNETES_MATRIX == {
        **versions.KUBERNETES_SUPPORTED,
        **versions.KUBERNETES_EXTENDED,
    }


def test_every_node_image_is_pinned_by_digest_and_matches_its_minor() -> None:
    # A tag alone (as 1.33 and 1.32 were pinned) can be moved to other content.
    for minor, image in versions.KUBERNETES_MATRIX.items():
        assert re.fullmatch(
            rf"kindest/node:{re.escape(minor)}\.\d+@sha256:[0-9a-f]{{64}}", image
        ), image


def test_kubernetes_version_is_read_from_a_node_image_tag() -> None:
    assert versions.kubernetes_version_of(versions.KUBERNETES_MATRIX["v1.35"]) == "v1.35.8"
    assert versions.kubernetes_version_of("kindest/node:v1.36.4") == "v1.36.4"
    assert versions.kubernetes_version_of(versions.KIND_NODE_LOCAL) == versions.KUBERNETES_VERSION
    assert versions.kubernetes_version_of("registry:5000/my/node:latest") == (
        versions.KUBERNETES_VERSION
    )


def test_tool_and_image_pins_look_like_releases() -> None:
    for pin in (
        versions.KIND_VERSION,
        versions.HELM_VERSION,
        versions.HELM3_VERSION,
        versions.ACTIONLINT_VERSION,
        versions.METRICS_SERVER_VERSION,
        versions.LOCAL_PATH_PROVISIONER_VERSION,
        versions.KUBE_ROUTER_VERSION,
    ):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", pin), pin
    assert versions.HELM_VERSION.startswith("v4.")
    assert versions.HELM_MODULE == "helm.sh/helm/v4"
    assert versions.HELM3_VERSION.startswith("v3.")
    assert versions.HELM3_MODULE == "helm.sh/helm/v3"
    assert versions.HELM_DEFAULT_MAJOR == versions.HELM_MAJORS[0] == "4"
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
