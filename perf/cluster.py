"""perf's own kind cluster and release: `python -m perf.cluster [--namespace NS]`.

The e2e suite owns kind cluster `todo-e2e` and host port 127.0.0.1:30080; it
deletes a leftover cluster of that name when it starts. So that `nox -s perf`
and `nox -s e2e` never pull the cluster from under each other, perf keeps
its own cluster (default `todo-perf`, kept between runs) whose node publishes
the backend's NodePort 30080 on 127.0.0.1:30081. Everything else is the
e2e harness's: node image, image loading, metrics-server, NetworkPolicy
enforcer, values files and `helm upgrade --install`.

Set PERF_CLUSTER_NAME=todo-e2e and PERF_HOST_PORT=30080 to use e2e's cluster.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from e2e import harness

NAME = os.environ.get("PERF_CLUSTER_NAME") or "todo-perf"
HOST_PORT = int(os.environ.get("PERF_HOST_PORT") or 30081)
NAMESPACE = os.environ.get("PERF_NAMESPACE") or "todo-perf"


def kind_config(host_port: int) -> str:
    """e2e's kind config with the NodePort published on another loopback port."""
    text = harness.KIND_CONFIG.read_text()
    if "hostPort: 30080" not in text:
        raise harness.HarnessError(f"{harness.KIND_CONFIG} has no `hostPort: 30080` to move")
    return text.replace("hostPort: 30080", f"hostPort: {host_port}")


def cluster_up(name: str, host_port: int, images: harness.ImageSet):
    cluster = harness.new_kind_cluster(name, images.node)
    if name in harness.kind_cluster_names():
        harness.say(f"reusing kind cluster {name!r}")
        harness.run(
            [harness.tool("kind"), "export", "kubeconfig", "--name", name,
             "--kubeconfig", cluster.kubeconfig_path],
            quiet=True,
        )  # fmt: skip
        harness.wait_cluster_ready(cluster.kubeconfig_path)
        return cluster, False
    harness.say(f"creating kind cluster {name!r} (NodePort 30080 on 127.0.0.1:{host_port})")
    if harness.image_source() == "local":
        from airgap.network_guard import guard_kind_network

        guard_kind_network()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(kind_config(host_port))
    try:
        cluster.create(config_file=Path(fh.name))
    finally:
        os.unlink(fh.name)
    harness.wait_cluster_ready(cluster.kubeconfig_path)
    return cluster, True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.cluster", description=__doc__)
    p.add_argument("--name", default=NAME)
    p.add_argument("--host-port", type=int, default=HOST_PORT)
    p.add_argument("--namespace", default=NAMESPACE)
    args = p.parse_args(argv)
    try:
        images = harness.choose_images(None, None)
        with harness.phase("perf cluster up"):
            cluster, created = cluster_up(args.name, args.host_port, images)
        kubeconfig = cluster.kubeconfig_path
        with harness.phase("perf image load"):
            loaded = [images.app] + ([images.postgres, images.metrics_server] if created else [])
            harness.load_images(cluster, loaded, images.source)
        if created:
            with harness.phase("perf cluster add-ons"):
                harness.install_metrics_server(
                    kubeconfig, images.metrics_server, node_container=f"{args.name}-control-plane"
                )
                harness.ensure_netpol_enforcer(cluster, kubeconfig, images.source)
        with harness.phase("perf deploy"):
            harness.create_namespace(kubeconfig, args.namespace)
            harness.helm_deploy(kubeconfig, args.namespace, images)
        waited = harness.wait_http(f"http://127.0.0.1:{args.host_port}/ready")
        harness.say(
            f"release {harness.RELEASE!r} in {args.name}/{args.namespace}: backend ready on "
            f"127.0.0.1:{args.host_port} ({waited:.1f} s); KUBECONFIG={kubeconfig}"
        )
    except harness.HarnessError as exc:
        harness.say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
