"""Assemble the kind node image offline, the way `kind build node-image` does.

kind's builder (pkg/build/nodeimage/buildcontext.go) starts a container from
the base image, copies kubeadm/kubelet/kubectl into /usr/bin, writes
/kind/version and the default CNI/storage manifests, pulls every image
kubeadm needs into the node's containerd and commits the container. Pulling
needs a registry, so here every image is built locally and imported from
`docker save` instead, with the same `ctr images import` flags kind uses.

`ensure_node_image(debian)` returns the node image name (cached: a rerun with
the same inputs only compares labels).
"""

# ruff: noqa: S603, S607 - runs docker/kubeadm by name with fixed arguments

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from airgap.images import ensure_kind_addon_images
from airgap.node import components
from airgap.node.base import ensure_base_image
from airgap.node.images import ensure_component_images
from toolchain import cache, docker, go
from toolchain.kindmod import docker_name, normalize_image
from toolchain.progress import mark_cached, note, step
from toolchain.versions import KIND_NODE_LOCAL, KUBERNETES_VERSION

NODE_IMAGE = KIND_NODE_LOCAL
ENTRYPOINT = 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]'
CNI_MANIFEST_PATH = "/kind/manifests/default-cni.yaml"
STORAGE_MANIFEST_PATH = "/kind/manifests/default-storage.yaml"
WAIT_CONTAINERD = """for i in $(seq 1 30); do
  [ -S /run/containerd/containerd.sock ] && break
  sleep 1
done
ctr info >/dev/null"""
# Stop containerd and wait for it to exit so its metadata is flushed before the commit.
# (PID 1 is `sleep`, which never reaps: an exited containerd stays as a zombie "Z".)
STOP_CONTAINERD = """pkill -x containerd
for i in $(seq 1 30); do
  ps -C containerd -o stat= | grep -qv '^Z' || exit 0
  sleep 1
done
exit 1"""


class NodeImageError(RuntimeError):
    """The node image cannot be built; the message says what is missing."""


def kubernetes_binaries() -> Path:
    """Build (once) kubeadm, kubelet, kubectl and the control plane; return their folder."""
    return go.build(components.kubernetes_build())


def kubeadm_images(bin_dir: Path) -> components.KubeadmImages:
    out = subprocess.run(
        [str(bin_dir / "kubeadm"), "config", "images", "list",
         "--kubernetes-version", KUBERNETES_VERSION],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return components.parse_image_list(out.stdout)


def node_key(base: str, images: list[str], bin_dir: Path) -> str:
    kind = components.kind()
    digest = hashlib.sha256()
    digest.update(KUBERNETES_VERSION.encode())
    digest.update(docker.image_id(base).encode())
    for ref in sorted(images):
        digest.update(f"{ref}={docker.image_id(docker_name(ref))}".encode())
    for name in components.NODE_BINARIES:
        digest.update(hashlib.sha256((bin_dir / name).read_bytes()).hexdigest().encode())
    digest.update(kind.cni_manifest.encode())
    digest.update(kind.storage_manifest.encode())
    return digest.hexdigest()[:20]


def ensure_node_image(debian: str) -> str:
    """Build (once per input change) the kind node image on the Debian base; return it."""
    kind = components.kind()
    with cache.cache_lock("node-image"), step(f"kind node image {NODE_IMAGE}"):
        bin_dir = kubernetes_binaries()
        wanted = kubeadm_images(bin_dir)
        base = ensure_base_image(kind, debian)
        with step("control-plane images"):
            images = ensure_component_images(bin_dir, wanted, kind.sandbox_image)
        addons = ensure_kind_addon_images(kind, debian)
        expected = set(kind.cni_images + kind.storage_images)
        if set(addons) != expected:
            raise NodeImageError(f"kind's manifests use {sorted(expected)}, built {addons}")
        images += addons
        key = node_key(base, images, bin_dir)
        with step("assemble node image"):
            if docker.image_label(NODE_IMAGE) == key:
                mark_cached(NODE_IMAGE)
                return NODE_IMAGE
            assemble(base, bin_dir, images, key)
        return NODE_IMAGE


def _exec(container: str, *cmd: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["docker", "exec", "-i", container, *cmd], input=stdin, capture_output=True
    )
    if proc.returncode != 0:
        raise NodeImageError(
            f"`{' '.join(cmd)}` in the build container failed: "
            + proc.stderr.decode(errors="replace")
        )
    return proc.stdout.decode()


def _write(container: str, path: str, content: str) -> None:
    _exec(container, "mkdir", "-p", str(Path(path).parent))
    _exec(container, "cp", "/dev/stdin", path, stdin=content.encode())


def assemble(base: str, bin_dir: Path, images: list[str], key: str) -> None:
    kind = components.kind()
    name = f"todo-airgap-node-build-{os.getpid()}-{int(time.time())}"
    _docker("run", "-d", "--entrypoint=sleep", f"--name={name}",
            "--security-opt", "seccomp=unconfined", base, "infinity")  # fmt: skip
    try:
        for binary in components.NODE_BINARIES:
            _docker("cp", str(bin_dir / binary), f"{name}:/usr/bin/{binary}")
            _exec(name, "chmod", "+x", f"/usr/bin/{binary}")
            _exec(name, "chown", "root:root", f"/usr/bin/{binary}")
        _write(name, "/kind/version", KUBERNETES_VERSION)
        _write(name, CNI_MANIFEST_PATH, kind.cni_manifest)
        _write(name, STORAGE_MANIFEST_PATH, kind.storage_manifest)
        listed = _exec(
            name, "kubeadm", "config", "images", "list", "--kubernetes-version", KUBERNETES_VERSION
        )
        note(f"kubeadm in the node lists: {' '.join(listed.split())}")

        _exec(name, "bash", "-c", "nohup containerd > /var/log/containerd-build.log 2>&1 &")
        _exec(name, "bash", "-c", WAIT_CONTAINERD)
        for ref in images:
            note(f"ctr import {ref}")
            save = subprocess.Popen(["docker", "save", docker_name(ref)], stdout=subprocess.PIPE)
            load = subprocess.run(
                [
                    "docker", "exec", "-i", name, "ctr", "--namespace=k8s.io", "images", "import",
                    "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack",
                    "--digests", "-",
                ],
                stdin=save.stdout,
                capture_output=True,
            )  # fmt: skip
            if save.stdout:
                save.stdout.close()
            if save.wait() != 0 or load.returncode != 0:
                raise NodeImageError(
                    f"importing {ref} failed: {load.stderr.decode(errors='replace')}"
                )
        present = set(_exec(name, "ctr", "--namespace=k8s.io", "images", "list", "-q").split())
        missing = [r for r in images if normalize_image(r) not in present]
        if missing:
            raise NodeImageError(
                f"containerd in the node lacks {missing}; it has {sorted(present)}"
            )
        _exec(name, "bash", "-c", STOP_CONTAINERD)
        _docker(
            "commit",
            "--change", ENTRYPOINT,
            "--change", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""',
            "--change", "CMD []",
            "--change", f"LABEL {docker.RECIPE_LABEL}={key}",
            name, NODE_IMAGE,
        )  # fmt: skip
        note(f"committed {NODE_IMAGE}")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def _docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise NodeImageError(f"`docker {' '.join(args[:3])} ...` failed: {proc.stderr.strip()}")
    return proc.stdout.strip()
