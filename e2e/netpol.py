"""Make NetworkPolicies enforced on the e2e kind cluster.

kindnet enforces NetworkPolicy only where the kernel has nft queue (see
airgap/netpol.py). Where it has not, `setup_netpol_enforcer()` installs
kube-router in firewall-only mode from our own manifest
(e2e/manifests/kube-router.yaml) and waits until it runs on every node.

Cluster setup calls, after the cluster is up and before the release::

    from e2e.netpol import setup_netpol_enforcer
    setup_netpol_enforcer(kubectl, kubeconfig, image_source="local",
                          load_image=lambda image: kind_load(image))

or, to install a given image unconditionally::

    install_netpol_enforcer(kubectl, kubeconfig, image)
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template

MANIFEST = Path(__file__).parent / "manifests" / "kube-router.yaml"
NAMESPACE = "kube-system"
DAEMONSET = "todo-kube-router"
HEALTH_PORT = 20244
# kind's default service subnet, used when the cluster does not say.
DEFAULT_SERVICE_CIDRS = ("10.96.0.0/16",)


class NetpolInstallError(RuntimeError):
    """The enforcer did not come up; the message carries its status and logs."""


def _say(message: str) -> None:
    print(f"[netpol] {message}", file=sys.stderr, flush=True)


def pull_policy(image: str) -> str:
    """Never for locally built images (loaded into the nodes), IfNotPresent otherwise."""
    return "Never" if image.startswith("todo-airgap/") else "IfNotPresent"


def render_manifest(
    image: str,
    *,
    service_cidrs: Sequence[str] = DEFAULT_SERVICE_CIDRS,
    health_port: int = HEALTH_PORT,
) -> str:
    """The manifest with the image and the cluster's service CIDRs filled in."""
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"invalid image name {image!r}")
    networks = [ipaddress.ip_network(c.strip(), strict=False) for c in service_cidrs]
    if not networks or len(networks) > 2:
        raise ValueError(f"need one or two service CIDRs (one per family), got {service_cidrs!r}")
    families = {n.version for n in networks}
    if len(families) != len(networks):
        raise ValueError(f"two service CIDRs must be one IPv4 and one IPv6: {service_cidrs!r}")
    return Template(MANIFEST.read_text()).substitute(
        image=json.dumps(image),
        pull_policy=pull_policy(image),
        service_cidrs=",".join(str(n) for n in networks),
        enable_ipv4=str(4 in families).lower(),
        enable_ipv6=str(6 in families).lower(),
        health_port=int(health_port),
    )


def parse_service_cidrs(kubeadm_cluster_configuration: str) -> list[str]:
    """`networking.serviceSubnet` from kubeadm's ClusterConfiguration (YAML text)."""
    import yaml

    doc = yaml.safe_load(kubeadm_cluster_configuration) or {}
    subnet = (doc.get("networking") or {}).get("serviceSubnet") or ""
    return [part.strip() for part in str(subnet).split(",") if part.strip()]


