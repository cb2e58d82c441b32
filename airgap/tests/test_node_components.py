"""The node image's recipe: version stamping, kubeadm's image list, derived versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from airgap.node import base, components
from toolchain.kindmod import KindModule, docker_name
from toolchain.tools import kubernetes_ldflags

KUBEADM_LIST = """registry.k8s.io/kube-apiserver:v1.34.0
registry.k8s.io/kube-controller-manager:v1.34.0
registry.k8s.io/kube-scheduler:v1.34.0
registry.k8s.io/kube-proxy:v1.34.0
registry.k8s.io/coredns/coredns:v1.12.1
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.6.4-0
"""


def test_version_ldflags_stamp_both_version_packages() -> None:
    flags = kubernetes_ldflags("v1.34.0", build_date="2025-08-27T00:00:00Z")
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        assert f"-X {pkg}.gitVersion=v1.34.0" in flags
        assert f"-X {pkg}.gitMajor=1" in flags
        assert f"-X {pkg}.gitMinor=34" in flags
        assert f"-X {pkg}.gitTreeState=clean" in flags
        assert f"-X {pkg}.buildDate=2025-08-27T00:00:00Z" in flags
    assert len(flags) == 10


def test_version_ldflags_refuse_non_semver() -> None:
    with pytest.raises(ValueError):
        kubernetes_ldflags("1.34")


def test_kubernetes_build_covers_node_and_control_plane() -> None:
    spec = components.kubernetes_build("v1.34.0")
    names = [name for name, _ in spec.binaries]
    assert names == [
        "kubeadm",
        "kubelet",
        "kubectl",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ]
    assert dict(spec.binaries)["kubelet"] == "k8s.io/kubernetes/cmd/kubelet"
    assert spec.sibling_version is not None and spec.sibling_version("v1.34.0") == "v0.34.0"
    assert not spec.cgo


def test_parse_image_list_and_lookups() -> None:
    images = components.parse_image_list(KUBEADM_LIST)
    assert len(images.all) == 7
    assert images.by_name("coredns") == "registry.k8s.io/coredns/coredns:v1.12.1"
    assert images.by_name("kube-proxy") == "registry.k8s.io/kube-proxy:v1.34.0"
    assert images.tag("etcd") == "3.6.4-0"
    with pytest.raises(KeyError):
        images.by_name("kindnetd")


@pytest.mark.parametrize("output", ["", "W0101 something went wrong\n", "registry.k8s.io/pause\n"])
def test_parse_image_list_rejects_unexpected_output(output: str) -> None:
    with pytest.raises(ValueError):
        components.parse_image_list(output)


def test_etcd_and_coredns_versions_follow_kubeadm_tags() -> None:
    server, ctl = components.etcd_builds("3.6.4-0")
    assert (server.module, server.version) == ("go.etcd.io/etcd/server/v3", "v3.6.4")
    assert (ctl.module, ctl.version) == ("go.etcd.io/etcd/etcdctl/v3", "v3.6.4")
    assert components.coredns_build("v1.12.1").version == "v1.12.1"
    assert components.coredns_build("1.12.1").version == "v1.12.1"


def test_crictl_follows_kubernetes_minor() -> None:
    assert components.crictl_version("v1.34.0") == "v1.34.0"
    assert components.crictl_version("v1.33.5") == "v1.33.0"


def test_docker_name_strips_default_registry() -> None:
    assert docker_name("docker.io/kindest/kindnetd:v1") == "kindest/kindnetd:v1"
    assert docker_name("docker.io/library/busybox:1") == "busybox:1"
    assert docker_name("registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"


def test_kind_files_get_kind_modes(tmp_path: Path) -> None:
    files = tmp_path / "images/base/files"
    for rel in (
        "usr/local/bin/entrypoint",
        "kind/bin/mount-product-files.sh",
        "etc/containerd/config.toml",
        "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    ):
        (files / rel).parent.mkdir(parents=True, exist_ok=True)
        (files / rel).write_text("x")
        (files / rel).chmod(0o444)
    entries, modes = base.kind_files(KindModule(tmp_path))
    assert set(entries) == {
        "files/usr/local/bin/entrypoint",
        "files/kind/bin/mount-product-files.sh",
        "files/etc/containerd/config.toml",
        "files/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    }
    assert modes["files/usr/local/bin/entrypoint"] == 0o755
    assert modes["files/kind/bin/mount-product-files.sh"] == 0o755
    assert modes["files/etc/containerd/config.toml"] == 0o644


def test_kind_files_require_the_entrypoint(tmp_path: Path) -> None:
    (tmp_path / "images/base/files/etc").mkdir(parents=True)
    with pytest.raises(FileNotFoundError):
        base.kind_files(KindModule(tmp_path))


def test_runtime_builds_follow_kinds_base_pins() -> None:
    pins = {
        "CONTAINERD_VERSION": "v2.1.4",
        "RUNC_VERSION": "v1.3.0",
        "CNI_PLUGINS_VERSION": "v1.7.1",
    }
    builds = {spec.name: (spec, target) for spec, target in components.runtime_builds(pins)}
    assert builds["containerd"][0].version == "v2.1.4"
    assert builds["runc"][0].version == "v1.3.0" and builds["runc"][0].cgo
    assert builds["runc"][1] == "bin/usr/local/sbin"
    assert builds["cni-plugins"][0].version == "v1.7.1"
    assert not any(spec.cgo for name, (spec, _) in builds.items() if name != "runc")
