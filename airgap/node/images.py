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

# ruff: noqa: S603, S607  (a build driver: runs fixed argv lists of docker/go/gcc, never a shell string)

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from airgap import cache as cache_mod
from airgap.node import components, dockerutil, gomod
from airgap.progress import step
from airgap.versions import DEBIAN_BASE_IMAGE

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


def _scratch_binaries(binaries: list[str], entrypoint: str | None = None, user: str = "") -> str:
    lines = ["FROM scratch"]
    lines += [f"COPY {name} /usr/local/bin/{name}" for name in binaries]
    lines.append(PATH_ENV)
    if user:
        lines.append(f"USER {user}")
    if entrypoint:
        lines.append(f'ENTRYPOINT ["{entrypoint}"]')
    return "\n".join(lines) + "\n"


def build_pause(dest: Path, version_tag: str) -> Path:
    """gcc -static the pause binary from the Kubernetes module's source."""
    src = components.kubernetes_source() / "build/pause/linux/pause.c"
    out = dest / "pause"
    stamp = dest / "pause.stamp"
    key = f"{dockerutil.file_digest(src)} {version_tag}"
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out
    gcc = shutil.which("gcc")
    if not gcc:
        raise gomod.GoBuildError("gcc is missing: `apt-get install -y gcc libc6-dev` (pause is C)")
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            gcc,
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            f"-DVERSION=v{version_tag}",
            "-o",
            str(out),
            str(src),
        ],
        check=True,
    )
    subprocess.run(["strip", str(out)], check=False)
    stamp.write_text(key)
    return out


def ensure_component_images(
    k8s_bin: Path, kubeadm_images: components.KubeadmImages, sandbox: str
) -> list[str]:
    """Build every image the control plane needs; return their references."""
    refs: list[str] = []
    out_root = cache_mod.sub_dir("node", "components")

    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        ref = kubeadm_images.by_name(name)
        with step(f"image {ref}"):
            dockerutil.build_image([ref], _scratch_binaries([name]), {name: k8s_bin / name}, name)
        refs.append(ref)

    ref = kubeadm_images.by_name("kube-proxy")
    with step(f"image {ref}"):
        dockerutil.build_image(
            [ref],
            KUBE_PROXY_DOCKERFILE,
            {"kube-proxy": k8s_bin / "kube-proxy", "iptables-select": IPTABLES_SELECT.encode()},
            "kube-proxy",
            modes={"iptables-select": 0o755},
            extra_key=_image_id(DEBIAN_BASE_IMAGE),
        )
    refs.append(ref)

    ref = kubeadm_images.by_name("etcd")
    etcd_bins: dict[str, Path] = {}
    for spec in components.etcd_builds(kubeadm_images.tag("etcd")):
        name = spec.binaries[0][0]
        bin_dir = gomod.build(
            spec, out_root / f"{name}-{spec.version}", f"go build {name} {spec.version}"
        )
        etcd_bins[name] = bin_dir / name
    with step(f"image {ref}"):
        dockerutil.build_image([ref], _scratch_binaries(sorted(etcd_bins)), etcd_bins, "etcd")
    refs.append(ref)

    ref = kubeadm_images.by_name("coredns")
    spec = components.coredns_build(kubeadm_images.tag("coredns"))
    coredns = (
        gomod.build(spec, out_root / f"coredns-{spec.version}", f"go build coredns {spec.version}")
        / "coredns"
    )
    with step(f"image {ref}"):
        dockerutil.build_image(
            [ref],
            'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]\n',
            {"coredns": coredns},
            "coredns",
        )
    refs.append(ref)

    # kind replaces kubeadm's pause with the sandbox image its containerd config pins.
    pause_tag = sandbox.rsplit(":", 1)[1]
    with step(f"image {sandbox}"):
        pause = build_pause(out_root / f"pause-{pause_tag}", pause_tag)
        dockerutil.build_image(
            [sandbox],
            'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n',
            {"pause": pause},
            "pause",
        )
    refs.append(sandbox)
    return refs


def _image_id(ref: str) -> str:
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise dockerutil.DockerError(
            f"base image {ref} is missing; build it first (airgap.docker_engine.ensure_debian_base)"
        )
    return out.stdout.strip()
