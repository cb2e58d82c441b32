"""The container images kubeadm and kind's containerd config need, built locally.

Names are exactly what the built kubeadm prints for
`kubeadm config images list` plus kind's sandbox (pause) image, so the
kubelet finds every image already present and never pulls.

Layouts follow the upstream images closely enough for kubeadm's manifests:
- kube-apiserver, kube-controller-manager, kube-scheduler: the static
  binary in /usr/local/bin on an empty image (kubeadm runs them by name).
- kube-proxy: Debian minbase + iptables/nftables/conntrack/ipset, with an
  iptables mode selector like upstream's iptables-wrapper.
- etcd: etcd + etcdctl in /usr/local/bin (kubeadm runs `etcd` by name).
- coredns: /coredns as entrypoint.
- pause: static build of Kubernetes' build/pause/linux/pause.c,
  entrypoint /pause, user 65535.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from airgap.node import components
from toolchain import cache, docker, go
from toolchain.progress import step
from toolchain.versions import DEBIAN_BASE_IMAGE

PATH_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Chooses iptables-legacy or iptables-nft the first time any iptables command
# runs, by which backend already holds more rules (the node's own choice),
# then points the alternatives there and re-runs the command.
IPTABLES_SELECT = """#!/bin/sh
set -eu
count() { ("$1-save" || true; "ip6${1#ip}-save" || true) 2>/dev/null | grep -c '^-' || true; }
legacy=$(count iptables-legacy)
nft=$(count iptables-nft)
if [ "${legacy:-0}" -gt "${nft:-0}" ]; then mode=legacy; else mode=nft; fi
update-alternatives --set iptables "/usr/sbin/iptables-${mode}" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-${mode}" >/dev/null
for cmd in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf "/etc/alternatives/${cmd}" "/usr/sbin/${cmd}"
done
exec "$(basename "$0")" "$@"
"""

KUBE_PROXY_DOCKERFILE = f"""FROM {DEBIAN_BASE_IMAGE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      iptables nftables conntrack ipset kmod ca-certificates \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/* /usr/share/doc/* /usr/share/man/*
COPY iptables-select /usr/sbin/iptables-select
RUN for cmd in iptables iptables-save iptables-restore \\
               ip6tables ip6tables-save ip6tables-restore; do \\
      ln -sf /usr/sbin/iptables-select "/usr/sbin/$cmd"; done
COPY kube-proxy /usr/local/bin/kube-proxy
{PATH_ENV}
"""


def _scratch_binaries(binaries: list[str], entrypoint: str | None = None, user: str = "") -> bytes:
    lines = ["FROM scratch"]
    lines += [f"COPY {name} /usr/local/bin/{name}" for name in binaries]
    lines.append(PATH_ENV)
    if user:
        lines.append(f"USER {user}")
    if entrypoint:
        lines.append(f'ENTRYPOINT ["{entrypoint}"]')
    return ("\n".join(lines) + "\n").encode()


class PauseBuildError(RuntimeError):
    """The pause binary could not be compiled."""


def build_pause(dest: Path, version_tag: str) -> Path:
    """gcc -static the pause binary from the Kubernetes module's source."""
    src = components.kubernetes_source() / "build/pause/linux/pause.c"
    out = dest / "pause"
    stamp = dest / "pause.stamp"
    key = f"{hashlib.sha256(src.read_bytes()).hexdigest()} {version_tag}"
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    gcc = shutil.which("gcc")
    if not gcc:
        raise PauseBuildError("gcc is missing: run `python -m toolchain host --for offline`")
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed argv of the C compiler
        [gcc, "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{version_tag}",
         "-o", str(out), str(src)],
        check=True,
    )  # fmt: skip
    subprocess.run(["strip", str(out)], check=False)  # noqa: S603, S607 - binutils
    stamp.write_text(key)
    return out


def ensure_component_images(
    k8s_bin: Path, kubeadm_images: components.KubeadmImages, sandbox: str
) -> list[str]:
    """Build every image the control plane needs; return their references."""
    refs: list[str] = []

    def image(ref: str, files: dict[str, Path | bytes], **kwargs) -> None:
        with step(f"image {ref}"):
            docker.ensure_image([ref], files, **kwargs)
        refs.append(ref)

    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        image(
            kubeadm_images.by_name(name),
            {"Dockerfile": _scratch_binaries([name]), name: k8s_bin / name},
        )
    image(
        kubeadm_images.by_name("kube-proxy"),
        {
            "Dockerfile": KUBE_PROXY_DOCKERFILE.encode(),
            "kube-proxy": k8s_bin / "kube-proxy",
            "iptables-select": IPTABLES_SELECT.encode(),
        },
        modes={"iptables-select": 0o755},
        extra=[docker.image_id(DEBIAN_BASE_IMAGE)],
    )
    etcd_bins: dict[str, Path | bytes] = {}
    for spec in components.etcd_builds(kubeadm_images.tag("etcd")):
        name = spec.binaries[0][0]
        etcd_bins[name] = go.build(spec) / name
    image(
        kubeadm_images.by_name("etcd"),
        {"Dockerfile": _scratch_binaries(sorted(etcd_bins)), **etcd_bins},
    )
    coredns = go.build(components.coredns_build(kubeadm_images.tag("coredns"))) / "coredns"
    image(
        kubeadm_images.by_name("coredns"),
        {
            "Dockerfile": b"FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\n"
            b'ENTRYPOINT ["/coredns"]\n',
            "coredns": coredns,
        },
    )
    # kind replaces kubeadm's pause with the sandbox image its containerd config pins.
    pause_tag = sandbox.rsplit(":", 1)[1]
    pause = build_pause(cache.sub_dir("build", f"pause-{pause_tag}"), pause_tag)
    image(
        sandbox,
        {
            "Dockerfile": b"FROM scratch\nCOPY pause /pause\nUSER 65535:65535\n"
            b'ENTRYPOINT ["/pause"]\n',
            "pause": pause,
        },
    )
    return refs
