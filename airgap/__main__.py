"""`python -m airgap [all|docker|tools|images|node|status]`.

  docker  make a Docker engine available (see airgap.docker_engine)
  tools   kind, helm, kubectl, actionlint in <cache>/bin; prints their paths
  images  Debian base, Python base, PostgreSQL, metrics-server, kind CNI/storage images
  node    the kind node image (airgap.node.build.ensure_node_image)
  all     docker + tools + images + node (the default)
  status  what exists already; changes nothing
  bench   create/delete a kind cluster 3 times from the chosen node image (median time)

Every step is cached; a second run finishes in seconds. A table of steps and
their wall times is printed at the end.
"""

# ruff: noqa: S603, S607 - this module runs fixed build tools (docker, go, apt) by name

from __future__ import annotations

import argparse
import subprocess
import sys

from airgap import cache, versions
from airgap.progress import step, summary


def _docker() -> None:
    from airgap.docker_engine import ensure_docker

    ensure_docker()


def _tools() -> None:
    from airgap.tools import ensure_tools

    for name, path in ensure_tools().items():
        print(f"{name}\t{path}")


def _images() -> None:
    from airgap.images.build import ensure_images

    for role, name in ensure_images().items():
        print(f"{role}\t{name}")


def _node() -> None:
    from airgap.node.build import ensure_node_image

    print(f"kind-node\t{ensure_node_image()}")


def _bench() -> None:
    from airgap.cluster import bench
    from airgap.images import image_names

    bench(image_names().kind_node)


def _status() -> int:
    from airgap.docker_engine import engine_running, image_label
    from airgap.images import image_names, image_source

    print(f"cache\t{cache.cache_dir()}")
    running = engine_running()
    print(f"docker\t{'running' if running else 'not running'}")
    for tool in ("kind", "helm", "kubectl", "actionlint"):
        path = cache.bin_dir() / tool
        print(f"{tool}\t{path if path.exists() else 'missing'}")
    source = image_source()
    print(f"image source\t{source}")
    local = image_names("local")
    for name in (local.kind_node, local.python_base, local.postgres, local.metrics_server):
        state = "unknown (no engine)"
        if running:
            state = "present" if image_label(name) is not None else "missing"
        print(f"{name}\t{state}")
    return 0


STEPS = {"docker": _docker, "tools": _tools, "images": _images, "node": _node}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airgap",
        description="Build what kind and the e2e suite need without a container registry "
        f"(kind {versions.KIND_VERSION}, Kubernetes {versions.KUBERNETES_VERSION}).",
    )
    parser.add_argument(
        "commands",
        nargs="*",
        default=["all"],
        choices=["all", "status", "bench", *STEPS],
        help="steps to run (default: all)",
    )
    args = parser.parse_args(argv)
    if "status" in args.commands:
        return _status()
    wanted = list(STEPS) if "all" in args.commands else list(args.commands)
    # The engine is needed by every step but tools.
    if any(c in wanted for c in ("images", "node", "bench")) and "docker" not in wanted:
        wanted.insert(0, "docker")
    ok = False
    try:
        with step("airgap " + " ".join(args.commands), heartbeat=0):
            for name in STEPS:
                if name in wanted:
                    STEPS[name]()
            if "bench" in wanted:
                _bench()
        ok = True
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"\nairgap: FAILED: {exc}", file=sys.stderr)
    finally:
        summary()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
