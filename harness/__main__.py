"""`python -m harness COMMAND [options]`: the bring-up one step at a time.

  images    pull or build every image the run needs, and the app image
  cluster   the kind cluster with the images and add-ons loaded; kept
  deploy    the release into namespace todo-dev of the kept cluster (or --kubeconfig's)
  teardown  delete the kind cluster
  matrix    the GitHub workflow's e2e matrix as JSON

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

COMMANDS = ("images", "cluster", "deploy", "teardown", "matrix")
MATRIX_VALUES = {
    "kind": "",
    "shipped": settings.SHIPPED,
    "production": "chart/todo-app/values-production.yaml",
}


def matrix() -> dict:
    """Kubernetes minor x values, plus one 3-node production leg (node drain, spread)."""
    include = [
        {"kubernetes": minor, "node_image": image, "values": name, "values_files": files,
         "nodes": 1}
        for minor, image in versions.KUBERNETES_MATRIX.items()
        for name, files in MATRIX_VALUES.items()
    ]  # fmt: skip
    include.append({"kubernetes": versions.KUBERNETES_VERSION.rsplit(".", 1)[0],
                    "node_image": versions.KIND_NODE_UPSTREAM, "values": "production",
                    "values_files": MATRIX_VALUES["production"], "nodes": 3})  # fmt: skip
    return {"include": include}


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
        choice = decide.current(
            node_image=chosen.node_image,
            k8s_version=chosen.k8s_version,
            existing_cluster=chosen.cluster_keeps_its_addons,
        )
        if args.command == "images":
            from harness.images import prepare

            prepare(choice, kind=not (args.no_node or chosen.existing_cluster))
        elif args.command == "cluster":
            from harness import stand_up

            kept = replace(chosen, reuse_cluster=True)
            cluster = stand_up.cluster_up(kept, choice)
            stand_up.images_on_ready_cluster(cluster, choice)
            wanted = stand_up.wanted_addons(cluster, choice, kept)
            stand_up.apply_addons(cluster, choice, wanted)
            stand_up.finish_addons(cluster, choice, wanted)
            say(f"cluster {cluster.name!r} is up: export KUBECONFIG={cluster.kubeconfig}")
        else:
            from harness import stand_up

            kept = replace(chosen, reuse_cluster=True, namespace=chosen.namespace or "todo-dev")
            cluster = stand_up.cluster_up(kept, choice)
            stand_up.images_on_ready_cluster(cluster, choice)
            env = stand_up.Environment(settings=kept, choice=choice, cluster=cluster)
            release = stand_up.deploy(env, kept.namespace or "todo-dev")
            say(f"release {release.name!r} in namespace {release.namespace!r}: backend at "
                f"{release.backend_url} (KUBECONFIG={cluster.kubeconfig})")  # fmt: skip
    except (HarnessError, ValueError, decide.DecisionError) as exc:
        say(f"error: {exc}")
        return 1
    finally:
        summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
