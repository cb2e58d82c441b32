"""kind clusters: the one place they are created, loaded and deleted.

A cluster has one control plane and `nodes - 1` workers. The control plane
publishes the backend's NodePort (30080) on 127.0.0.1:<host_port>, and the web
front end's (30088) on 127.0.0.1:<host_port + 100>, so load tests and the
browser reach kube-proxy directly and several clusters (e2e, perf) can coexist.
`kind load docker-image` puts an image on every node.

Where the run's images reach the nodes from this host (loaded, or pulled from
the local registry on kind's network), nothing in a kind cluster needs to
leave this host, but a packet can still try: a connection to a ClusterIP that
kube-proxy has not programmed yet, or to a Service without endpoints, is
routed out of the node's default route, and on machines behind a transparent
proxy something beyond that route answers it (with a 404, or bytes that are
no HTTP answer at all) instead of the refusal the client would otherwise get.
So the `kind` Docker network is created first (with the options kind itself
uses) and the host refuses to forward anything from its bridge to any other
interface: offline always; with upstream images where this process may
change the host's firewall (root). Traffic between nodes, to the host itself
(published ports, Docker's DNS) and from the host into the nodes is
untouched. `TODO_KIND_EGRESS=allow` turns the guard off.
"""

# ruff: noqa: S603, S607 - runs the pinned kind and docker/iptables with fixed arguments

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.proc import HarnessError, run, say
from harness.settings import FRONTEND_PORT_OFFSET
from toolchain.progress import note
from toolchain.tools import tool

ROOT = Path(__file__).resolve().parents[1]
NODE_PORT = 30080  # the backend's NodePort inside the cluster (see harness/release.py)
FRONTEND_NODE_PORT = 30088  # the web front end's (published on host_port + FRONTEND_PORT_OFFSET)
# The HPA controller's period (Kubernetes' default is 15 s). The scaling promise waits for
# it on the way up and down; what it proves is the chart's HPA, not the controller's pace.
HPA_SYNC_PERIOD = "5s"
# How often the kubelet's cAdvisor reads container CPU and memory (10 s by default):
# metrics-server, and so the HPA, see a load's start and end this much sooner.
KUBELET_HOUSEKEEPING = "5s"
# Where a node's containerd reads per-registry hosts.toml files (--local-registry).
CERTS_D = "/etc/containerd/certs.d"
# From Kubernetes 1.35 the kubelet refuses to start on a cgroup v1 host unless its
# configuration says `failCgroupV1: false` (deprecated; kind warns that cgroup v1 hosts
# will stop being supported). kind nodes share the host's cgroup hierarchy, so the escape
# hatch is set exactly where the Docker engine reports cgroup v1.
CGROUP_V1_ESCAPE_HATCH = "failCgroupV1: false"


@dataclass(frozen=True)
class Cluster:
    """A cluster the run talks to: a kind cluster of ours, or one given by kubeconfig."""

    name: str
    kubeconfig: Path
    is_kind: bool
    created: bool = False  # this run created it (and may delete it)
    kubelet_on_cgroup_v1: bool = False  # the kubelet was told to accept a cgroup v1 host


def kubeconfig_path(name: str) -> Path:
    """Where a kind cluster's kubeconfig lives (pytest-kind's own layout)."""
    return ROOT / ".pytest-kind" / name / "kubeconfig"


def kind_config(
    nodes: int, host_port: int, *, registry_hosts: bool = False, cgroup_v1: bool = False
) -> str:
    """A kind cluster config: the control plane publishing the NodePort, N-1 workers, the
    HPA controller syncing every HPA_SYNC_PERIOD, every kubelet reading container stats
    every KUBELET_HOUSEKEEPING and, on a cgroup v1 host (`cgroup_v1`), accepting it; with
    `registry_hosts`, containerd reading per-registry hosts.toml files from CERTS_D (where
    `point_nodes_at_registry` maps the local registry's name to its container)."""
    if nodes < 1:
        raise HarnessError(f"a cluster needs at least one node, not {nodes}")
    lines = [
        "kind: Cluster",
        "apiVersion: kind.x-k8s.io/v1alpha4",
        "kubeadmConfigPatches:",
        "  - |",
        "    kind: ClusterConfiguration",
        "    controllerManager:",
        "      extraArgs:",
        f'        horizontal-pod-autoscaler-sync-period: "{HPA_SYNC_PERIOD}"',
    ]
    for node_kind in ("InitConfiguration", "JoinConfiguration"):
        lines += [
            "  - |",
            f"    kind: {node_kind}",
            "    nodeRegistration:",
            "      kubeletExtraArgs:",
            f'        housekeeping-interval: "{KUBELET_HOUSEKEEPING}"',
        ]
    if cgroup_v1:
        lines += ["  - |", "    kind: KubeletConfiguration", f"    {CGROUP_V1_ESCAPE_HATCH}"]
    if registry_hosts:
        lines += [
            "containerdConfigPatches:",
            "  - |-",
            '    [plugins."io.containerd.grpc.v1.cri".registry]',
            f'      config_path = "{CERTS_D}"',
        ]
    lines += [
        "nodes:",
        "  - role: control-plane",
        "    extraPortMappings:",
        f"      - containerPort: {NODE_PORT}",
        f"        hostPort: {host_port}",
        '        listenAddress: "127.0.0.1"',
        "        protocol: TCP",
        f"      - containerPort: {FRONTEND_NODE_PORT}",
        f"        hostPort: {host_port + FRONTEND_PORT_OFFSET}",
        '        listenAddress: "127.0.0.1"',
        "        protocol: TCP",
    ]
    lines += ["  - role: worker"] * (nodes - 1)
    return "\n".join(lines) + "\n"


