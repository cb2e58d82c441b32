"""`python -m harness COMMAND [options]`: the bring-up one step at a time.

  images    pull or build every image the run needs, and the app image
  cluster   the kind cluster with the images and add-ons loaded; kept
  deploy    the release into namespace todo-dev of the kept cluster (or --kubeconfig's)
  teardown  delete the kind cluster
  matrix    the GitHub workflow's e2e matrix as JSON (minor, node image by digest, values,
            nodes, Helm major of every leg)
  fill-mirror  the local registry (127.0.0.1:5001) filled with this machine's offline
            builds under their upstream names: a stand-in mirror for the upstream path

Options come from the same table as the pytest options (see harness/settings.py);
every one also reads its E2E_* environment variable.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from harness import kind, settings
from harness.proc import HarnessError, say
from toolchain import decide, versions
from toolchain.progress import set_label, summary

COMMANDS = ("images", "cluster", "deploy", "teardown", "matrix", "fill-mirror")
MATRIX_VALUES = {
    "kind": "",
    "shipped": settings.SHIPPED,
    "production": "chart/todo-app/values-production.yaml",
}


def _leg(minor: str, values: str, *, nodes: int = 1, helm: str = versions.HELM_DEFAULT_MAJOR,
         ) -> dict:  # fmt: skip
    return {"kubernetes": minor, "node_image": versions.KUBERNETES_MATRIX[minor],
            "values": values, "values_files": MATRIX_VALUES[values], "nodes": nodes,
            "helm": helm}  # fmt: skip


def matrix() -> dict:
    """The workflow's e2e legs, all from toolchain/versions.py: every supported Kubernetes
    minor x values (Helm 4); each extended-support minor with the kind values; the newest
    minor with one 3-node production leg (node drain, spread) and one Helm 3 leg."""
    newest = next(iter(versions.KUBERNETES_SUPPORTED))
    include = [_leg(minor, values) for minor in versions.KUBERNETES_SUPPORTED
               for values in MATRIX_VALUES]  # fmt: skip
    include += [_leg(minor, "kind") for minor in versions.KUBERNETES_EXTENDED]
    include.append(_leg(newest, "production", nodes=3))
    include += [_leg(newest, "kind", helm=major) for major in versions.HELM_MAJORS
                if major != versions.HELM_DEFAULT_MAJOR]  # fmt: skip
    return {"include": include}


def _said_in_a_line() -> tuple[type[BaseException], ...]:
    """What a step raises to say why it cannot go on: the message is for the user, a
    traceback would only hide it. Read when a step fails (the image builds' own errors are
    imported only then)."""
    from airgap.debian import DebianBaseError
    from airgap.node.build import NodeImageError
    from airgap.node.images import PauseBuildError
    from toolchain.docker import EngineError, ImageError
    from toolchain.go import GoBuildError
    from toolchain.tools import ToolError

    return (HarnessError, ValueError, decide.DecisionError, ToolError, GoBuildError, ImageError,
            EngineError, DebianBaseError, NodeImageError, PauseBuildError)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--no-node", action="store_true", help="images: no kind node image")
    settings.add_cli_options(parser)
    args = parser.parse_args(argv)
    set_label("harness")
    if args.command == "matrix":
        print(json.dumps(matrix()))
        return 0
    try:
        given = {o.name: getattr(args, o.name) for o in settings.OPTIONS}
        chosen = settings.from_mapping(given)
        if args.command == "teardown":
            kind.delete(chosen.cluster_name)
            return 0
        if args.command == "fill-mirror":
            from harness.images import fill_stand_in_mirror
            from harness.registry import ensure_local_registry

            local = ensure_local_registry()
            fill_stand_in_mirror(local.host_address)
            say(f"filled: TODO_IMAGE_MIRROR={local.host_address} TODO_STAND_IN_MIRROR=1 "
                "TODO_IMAGE_SOURCE=upstream runs the upstream path through it (this "
                "machine's builds, not the upstream images)")  # fmt: skip
            return 0
        choice = decide.current(**chosen.decision_args())
        from harness import stand_up

        if args.command == "images":
            from harness.images import prepare

            # Refused here, before any build, when the cluster could not get the images.
            say(f"the run's images will reach the nodes by: {stand_up.images_plan(chosen, choice)}")
            prepare(choice, kind=not (args.no_node or chosen.existing_cluster))
            return 0
        kept = replace(chosen, reuse_cluster=True)
        if args.command == "deploy":
            kept = replace(kept, namespace=chosen.namespace or "todo-dev")
        env = stand_up.Environment(kept, choice, stand_up.cluster_up(kept, choice))
        wanted = stand_up.wanted_addons(env.cluster, choice, kept)
        stand_up.images_into_cluster(env, wanted)
        if args.command == "cluster":
            stand_up.apply_addons(env.cluster, env.images, wanted)
            stand_up.finish_addons(env.cluster, choice, wanted, env.images)
            say(f"cluster {env.cluster.name!r} is up: export KUBECONFIG={env.cluster.kubeconfig}")
        else:
            release = stand_up.deploy(env, kept.namespace)
            say(f"release {release.name!r} in namespace {release.namespace!r}: backend at "
                f"{release.backend_url} (KUBECONFIG={env.cluster.kubeconfig})")  # fmt: skip
    except _said_in_a_line() as exc:
        say(f"error: {exc}")
        return 1
    finally:
        summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
