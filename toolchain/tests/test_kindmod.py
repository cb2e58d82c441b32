"""Reading kind's manifests, image names and pins out of its sources."""

from __future__ import annotations

import pytest

from toolchain import kindmod as gosource
from toolchain.kindmod import KindModule

CNI_GO = """package nodeimage

const kindnetdImage = "docker.io/kindest/kindnetd:v20250512-df8de77b"

var defaultCNIImages = []string{kindnetdImage}

// TODO: migrate to fully patching and deprecate the template
const defaultCNIManifest = `
kind: DaemonSet
spec:
  containers:
      - name: kindnet-cni
        image: ` + kindnetdImage + `
        env: "quoted"
`
"""

STORAGE_GO = """package nodeimage

const storageProvisionerImage = "docker.io/kindest/local-path-provisioner:v20250214-acbabc1a"
const storageHelperImage = "docker.io/kindest/local-path-helper:v20241212-8ac705d0"

var defaultStorageImages = []string{storageProvisionerImage, storageHelperImage}

const defaultStorageManifest = `
image: ` + storageProvisionerImage + `
args:
  - ` + storageHelperImage + "\\n" + `tail`
"""


def test_raw_string_with_constant_concatenation() -> None:
    manifest = gosource.string_expression(CNI_GO, "defaultCNIManifest")
    assert manifest.startswith("\nkind: DaemonSet\n")
    assert "        image: docker.io/kindest/kindnetd:v20250512-df8de77b\n" in manifest
    assert 'env: "quoted"' in manifest
    assert manifest.endswith('"quoted"\n')


def test_interpreted_literal_escapes_are_decoded() -> None:
    manifest = gosource.string_expression(STORAGE_GO, "defaultStorageManifest")
    assert "image: docker.io/kindest/local-path-provisioner:v20250214-acbabc1a\n" in manifest
    assert manifest.endswith("local-path-helper:v20241212-8ac705d0\ntail")


def test_string_slices_resolve_constants() -> None:
    assert gosource.string_slice(CNI_GO, "defaultCNIImages") == [
        "docker.io/kindest/kindnetd:v20250512-df8de77b"
    ]
    assert gosource.string_slice(STORAGE_GO, "defaultStorageImages") == [
        "docker.io/kindest/local-path-provisioner:v20250214-acbabc1a",
        "docker.io/kindest/local-path-helper:v20241212-8ac705d0",
    ]


def test_unknown_identifier_is_an_error() -> None:
    source = "const x = `a` + missing\n"
    with pytest.raises(gosource.GoSourceError, match="missing"):
        gosource.string_expression(source, "x")


def test_missing_declaration_is_an_error() -> None:
    with pytest.raises(gosource.GoSourceError, match="no declaration"):
        gosource.string_expression(CNI_GO, "defaultStorageManifest")
    with pytest.raises(gosource.GoSourceError):
        gosource.string_slice(CNI_GO, "nothing")


def test_dockerfile_args() -> None:
    dockerfile = (
        "ARG BASE_IMAGE=debian:bookworm-slim\nFROM x\n"
        'ARG CONTAINERD_VERSION="v2.1.4"\nARG TARGETARCH GO_VERSION\n'
        'ARG BUILDTAGS="no_aufs no_zfs"\n'
    )
    assert gosource.dockerfile_args(dockerfile) == {
        "BASE_IMAGE": "debian:bookworm-slim",
        "CONTAINERD_VERSION": "v2.1.4",
        "BUILDTAGS": "no_aufs no_zfs",
    }


def test_sandbox_image() -> None:
    config = (
        '[plugins."io.containerd.grpc.v1.cri"]\n'
        '  # pin\n  sandbox_image = "registry.k8s.io/pause:3.10"\n'
    )
    assert gosource.sandbox_image(config) == "registry.k8s.io/pause:3.10"
    with pytest.raises(gosource.GoSourceError):
        gosource.sandbox_image("version = 2\n")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("registry.k8s.io/coredns/coredns:v1.12.1", "registry.k8s.io/coredns/coredns:v1.12.1"),
        ("docker.io/kindest/kindnetd:v1", "docker.io/kindest/kindnetd:v1"),
        ("kindest/kindnetd:v1", "docker.io/kindest/kindnetd:v1"),
        ("busybox", "docker.io/library/busybox:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
    ],
)
def test_normalize_image(ref: str, expected: str) -> None:
    assert gosource.normalize_image(ref) == expected


@pytest.fixture(scope="module")
def kind() -> KindModule:
    # The pinned kind module from the Go module cache (downloaded through the Go proxy once).
    return KindModule.pinned()


def test_the_pinned_kind_module_still_has_the_shapes_read_from_it(kind: KindModule) -> None:
    assert kind.sandbox_image.startswith("registry.k8s.io/pause:")
    assert kind.cni_images and kind.storage_images
    for image in kind.cni_images:
        assert f"image: {image}\n" in kind.cni_manifest
    for image in kind.storage_images:
        assert image in kind.storage_manifest
    assert "kind: DaemonSet" in kind.cni_manifest
    assert "kind: StorageClass" in kind.storage_manifest
    assert {"CONTAINERD_VERSION", "RUNC_VERSION", "CNI_PLUGINS_VERSION"} <= set(kind.base_pins)
    assert (kind.base_files / "usr/local/bin/entrypoint").is_file()
    assert kind.image("kindnetdImage") in kind.cni_images