def host_cgroup_version() -> str:
    """The cgroup version the Docker engine (and so every kind node) runs on: "1" or "2"."""
    out = subprocess.run(["docker", "info", "--format", "{{.CgroupVersion}}"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    version = out.stdout.strip()
    if out.returncode != 0 or version not in ("1", "2"):
        raise HarnessError(f"cannot read the Docker engine's cgroup version: {out.stderr.strip()}")
    return version


def cluster_names() -> list[str]:
    out = run([tool("kind"), "get", "clusters"], capture=True, quiet=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def node_containers(name: str) -> list[str]:
    out = run([tool("kind"), "get", "nodes", "--name", name], capture=True, quiet=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def _kind_cluster(name: str, node_image: str | None = None):
    from pytest_kind import KindCluster

    return KindCluster(
        name,
        kubeconfig=kubeconfig_path(name),
        image=node_image,
        kind_path=tool("kind"),
        kubectl_path=tool("kubectl"),
    )


def create(
    name: str,
    node_image: str,
    *,
    nodes: int,
    host_port: int,
    guard_egress: bool,
    reuse: bool,
    registry_hosts: bool = False,
) -> Cluster:
    """Create the kind cluster (or reuse a running one when asked); `guard_egress`: its
    network may not reach beyond this host (see the module's docstring)."""
    existing = name in cluster_names()
    if existing and reuse:
        say(f"reusing kind cluster {name!r}")
        kubeconfig = kubeconfig_path(name)
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        run([tool("kind"), "export", "kubeconfig", "--name", name, "--kubeconfig", kubeconfig],
            quiet=True)  # fmt: skip
        # Not this run's: it was running before, so the run keeps it (never deletes it).
        return Cluster(name, kubeconfig, is_kind=True, created=False,
                       kubelet_on_cgroup_v1=host_cgroup_version() == "1")  # fmt: skip
    if existing:
        say(f"a kind cluster {name!r} is left over from an earlier run: deleting it")
        delete(name)
    if guard_egress:
        guard_kind_network()
    cgroup_v1 = host_cgroup_version() == "1"
    say(f"creating kind cluster {name!r}: {nodes} node(s) from {node_image}")
    if cgroup_v1:
        say("this host runs cgroup v1: every kubelet is told to accept it "
            f"({CGROUP_V1_ESCAPE_HATCH}, deprecated; 1.35+ refuses v1 without it)")  # fmt: skip
    cluster = _kind_cluster(name, node_image)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(kind_config(nodes, host_port, registry_hosts=registry_hosts,
                             cgroup_v1=cgroup_v1))  # fmt: skip
    try:
        cluster.create(config_file=Path(fh.name))
    except subprocess.CalledProcessError as exc:
        raise HarnessError(f"kind create cluster {name} failed ({exc.returncode})") from exc
    finally:
        os.unlink(fh.name)
    return Cluster(name, cluster.kubeconfig_path, is_kind=True, created=True,
                   kubelet_on_cgroup_v1=cgroup_v1)  # fmt: skip


def point_nodes_at_registry(name: str, pull_address: str, endpoint: str) -> None:
    """Every node's containerd resolves `pull_address` (as images name the registry) to
    `endpoint` over plain HTTP (the registry on kind's network), through a hosts.toml in
    the directory the cluster's config pointed containerd at."""
    hosts = f'[host."http://{endpoint}"]\n  capabilities = ["pull", "resolve"]\n'
    for node in node_containers(name):
        configured = _run(["docker", "exec", node, "grep", "-q", CERTS_D,
                           "/etc/containerd/config.toml"], check=False)  # fmt: skip
        if configured.returncode != 0:
            raise HarnessError(
                f"{node}'s containerd reads no registry hosts ({CERTS_D}): the cluster was made "
                "without --local-registry; delete it (nox -s teardown) and run again"
            )
        folder = f"{CERTS_D}/{pull_address}"
        script = f"mkdir -p {folder} && cat > {folder}/hosts.toml"
        written = subprocess.run(["docker", "exec", "-i", node, "sh", "-c", script],
                                 input=hosts, text=True, capture_output=True)  # fmt: skip
        if written.returncode != 0:
            said = [line for line in written.stderr.splitlines() if line.strip()] or ["-"]
            raise HarnessError(f"cannot write {folder}/hosts.toml on {node} (docker exec "
                               f"exited {written.returncode}): {said[-1][:300]}")  # fmt: skip


def load(name: str, images: list[str]) -> None:
    """`kind load docker-image`: the images onto every node, in one archive per node."""
    run([tool("kind"), "load", "docker-image", "--name", name, *images])


def delete(name: str) -> None:
    if name in cluster_names():
        run([tool("kind"), "delete", "cluster", "--name", name])
    else:
        say(f"no kind cluster named {name!r}")


def restart_apiserver(name: str) -> None:
    """Stop the control plane's kube-apiserver container; the kubelet starts it again."""
    run(["docker", "exec", f"{name}-control-plane", "sh", "-c",
         "crictl stop $(crictl ps -q --name kube-apiserver)"], capture=True)  # fmt: skip


# --- the egress guard ----------------------------------------------------------------------

NETWORK = "kind"  # kind's fixed network name (KIND_EXPERIMENTAL_DOCKER_NETWORK aside)
# The IPv6 ULA subnet and options kind itself gives the network when it makes it; the same
# here so kind accepts a network made by the harness as its own.
KIND_IPV6_SUBNET = "fc00:f853:ccd:e793::/64"
COMMENT = "todo-app: kind network stays on this host"


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def ensure_kind_network() -> str:
    """Create the `kind` network if missing; return its bridge interface name."""
    found = _run(["docker", "network", "inspect", NETWORK], check=False)
    if found.returncode != 0:
        note(f"HOST CHANGE: docker network create {NETWORK} (before kind, to guard its egress)")
        _run(
            [
                "docker", "network", "create", "--driver", "bridge",
                "--ipv6", "--subnet", KIND_IPV6_SUBNET,
                "-o", "com.docker.network.bridge.enable_ip_masquerade=true",
                "-o", "com.docker.network.driver.mtu=1500",
                NETWORK,
            ]
        )  # fmt: skip
        found = _run(["docker", "network", "inspect", NETWORK])
    return bridge_name(json.loads(found.stdout)[0])


def bridge_name(network: dict) -> str:
    """The Linux bridge behind a Docker bridge network (`br-<id[:12]>` unless named)."""
    named = (network.get("Options") or {}).get("com.docker.network.bridge.name")
    return named or f"br-{network['Id'][:12]}"


def guard_rules(bridge: str) -> list[list[str]]:
    """iptables/ip6tables argument lists (after the command and -I/-C) that refuse egress."""
    match = ["-i", bridge, "!", "-o", bridge, "-m", "comment", "--comment", COMMENT]
    return [
        # IPv4: Docker evaluates DOCKER-USER before its own ACCEPT rules.
        ["iptables", "DOCKER-USER", *match, "-j", "REJECT"],
        # IPv6: Docker 20.10 leaves ip6tables alone, so the top of FORWARD is first.
        ["ip6tables", "FORWARD", *match, "-j", "REJECT"],
    ]


def guard_kind_network() -> str | None:
    """Create the kind network and refuse forwarding out of it; return the bridge name.

    Idempotent (rules are checked with -C before they are inserted). Returns None
    when turned off by TODO_KIND_EGRESS=allow.
    """
    if os.environ.get("TODO_KIND_EGRESS", "").lower() == "allow":
        note("kind network egress guard off (TODO_KIND_EGRESS=allow)")
        return None
    bridge = ensure_kind_network()
    for command, chain, *rule in guard_rules(bridge):
        if _run([command, "-C", chain, *rule], check=False).returncode == 0:
            continue
        result = _run([command, "-I", chain, "1", *rule], check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"could not add the egress guard for the kind network with {command}: "
                f"{result.stderr.strip()}. Run as root, or set TODO_KIND_EGRESS=allow "
                "if this cluster may reach other hosts."
            )
        note(f"HOST CHANGE: {command} -I {chain}: refuse forwarding from {bridge} to other links")
    return bridge
