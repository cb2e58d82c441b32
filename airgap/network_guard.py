"""Keep an air-gapped kind cluster's traffic on this machine.

With the local images nothing in a kind cluster needs to leave the host: every
image is already in the nodes. But a packet can still try, e.g. a connection to
a ClusterIP that kube-proxy has not programmed yet is routed out of the node's
default route, and on these machines something beyond that route answers. So,
before the cluster starts, the `kind` Docker network is created (with the
options kind itself uses) and the host refuses to forward anything from its
bridge to any other interface. Traffic between nodes, to the host itself
(published ports, Docker's DNS) and from the host into the nodes is untouched.

Used only on the air-gapped path: with upstream images the nodes must reach a
registry. `TODO_KIND_EGRESS=allow` turns the guard off.
"""

# ruff: noqa: S603, S607 - runs docker/iptables by name with fixed arguments

from __future__ import annotations

import json
import os
import subprocess

from airgap.progress import note

NETWORK = "kind"  # kind's fixed network name (KIND_EXPERIMENTAL_DOCKER_NETWORK aside)
# kind's own choice for the network's IPv6 ULA subnet and options (pkg/cluster/internal/
# providers/docker/network.go); the same here so kind accepts the network as its own.
KIND_IPV6_SUBNET = "fc00:f853:ccd:e793::/64"
COMMENT = "todo-airgap: kind network stays on this host"


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
    for tool, chain, *rule in guard_rules(bridge):
        if _run([tool, "-C", chain, *rule], check=False).returncode == 0:
            continue
        result = _run([tool, "-I", chain, "1", *rule], check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"could not add the egress guard for the kind network with {tool}: "
                f"{result.stderr.strip()}. Run as root, or set TODO_KIND_EGRESS=allow "
                "if this cluster may reach other hosts."
            )
        note(f"HOST CHANGE: {tool} -I {chain}: refuse forwarding from {bridge} to other links")
    return bridge