def _kubectl(kubectl: str, kubeconfig: str | Path, *args: str, **kwargs):
    return subprocess.run(  # noqa: S603
        [kubectl, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def cluster_service_cidrs(kubectl: str, kubeconfig: str | Path) -> list[str]:
    """The cluster's service CIDRs (kind clusters are kubeadm-built), or kind's default."""
    result = _kubectl(
        kubectl,
        kubeconfig,
        "-n",
        NAMESPACE,
        "get",
        "configmap",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    )
    if result.returncode == 0 and result.stdout.strip():
        cidrs = parse_service_cidrs(result.stdout)
        if cidrs:
            return cidrs
    return list(DEFAULT_SERVICE_CIDRS)


SELECTOR = "app.kubernetes.io/name=kube-router,app.kubernetes.io/component=netpol-enforcer"
# kube-router (at --v=1, as the manifest sets) logs this after each full sync
# of the policy rules; its /healthz turns green earlier, before the first sync.
SYNCED_MARK = "sync iptables took"


def _diagnostics(kubectl: str, kubeconfig: str | Path) -> str:
    parts = []
    selector = SELECTOR
    for args in (
        ("-n", NAMESPACE, "get", "daemonset", DAEMONSET, "-o", "wide"),
        ("-n", NAMESPACE, "get", "pods", "-l", selector, "-o", "wide"),
        ("-n", NAMESPACE, "describe", "pods", "-l", selector),
        ("-n", NAMESPACE, "logs", "-l", selector, "--tail=60", "--all-containers"),
    ):
        result = _kubectl(kubectl, kubeconfig, *args)
        parts.append(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")
    return "\n".join(parts)


def _wait_first_sync(kubectl: str, kubeconfig: str | Path, deadline: float) -> None:
    """Wait until every enforcer pod has finished one full sync of the policy rules."""
    while True:
        pods = _kubectl(
            kubectl, kubeconfig, "-n", NAMESPACE, "get", "pods", "-l", SELECTOR, "-o", "name"
        ).stdout.split()
        pending = [
            pod
            for pod in pods
            if SYNCED_MARK not in _kubectl(kubectl, kubeconfig, "-n", NAMESPACE, "logs", pod).stdout
        ]
        if pods and not pending:
            return
        if time.monotonic() > deadline:
            raise NetpolInstallError(
                f"kube-router never finished its first rule sync on {pending or 'any node'}:\n"
                + _diagnostics(kubectl, kubeconfig)
            )
        time.sleep(1)


def install_netpol_enforcer(
    kubectl: str,
    kubeconfig: str | Path,
    image: str,
    *,
    timeout: float = 180.0,
) -> None:
    """Apply the kube-router manifest with `image`; wait until every node has its rules."""
    started = time.monotonic()
    cidrs = cluster_service_cidrs(kubectl, kubeconfig)
    manifest = render_manifest(image, service_cidrs=cidrs)
    _say(f"installing kube-router NetworkPolicy enforcer ({image}, services {','.join(cidrs)})")
    applied = _kubectl(kubectl, kubeconfig, "apply", "-f", "-", input=manifest)
    if applied.returncode != 0:
        raise NetpolInstallError(f"kubectl apply failed:\n{applied.stderr}")
    rollout = _kubectl(
        kubectl,
        kubeconfig,
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        f"daemonset/{DAEMONSET}",
        f"--timeout={int(timeout)}s",
    )
    if rollout.returncode != 0:
        raise NetpolInstallError(
            f"kube-router DaemonSet not ready within {timeout:.0f}s:\n{rollout.stderr}\n"
            + _diagnostics(kubectl, kubeconfig)
        )
    _wait_first_sync(kubectl, kubeconfig, started + timeout)
    _say(f"kube-router ready, rules synced on every node in {time.monotonic() - started:.1f}s")


def setup_netpol_enforcer(
    kubectl: str,
    kubeconfig: str | Path,
    *,
    image_source: str,
    load_image: Callable[[str], None] | None = None,
    timeout: float = 180.0,
) -> tuple[str, str]:
    """Install kube-router if this cluster needs it; return (enforcer, reason) as decided.

    `image_source` is "upstream" or "local" (as chosen for the other images;
    local clusters run the air-gapped kindnetd, which enforces no policy);
    `load_image(image)` puts a locally built image into the kind nodes
    (e.g. `kind load docker-image`), called only for local images.
    """
    from airgap.netpol import choose_enforcer, kube_router_image

    enforcer, reason = choose_enforcer(image_source=image_source)
    if enforcer != "kube-router":
        return enforcer, reason
    image = kube_router_image(image_source)
    if image_source == "local":
        if load_image is None:
            raise NetpolInstallError(f"{image} is local: pass load_image to put it into the nodes")
        load_image(image)
    install_netpol_enforcer(kubectl, kubeconfig, image, timeout=timeout)
    return enforcer, reason
