"""Every image a run needs, made ready before any test starts.

`prepare(choice, kind=...)` is the images step of a run: with a registry it
pulls the upstream images, without one it has `airgap` build them here; then
it builds the application image from services/. `cluster_images(choice)`
names what goes into the nodes; `harness.delivery` carries them there (kind
load, or a push to a registry the nodes pull from).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.proc import say
from toolchain import docker
from toolchain.decide import ImageSet, RunChoice
from toolchain.progress import step

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "services"


def extra_ca_certs() -> str:
    """PEM text of CAs added to this host (a TLS-inspecting proxy's), for pip in the build.

    TODO_EXTRA_CA_CERTS names a PEM file; otherwise the certificates installed
    under /usr/local/share/ca-certificates (Debian's place for local CAs).
    """
    named = os.environ.get("TODO_EXTRA_CA_CERTS", "").strip()
    files = (
        [Path(named)]
        if named
        else sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    )
    return "\n".join(f.read_text().strip() for f in files if f.is_file())


def build_app_image(images: ImageSet) -> None:
    """`docker build` the application image from services/ on the run's Python base."""
    with step(f"app image {images.app}"):
        cmd = ["docker", "build", "--build-arg", f"BASE_IMAGE={images.python_base}"]
        cas = extra_ca_certs()
        if cas:
            cmd += ["--build-arg", f"EXTRA_CA_CERTS={cas}"]
            say(f"passing {cas.count('BEGIN CERTIFICATE')} local CA(s) to pip in the build")
        cmd += ["-t", images.app, str(SERVICES)]
        from toolchain import cache

        docker.docker_build(cmd, cache.sub_dir("logs") / "image-app.log")


def cluster_images(choice: RunChoice) -> list[str]:
    """The images the kind nodes need besides their own: app, PostgreSQL, add-ons."""
    images = choice.images
    wanted = [images.app, images.postgres, images.metrics_server]
    if choice.enforcer == "kube-router":
        wanted.append(images.kube_router)
    return wanted


def prepare(choice: RunChoice, *, kind: bool) -> None:
    """Pull or build every image of the run, then the app image. `kind`: a node image too."""
    images = choice.images
    with step(f"images ({choice.source})"):
        if choice.source == "local":
            from airgap.debian import ensure_debian_base
            from airgap.images import ensure_run_images
            from airgap.node.build import ensure_node_image

            ensure_run_images(kube_router=choice.enforcer == "kube-router")
            if kind:
                ensure_node_image(ensure_debian_base())
        else:
            for name in [images.python_base, *cluster_images(choice)[1:]]:
                docker.pull(name)
            if kind:
                docker.pull(images.node)
        build_app_image(images)


def fill_stand_in_mirror(address: str) -> dict[str, str]:
    """Fill a registry with this machine's offline builds under their upstream names, laid
    out as the mirror option expects (one prefix per source registry), so the upstream
    code path (pulls through a mirror, loads, add-ons) can run without internet.

    What it serves are this project's builds, not the upstream images: their digests
    differ from the upstream pins, which a run takes from it only with
    TODO_STAND_IN_MIRROR=1 (toolchain.decide). Returns upstream name -> pushed ref."""
    from airgap.debian import ensure_debian_base
    from airgap.images import ensure_run_images
    from airgap.node.build import ensure_node_image
    from harness.registry import push
    from toolchain import versions
    from toolchain.decide import Mirror

    built = ensure_run_images(kube_router=True)
    node = ensure_node_image(ensure_debian_base())
    upstream = {
        versions.PYTHON_UPSTREAM: built["python"],
        f"{versions.POSTGRES_UPSTREAM_REPOSITORY}:{versions.POSTGRES_TAG}": built["postgres"],
        versions.METRICS_SERVER_UPSTREAM: built["metrics-server"],
        versions.KUBE_ROUTER_UPSTREAM: built["kube-router"],
        versions.KIND_NODE_UPSTREAM.split("@", 1)[0]: node,
    }
    mirror = Mirror(address)
    filled = {}
    for name, local in upstream.items():
        ref = mirror.ref(name)
        push(local, ref)
        filled[name] = ref
        say(f"stand-in mirror: {ref} is this machine's {local}")
    return filled
