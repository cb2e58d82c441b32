"""What goes into the node image and where each piece comes from.

Versions are derived, not restated: Kubernetes and kind come from
`toolchain.versions`; containerd, runc and the CNI plugins from the ARG pins
in kind's own images/base/Dockerfile; etcd, CoreDNS and pause from the image
list of the kubeadm built here; the sandbox pause from kind's containerd
config. crictl follows the Kubernetes minor (cri-tools releases track it; the
release kind pins is not served by the Go module proxy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from toolchain import go
from toolchain.kindmod import KindModule
from toolchain.tools import kubernetes_ldflags
from toolchain.versions import KUBERNETES_MODULE, KUBERNETES_VERSION

# The commands a node image carries (kubeadm, kubelet, kubectl go to /usr/bin)
# and the ones that only ship inside control-plane images.
NODE_BINARIES = ("kubeadm", "kubelet", "kubectl")
IMAGE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
KUBERNETES_BINARIES = NODE_BINARIES + IMAGE_BINARIES

# Tags Kubernetes' own release build uses (hack/lib/golang.sh, non-debug build).
KUBERNETES_TAGS = ("selinux", "notest", "grpcnotrace")
# kind builds containerd without optional snapshotters (images/base/Dockerfile BUILDTAGS).
CONTAINERD_TAGS = ("no_aufs", "no_zfs", "no_btrfs", "no_devmapper")
CNI_PLUGINS = {
    "host-local": "plugins/ipam/host-local",
    "loopback": "plugins/main/loopback",
    "ptp": "plugins/main/ptp",
    "portmap": "plugins/meta/portmap",
}


@cache
def kind() -> KindModule:
    return KindModule.pinned()


@cache
def kubernetes_source(version: str = KUBERNETES_VERSION) -> Path:
    """The Kubernetes module's source (build/pause, go.mod)."""
    return go.module_dir(KUBERNETES_MODULE, version)


def kubernetes_build(version: str = KUBERNETES_VERSION) -> go.GoBuild:
    return go.GoBuild(
        "kubernetes",
        KUBERNETES_MODULE,
        version,
        tuple((name, f"{KUBERNETES_MODULE}/cmd/{name}") for name in KUBERNETES_BINARIES),
        tags=KUBERNETES_TAGS,
        ldflags=kubernetes_ldflags(version),
        sibling_version=go.kubernetes_staging_version,
    )


def etcd_builds(image_tag: str) -> list[go.GoBuild]:
    """etcd and etcdctl at the release behind kubeadm's etcd image tag (`3.6.4-0`)."""
    version = "v" + image_tag.split("-")[0]
    return [
        go.GoBuild("etcd", "go.etcd.io/etcd/server/v3", version,
                   (("etcd", "go.etcd.io/etcd/server/v3"),)),
        go.GoBuild("etcdctl", "go.etcd.io/etcd/etcdctl/v3", version,
                   (("etcdctl", "go.etcd.io/etcd/etcdctl/v3"),)),
    ]  # fmt: skip


def coredns_build(image_tag: str) -> go.GoBuild:
    return go.GoBuild(
        "coredns",
        "github.com/coredns/coredns",
        image_tag if image_tag.startswith("v") else "v" + image_tag,
        (("coredns", "github.com/coredns/coredns"),),
    )


def containerd_build(pins: dict[str, str]) -> go.GoBuild:
    version = pins["CONTAINERD_VERSION"]
    mod = "github.com/containerd/containerd/v2"
    return go.GoBuild(
        "containerd",
        mod,
        version,
        (
            ("containerd", f"{mod}/cmd/containerd"),
            ("ctr", f"{mod}/cmd/ctr"),
            ("containerd-shim-runc-v2", f"{mod}/cmd/containerd-shim-runc-v2"),
        ),
        tags=CONTAINERD_TAGS,
        ldflags=(
            f"-X {mod}/version.Version={version}",
            f"-X {mod}/version.Package=github.com/containerd/containerd/v2",
        ),
    )


def runc_build(pins: dict[str, str]) -> go.GoBuild:
    """runc links libseccomp with cgo (the host requirements provide it)."""
    version = pins["RUNC_VERSION"]
    return go.GoBuild(
        "runc",
        "github.com/opencontainers/runc",
        version,
        (("runc", "github.com/opencontainers/runc"),),
        tags=("seccomp", "urfave_cli_no_docs"),
        ldflags=(f"-X main.version={version.lstrip('v')}",),
        cgo=True,
    )


def crictl_version(kubernetes_version: str = KUBERNETES_VERSION) -> str:
    major, minor = re.match(r"v(\d+)\.(\d+)", kubernetes_version).groups()  # type: ignore[union-attr]
    return f"v{major}.{minor}.0"


def crictl_build() -> go.GoBuild:
    version = crictl_version()
    return go.GoBuild(
        "crictl",
        "sigs.k8s.io/cri-tools",
        version,
        (("crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),),
        ldflags=(f"-X sigs.k8s.io/cri-tools/pkg/version.Version={version}",),
    )


def cni_build(pins: dict[str, str]) -> go.GoBuild:
    version = pins["CNI_PLUGINS_VERSION"]
    mod = "github.com/containernetworking/plugins"
    return go.GoBuild(
        "cni-plugins",
        mod,
        version,
        tuple((name, f"{mod}/{path}") for name, path in CNI_PLUGINS.items()),
        ldflags=(f"-X {mod}/pkg/utils/buildversion.BuildVersion={version}",),
    )


def runtime_builds(pins: dict[str, str]) -> list[tuple[go.GoBuild, str]]:
    """containerd, runc, crictl and the CNI plugins, each with where it goes in the image."""
    return [
        (containerd_build(pins), "bin/usr/local/bin"),
        (runc_build(pins), "bin/usr/local/sbin"),
        (crictl_build(), "bin/usr/local/bin"),
        (cni_build(pins), "bin/opt/cni/bin"),
    ]


@dataclass(frozen=True)
class KubeadmImages:
    """`kubeadm config images list` split by component."""

    all: tuple[str, ...]

    def by_name(self, name: str) -> str:
        for ref in self.all:
            repo = ref.rsplit(":", 1)[0]
            if repo.rsplit("/", 1)[-1] == name:
                return ref
        raise KeyError(f"kubeadm lists no {name} image: {self.all}")

    def tag(self, name: str) -> str:
        return self.by_name(name).rsplit(":", 1)[1]


def parse_image_list(output: str) -> KubeadmImages:
    refs = tuple(line.strip() for line in output.splitlines() if line.strip())
    if not refs or any(" " in r or ":" not in r for r in refs):
        raise ValueError(f"unexpected `kubeadm config images list` output: {output!r}")
    return KubeadmImages(refs)
