"""`python -m airgap [all|images|node|status]`: the images kind and the suites need, built here.

  images  the Debian base, Python base, PostgreSQL, metrics-server, and kube-router
          when this run's NetworkPolicy enforcer is kube-router
  node    the kind node image (Kubernetes, kind's base, control-plane, CNI and
          storage images), from Go modules and Debian packages
  all     images + node (the default)
  status  what exists already; changes nothing

Every step is cached; a warm rerun finishes in seconds. A table of steps and
their wall times is printed at the end. Needs a Docker engine and the host
requirements of `python -m toolchain host --for offline`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from airgap.debian import ensure_debian_base
from toolchain import decide, docker, versions
from toolchain.progress import set_label, summary

STEPS = ("all", "images", "node", "status")


def _status() -> None:
    running = docker.engine_running()
    print(f"docker\t{'running' if running else 'not running'}")
    for name in (
        versions.DEBIAN_BASE_IMAGE,
        versions.PYTHON_LOCAL,
        f"{versions.POSTGRES_LOCAL_REPOSITORY}:{versions.POSTGRES_TAG}",
        versions.METRICS_SERVER_LOCAL,
        versions.KUBE_ROUTER_LOCAL,
        versions.KIND_NODE_LOCAL,
    ):
        state = "unknown (no engine)"
        if running:
            state = "present" if docker.image_exists(name) else "missing"
        print(f"{name}\t{state}")


def build(steps: list[str]) -> None:
    from airgap.images import ensure_run_images
    from airgap.node.build import ensure_node_image

    wanted = {"images", "node"} if "all" in steps else set(steps)
    if "images" in wanted:
        ensure_run_images(kube_router=decide.current().enforcer == "kube-router")
    if "node" in wanted:
        ensure_node_image(ensure_debian_base())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airgap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Checked here, not by argparse's `choices`: Python 3.11 checks the default of a "*"
    # positional against them as one value, so `python -m airgap` alone failed with
    # "invalid choice: ['all']" (and with no default, "invalid choice: []").
    parser.add_argument("steps", nargs="*", metavar="STEP",
                        help=f"any of {', '.join(STEPS)} (default: all)")  # fmt: skip
    steps = parser.parse_args(argv).steps or ["all"]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(STEPS)}")
    set_label("airgap")
    if "status" in steps:
        _status()
        return 0
    try:
        build(steps)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"\nairgap: FAILED: {exc}", file=sys.stderr)
        summary()
        return 1
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
