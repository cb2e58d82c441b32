"""Assemble the kind node image offline, the way `kind build node-image` does.

kind's builder (pkg/build/nodeimage/buildcontext.go) starts a container from
the base image, copies kubeadm/kubelet/kubectl into /usr/bin, writes
/kind/version and the default CNI/storage manifests, pulls every image
kubeadm needs into the node's containerd and commits the container. Pulling
needs a registry, so here every image is built locally and imported from
`docker save` instead, with the same `ctr images import` flags kind uses.

Public API:
- `kubernetes_binaries()` -> directory holding kubeadm, kubelet, kubectl and
  the control-plane binaries built from k8s.io/kubernetes.
- `ensure_node_image()` -> the node image name (cached: a rerun with the
  same inputs only checks labels).
"""

# ruff: noqa: S603, S607  (a build driver: runs fixed argv lists of docker/go/gcc, never a shell string)

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from airgap.docker_engine import ensure_docker
from airgap.node import components, dockerutil, gomod, gosource
from airgap.node.base import ensure_base_image
from airgap.node.images import ensure_component_images
from airgap.node.lock import cache_lock
from airgap.progress import mark_cached, note, step
from airgap.versions import KIND_NODE_LOCAL, KUBERNETES_VERSION

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
    """Build (once) kubeadm, kubelet, kubectl and the control plane; return their directory."""
    spec = components.kubernetes_build()
    with cache_lock("build"):
        return gomod.build(
            spec, components.kubernetes_dir(), f"go build Kubernetes {KUBERNETES_VERSION}"
        )


def kubeadm_images(bin_dir: Path) -> components.KubeadmImages:
    out = subprocess.run(
        [
            str(bin_dir / "kubeadm"),
            "config",
            "images",
            "list",
            "--kubernetes-version",
            KUBERNETES_VERSION,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return components.parse_image_list(out.stdout)


@dataclass(frozen=True)
class KindDefaults:
    """What kind's node-image builder adds besides Kubernetes, read from kind's source."""

    sandbox_image: str
    cni_manifest: str
    cni_images: tuple[str, ...]
    storage_manifest: str
    storage_images: tuple[str, ...]


def kind_defaults(kind_root: Path) -> KindDefaults:
    nodeimage = kind_root / "pkg/build/nodeimage"
    cni = (nodeimage / "const_cni.go").read_text()
    storage = (nodeimage / "const_storage.go").read_text()
    config = (kind_root / "images/base/files/etc/containerd/config.toml").read_text()
    return KindDefaults(
        sandbox_image=gosource.sandbox_image(config),
        cni_manifest=gosource.string_expression(cni, "defaultCNIManifest"),
        cni_images=tuple(gosource.string_slice(cni, "defaultCNIImages")),
        storage_manifest=gosource.string_expression(storage, "defaultStorageManifest"),
        storage_images=tuple(gosource.string_slice(storage, "defaultStorageImages")),
    )


def _docker_name(ref: str) -> str:
    """docker.io/kindest/x:t -> kindest/x:t (how the Docker engine lists it)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def ensure_addon_images(names: tuple[str, ...]) -> None:
    """kindnetd and local-path images come from airgap.images (the airgap-host build)."""
    try:
        from airgap.images import ensure_cni_and_storage_images
    except ImportError as exc:
        raise NodeImageError(
            "airgap.images.ensure_cni_and_storage_images is not available, so the kindnetd "
            f"and local-path images ({', '.join(names)}) cannot be built: {exc}"
        ) from exc
    ensure_cni_and_storage_images()
    missing = [n for n in names if dockerutil.image_labels(_docker_name(n)) is None]
    if missing:
        raise NodeImageError(
            "after ensure_cni_and_storage_images() these images kind's manifests use are "
            f"still missing from Docker: {', '.join(missing)}"
        )


def _image_id(ref: str) -> str:
    return dockerutil.docker("image", "inspect", "--format", "{{.Id}}", _docker_name(ref))


def node_key(base: str, images: list[str], bin_dir: Path, defaults: KindDefaults) -> str:
    digest = hashlib.sha256()
    digest.update(KUBERNETES_VERSION.encode())
    digest.update(_image_id(base).encode())
    for ref in sorted(images):
        digest.update(f"{ref}={_image_id(ref)}".encode())
    for name in components.NODE_BINARIES:
        digest.update(dockerutil.file_digest(bin_dir / name).encode())
    digest.update(defaults.cni_manifest.encode())
    digest.update(defaults.storage_manifest.encode())
    return digest.hexdigest()[:20]


def ensure_node_image() -> str:
    """Build (once per input change) the kind node image; return its name."""
    with cache_lock("build"), step(f"kind node image {NODE_IMAGE}"):
        ensure_docker()
        bin_dir = kubernetes_binaries()
        wanted = kubeadm_images(bin_dir)
        defaults = kind_defaults(components.kind_dir())
        base = ensure_base_image()
        with step("control-plane images"):
            images = ensure_component_images(bin_dir, wanted, defaults.sandbox_image)
        addons = defaults.cni_images + defaults.storage_images
        with step("kindnetd and local-path images"):
            ensure_addon_images(addons)
        images += list(addons)
        key = node_key(base, images, bin_dir, defaults)
        with step("assemble node image"):
            if dockerutil.image_key(NODE_IMAGE) == key:
                mark_cached(NODE_IMAGE)
                return NODE_IMAGE
            assemble(base, bin_dir, images, defaults, key)
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


def assemble(base: str, bin_dir: Path, images: list[str], defaults: KindDefaults, key: str) -> None:
    name = f"todo-airgap-node-build-{os.getpid()}-{int(time.time())}"
    dockerutil.docker(
        "run", "-d", "--entrypoint=sleep", f"--name={name}",
        "--security-opt", "seccomp=unconfined", base, "infinity",
    )  # fmt: skip
    try:
        for binary in components.NODE_BINARIES:
            dockerutil.docker("cp", str(bin_dir / binary), f"{name}:/usr/bin/{binary}")
            _exec(name, "chmod", "+x", f"/usr/bin/{binary}")
            _exec(name, "chown", "root:root", f"/usr/bin/{binary}")
        _write(name, "/kind/version", KUBERNETES_VERSION)
        _write(name, CNI_MANIFEST_PATH, defaults.cni_manifest)
        _write(name, STORAGE_MANIFEST_PATH, defaults.storage_manifest)
        listed = _exec(
            name, "kubeadm", "config", "images", "list", "--kubernetes-version", KUBERNETES_VERSION
        )
        note(f"kubeadm in the node lists: {' '.join(listed.split())}")

        _exec(name, "bash", "-c", "nohup containerd > /var/log/containerd-build.log 2>&1 &")
        _exec(name, "bash", "-c", WAIT_CONTAINERD)
        for ref in images:
            note(f"ctr import {ref}")
            save = subprocess.Popen(["docker", "save", _docker_name(ref)], stdout=subprocess.PIPE)
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
        missing = [r for r in images if gosource.normalize_image(r) not in present]
        if missing:
            raise NodeImageError(
                f"containerd in the node lacks {missing}; it has {sorted(present)}"
            )
        _exec(name, "bash", "-c", STOP_CONTAINERD)
        dockerutil.docker(
            "commit",
            "--change", ENTRYPOINT,
            "--change", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""',
            "--change", "CMD []",
            "--change", f"LABEL {dockerutil.KEY_LABEL}={key}",
            name, NODE_IMAGE,
        )  # fmt: skip
        note(f"committed {NODE_IMAGE}")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
