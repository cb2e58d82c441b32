"""The images the suites and kind need, built here from Debian packages and Go modules.

Each image has a recipe folder next to this file (its Dockerfile and the files
it copies in); Go binaries are built by `toolchain.go` and added to the build
context. Every image carries the recipe label of `toolchain.docker`, a hash of
its context, its pins and its base image's ID, so a rerun rebuilds only what
changed.

| image | built from |
|---|---|
| Python base (stand-in for python:3.11-slim-bookworm) | Debian's python3.11 |
| PostgreSQL | Debian's postgresql-15, with the official image's entrypoint interface |
| metrics-server | its Go module, static, FROM scratch |
| kube-router (NetworkPolicy only) | its Go module, on the Debian base with iptables/ipset |
| kindnetd, local-path-provisioner, local-path-helper | under the names kind references |

kindnetd's source is not served by the Go module proxy, so `kindnetd/main.go`
is this project's own small implementation of the job it does in kind.
"""

from __future__ import annotations

from pathlib import Path

from airgap.debian import ensure_debian_base
from toolchain import cache, docker, go, versions
from toolchain.kindmod import KindModule, docker_name
from toolchain.progress import note, step

HERE = Path(__file__).parent
KINDNETD_DIR = HERE / "kindnetd"


def _scratch_rootfs() -> dict[str, bytes]:
    """passwd/group with nobody (65534) for FROM-scratch images."""
    return {
        "rootfs/etc/passwd": (
            b"root:x:0:0:root:/root:/sbin/nologin\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
        ),
        "rootfs/etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    }


def _recipe(name: str, *, tags: list[str], base: str | None, extra=(), files=None) -> str:
    """Build the recipe folder `name` (plus generated `files`) as `tags` unless current."""
    context: dict[str, Path | bytes] = {**docker.folder_files(HERE / name), **(files or {})}
    build_args = {"BASE_IMAGE": base} if base else {}
    base_id = [docker.image_id(base)] if base else []
    with step(f"image {tags[0]}"):
        docker.ensure_image(tags, context, extra=[*extra, *base_id], build_args=build_args)
    return tags[0]


# --- Go builds behind the images ------------------------------------------------------------


def metrics_server_build() -> go.GoBuild:
    version = versions.METRICS_SERVER_VERSION
    return go.GoBuild(
        "metrics-server",
        versions.METRICS_SERVER_MODULE,
        version,
        (("metrics-server", f"{versions.METRICS_SERVER_MODULE}/cmd/metrics-server"),),
        ldflags=(
            f"-X k8s.io/client-go/pkg/version.gitVersion={version}",
            "-X k8s.io/client-go/pkg/version.gitTreeState=clean",
        ),
    )


def local_path_provisioner_build(version: str) -> go.GoBuild:
    module = versions.LOCAL_PATH_PROVISIONER_MODULE
    return go.GoBuild(
        "local-path-provisioner",
        module,
        version,
        (("local-path-provisioner", module),),
        ldflags=(f"-X main.VERSION={version}",),
    )


def kube_router_build() -> go.GoBuild:
    module, version = versions.KUBE_ROUTER_MODULE, versions.KUBE_ROUTER_VERSION
    return go.GoBuild(
        "kube-router",
        module,
        version,
        (("kube-router", f"{module}/cmd/kube-router"),),
        ldflags=(
            f"-X {module}/pkg/version.Version={version}",
            f"-X {module}/pkg/version.BuildDate=todo-airgap",
        ),
    )


# --- the images --------------------------------------------------------------------------------


def ensure_python_base(base: str) -> str:
    return _recipe(
        "python", tags=[versions.PYTHON_LOCAL], base=base, extra=[versions.PYTHON_VERSION]
    )


def ensure_postgres(base: str) -> str:
    tag = f"{versions.POSTGRES_LOCAL_REPOSITORY}:{versions.POSTGRES_TAG}"
    return _recipe("postgres", tags=[tag], base=base, extra=[versions.POSTGRES_MAJOR])


def ensure_metrics_server() -> str:
    binary = go.build(metrics_server_build()) / "metrics-server"
    return _recipe(
        "metrics-server",
        tags=[versions.METRICS_SERVER_LOCAL],
        base=None,
        files={"metrics-server": binary, **_scratch_rootfs()},
    )


def ensure_kube_router(base: str) -> str:
    binary = go.build(kube_router_build()) / "kube-router"
    return _recipe(
        "kube-router", tags=[versions.KUBE_ROUTER_LOCAL], base=base, files={"kube-router": binary}
    )


def ensure_kind_addon_images(kind: KindModule, base: str) -> list[str]:
    """kindnetd and the local-path images, under the exact names kind's manifests use.

    Returns the references as kind writes them (`docker.io/kindest/...`).
    """
    with step("kind CNI and storage images"):
        kindnetd = cache.sub_dir("build") / "kindnetd"
        go.build_local("kindnetd", KINDNETD_DIR, kindnetd, "kindnetd")
        refs = {
            "kindnetd": kind.image("kindnetdImage"),
            "provisioner": kind.image("storageProvisionerImage"),
            "helper": kind.image("storageHelperImage"),
        }
        _recipe(
            "kindnetd",
            tags=[docker_name(refs["kindnetd"])],
            base=base,
            files={"kindnetd": kindnetd},
        )
        version = versions.LOCAL_PATH_PROVISIONER_VERSION
        if kind.local_path_provisioner_version != version:
            note(
                f"kind packages local-path-provisioner {kind.local_path_provisioner_version}; "
                f"building the pin {version} (toolchain/versions.py) under kind's image name"
            )
        provisioner = go.build(local_path_provisioner_build(version)) / "local-path-provisioner"
        _recipe(
            "local-path-provisioner",
            tags=[docker_name(refs["provisioner"])],
            base=None,
            files={"local-path-provisioner": provisioner, **_scratch_rootfs()},
        )
        _recipe("local-path-helper", tags=[docker_name(refs["helper"])], base=base)
        return list(refs.values())


def ensure_run_images(*, kube_router: bool) -> dict[str, str]:
    """Every local image a run needs besides the node image; returns role -> name."""
    with step("offline images"):
        base = ensure_debian_base()
        built = {
            "python": ensure_python_base(base),
            "postgres": ensure_postgres(base),
            "metrics-server": ensure_metrics_server(),
        }
        if kube_router:
            built["kube-router"] = ensure_kube_router(base)
        return built


def go_builds() -> list[go.GoBuild]:
    """The Go builds behind these images (for the host-requirement check)."""
    return [
        metrics_server_build(),
        kube_router_build(),
        local_path_provisioner_build(versions.LOCAL_PATH_PROVISIONER_VERSION),
    ]
