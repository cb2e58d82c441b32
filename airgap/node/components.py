"""What goes into the node image and where each piece comes from.

Versions are derived, not restated: Kubernetes and kind come from
`airgap.versions`; containerd, runc and the CNI plugins from the ARG pins in
kind's own images/base/Dockerfile; etcd, CoreDNS and pause from the image
list of the kubeadm we built; the sandbox pause from kind's containerd
config. crictl follows the Kubernetes minor (cri-tools releases track it;
the v1.33.0 kind pins is not served by the Go module proxy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from airgap import cache as cache_mod
from airgap.node import gomod, gosource
from airgap.versions import KIND_VERSION, KUBERNETES_VERSION

KUBERNETES_MODULE = "k8s.io/kubernetes"
KIND_MODULE = "sigs.k8s.io/kind"

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


def work_dir() -> Path:
    return cache_mod.sub_dir("node", "work")


@cache
def kind_dir() -> Path:
    """kind's module source (images/base/files, pkg/build/nodeimage)."""
    return gomod.module_dir(KIND_MODULE, KIND_VERSION, work_dir())


@cache
def kubernetes_source(version: str = KUBERNETES_VERSION) -> Path:
    """The Kubernetes module's source (build/pause, go.mod)."""
    return gomod.module_dir(KUBERNETES_MODULE, version, work_dir())


@cache
def kind_base_pins() -> dict[str, str]:
    return gosource.dockerfile_args((kind_dir() / "images/base/Dockerfile").read_text())


def version_ldflags(version: str, build_date: str = "2025-08-27T00:00:00Z") -> tuple[str, ...]:
    """`-X` flags that stamp client-go and component-base like hack/lib/version.sh does."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+(?:[-+].*)?", version)
    if not match:
        raise ValueError(f"not a semantic Kubernetes version: {version!r}")
    values = {
        "gitVersion": version,
        "gitMajor": match.group(1),
        "gitMinor": match.group(2),
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags: list[str] = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [f"-X {pkg}.{key}={value}" for key, value in values.items()]
    return tuple(flags)


def kubernetes_build(version: str = KUBERNETES_VERSION) -> gomod.GoBuild:
    return gomod.GoBuild(
        module=KUBERNETES_MODULE,
        version=version,
        binaries=tuple((name, f"{KUBERNETES_MODULE}/cmd/{name}") for name in KUBERNETES_BINARIES),
        tags=KUBERNETES_TAGS,
        ldflags=version_ldflags(version),
        sibling_version=gomod.kubernetes_staging_version,
    )


def kubernetes_dir(version: str = KUBERNETES_VERSION) -> Path:
    return cache_mod.sub_dir("k8s", version)


def etcd_builds(image_tag: str) -> list[gomod.GoBuild]:
    """etcd and etcdctl at the release behind kubeadm's etcd image tag (`3.6.4-0`)."""
    version = "v" + image_tag.split("-")[0]
    return [
        gomod.GoBuild(
            module="go.etcd.io/etcd/server/v3",
            version=version,
            binaries=(("etcd", "go.etcd.io/etcd/server/v3"),),
        ),
        gomod.GoBuild(
            module="go.etcd.io/etcd/etcdctl/v3",
            version=version,
            binaries=(("etcdctl", "go.etcd.io/etcd/etcdctl/v3"),),
        ),
    ]


def coredns_build(image_tag: str) -> gomod.GoBuild:
    return gomod.GoBuild(
        module="github.com/coredns/coredns",
        version=image_tag if image_tag.startswith("v") else "v" + image_tag,
        binaries=(("coredns", "github.com/coredns/coredns"),),
    )


def containerd_build() -> gomod.GoBuild:
    version = kind_base_pins()["CONTAINERD_VERSION"]
    mod = "github.com/containerd/containerd/v2"
    return gomod.GoBuild(
        module=mod,
        version=version,
        binaries=(
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


def runc_build() -> gomod.GoBuild:
    """runc needs cgo (nsenter, libseccomp): gcc and libseccomp-dev on the build host."""
    version = kind_base_pins()["RUNC_VERSION"]
    return gomod.GoBuild(
        module="github.com/opencontainers/runc",
        version=version,
        binaries=(("runc", "github.com/opencontainers/runc"),),
        tags=("seccomp", "urfave_cli_no_docs"),
        ldflags=(f"-X main.version={version.lstrip('v')}",),
        cgo=True,
    )


def crictl_version(kubernetes_version: str = KUBERNETES_VERSION) -> str:
    major, minor = re.match(r"v(\d+)\.(\d+)", kubernetes_version).groups()  # type: ignore[union-attr]
    return f"v{major}.{minor}.0"


def crictl_build() -> gomod.GoBuild:
    version = crictl_version()
    return gomod.GoBuild(
        module="sigs.k8s.io/cri-tools",
        version=version,
        binaries=(("crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),),
        ldflags=(f"-X sigs.k8s.io/cri-tools/pkg/version.Version={version}",),
    )


def cni_build() -> gomod.GoBuild:
    version = kind_base_pins()["CNI_PLUGINS_VERSION"]
    mod = "github.com/containernetworking/plugins"
    return gomod.GoBuild(
        module=mod,
        version=version,
        binaries=tuple((name, f"{mod}/{path}") for name, path in CNI_PLUGINS.items()),
        ldflags=(f"-X {mod}/pkg/utils/buildversion.BuildVersion={version}",),
    )


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
