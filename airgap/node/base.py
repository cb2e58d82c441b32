"""kind's "base" image, reproduced from kind's images/base/Dockerfile.

The upstream recipe clones containerd, runc, cri-tools and the CNI plugins
from GitHub and downloads Go; here each is built from the Go module proxy
(airgap.node.components) and the Debian packages come from the Debian base.
That base stays bookworm where kind v0.33 moved to trixie: bookworm's systemd
252 boots on a cgroup v1 host (these machines), trixie's 257 refuses to.
kind's own files (entrypoint, containerd config, systemd units, kubelet
drop-ins, sysctl settings, /kind/bin hooks) are copied at build time from the
kind module in the Go module cache, with the modes kind's Dockerfile gives
them.
"""

from __future__ import annotations

from pathlib import Path

from airgap.node import components
from toolchain import docker, go
from toolchain.kindmod import KindModule
from toolchain.progress import step
from toolchain.versions import KIND_VERSION

BASE_IMAGE = f"todo-airgap/kind-base:{KIND_VERSION}"

# images/base/Dockerfile: packages for systemd, Kubernetes, storage, the runtime, kind.
PACKAGES = (
    "systemd",
    "conntrack iptables nftables iproute2 ethtool util-linux mount kmod",
    "libseccomp2 pigz fuse-overlayfs",
    "nfs-common open-iscsi",
    "e2fsprogs",
    "bash ca-certificates curl jq procps",
)

DOCKERFILE = """FROM {debian}
COPY files/ /
RUN echo "Installing Packages ..." \\
 && DEBIAN_FRONTEND=noninteractive clean-install {packages} \\
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* \\
 && rm -f /etc/systemd/system/*.wants/* \\
 && rm -f /lib/systemd/system/local-fs.target.wants/* \\
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \\
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \\
 && rm -f /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
 && ln -s "$(which systemd)" /sbin/init
RUN systemctl enable kubelet.service \\
 && systemctl enable containerd.service \\
 && systemctl enable undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests
COPY bin/ /
RUN ctr oci spec \\
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . \\
            + {{"path": "/kind/bin/mount-product-files.sh"}}' \\
      | jq 'del(.process.rlimits)' \\
      > /etc/containerd/cri-base.json \\
 && containerd --version && runc --version && crictl --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
"""


# Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE. Where the host's
# capability bounding set lacks it (some VMs), runc fails to
# give pods the negative oom_score_adj the kubelet asks for ("failed to update
# /proc/self/oom_score_adj: Permission denied") and no sandbox starts. containerd's
# restrict_oom_score_adj (what kind uses for rootless nodes) clamps the request to
# containerd's own value instead. Decided at every containerd start, so the same
# image keeps kind's behaviour on hosts that have the capability.
RESTRICT_OOM_SCRIPT = b"""#!/bin/sh
set -eu
bounding=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if [ $(( (0x$bounding >> 24) & 1 )) -eq 0 ]; then
  echo "CAP_SYS_RESOURCE is not in the bounding set: restrict_oom_score_adj = true"
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' \\
    /etc/containerd/config.toml
fi
"""
RESTRICT_OOM_DROPIN = b"""[Service]
ExecStartPre=/usr/local/sbin/todo-airgap-restrict-oom
"""
OWN_FILES = {
    "files/usr/local/sbin/todo-airgap-restrict-oom": (RESTRICT_OOM_SCRIPT, 0o755),
    "files/etc/systemd/system/containerd.service.d/10-todo-airgap-oom.conf": (
        RESTRICT_OOM_DROPIN,
        0o644,
    ),
}


def kind_files(kind: KindModule) -> tuple[dict[str, Path], dict[str, int]]:
    """kind's images/base/files as build-context entries with kind's modes."""
    root = kind.base_files
    files: dict[str, Path] = {}
    modes: dict[str, int] = {}
    for src in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = src.relative_to(root).as_posix()
        name = f"files/{rel}"
        files[name] = src
        executable = rel.startswith(("usr/local/bin/", "kind/bin/"))
        modes[name] = 0o755 if executable else 0o644
    if "files/usr/local/bin/entrypoint" not in files:
        raise FileNotFoundError(f"kind's entrypoint is missing under {root}")
    return files, modes


def runtime_binaries(kind: KindModule) -> dict[str, Path]:
    """containerd, runc, crictl and CNI plugins built from the Go proxy, by image path."""
    placed: dict[str, Path] = {}
    for spec, target in components.runtime_builds(kind.base_pins):
        bin_dir = go.build(spec)
        for name, _ in spec.binaries:
            placed[f"{target}/{name}"] = bin_dir / name
    return placed


def ensure_base_image(kind: KindModule, debian: str) -> str:
    """Build (once per input change) the kind base image on the Debian base; return it."""
    with step(f"kind base image {BASE_IMAGE}"):
        files: dict[str, Path | bytes]
        files, modes = kind_files(kind)  # type: ignore[assignment]
        for name, (content, mode) in OWN_FILES.items():
            files[name] = content
            modes[name] = mode
        binaries = runtime_binaries(kind)
        files.update(binaries)
        modes.update({name: 0o755 for name in binaries})
        files["Dockerfile"] = DOCKERFILE.format(debian=debian, packages=" ".join(PACKAGES)).encode()
        docker.ensure_image([BASE_IMAGE], files, modes=modes, extra=[docker.image_id(debian)])
        return BASE_IMAGE
