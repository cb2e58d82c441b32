"""Cluster add-ons the promises need: metrics-server and a NetworkPolicy enforcer.

Both come from this project's own manifests (`harness/manifests/`), rendered
with `string.Template`.

metrics-server: its APIService is created last, once the metrics-server
Service answers through its ClusterIP. The kube-apiserver keeps its discovery
connection to the APIService open; opened before kube-proxy programmed that
Service, the connection is not DNATed and goes wherever the node's default
route leads (on machines behind a transparent proxy something answers 404
there, for good). Should the aggregated API still answer 404, on a kind
cluster the kube-apiserver is restarted once, saying so.

NetworkPolicy: where the run's decision is kube-router (see
toolchain.decide), kube-router runs in firewall-only mode: it turns policies
into iptables filter rules and ipsets on every node, and the harness waits
until every node has synced its rules once.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from harness.kube import kubectl
from harness.proc import HarnessError, run, say, wait_until

MANIFESTS = Path(__file__).parent / "manifests"
METRICS_SERVER = MANIFESTS / "metrics-server.yaml"
KUBE_ROUTER = MANIFESTS / "kube-router.yaml"
NAMESPACE = "kube-system"
KUBE_ROUTER_DAEMONSET = "todo-kube-router"
KUBE_ROUTER_SELECTOR = (
    "app.kubernetes.io/name=kube-router,app.kubernetes.io/component=netpol-enforcer"
)
KUBE_ROUTER_HEALTH_PORT = 20244
# kube-router (at --v=1, as the manifest sets) logs this after each full sync of the
# policy rules; its /healthz turns green earlier, before the first sync.
KUBE_ROUTER_SYNCED = "sync iptables took"
DEFAULT_SERVICE_CIDRS = ("10.96.0.0/16",)  # kind's default service subnet


def pull_policy(image: str) -> str:
    """Never for locally built images (loaded into the nodes), IfNotPresent otherwise."""
    return "Never" if image.startswith("todo-airgap/") else "IfNotPresent"


# --- metrics-server ----------------------------------------------------------------------


def render_metrics_server(image: str) -> tuple[str, str]:
    """(everything but the APIService, the APIService) of the metrics-server manifest."""
    text = Template(METRICS_SERVER.read_text()).substitute(image=image)
    docs = [d for d in re.split(r"^---\s*$", text, flags=re.MULTILINE) if d.strip()]
    api = [d for d in docs if re.search(r"^kind:\s*APIService\s*$", d, re.MULTILINE)]
    if len(api) != 1:
        raise HarnessError(f"{METRICS_SERVER.name} must hold exactly one APIService")
    rest = [d for d in docs if d is not api[0]]
    return "---\n".join(rest), api[0]


def node_metrics_served(kubeconfig: Path) -> bool:
    got = kubectl(kubeconfig, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes",
                  check=False, capture=True, quiet=True)  # fmt: skip
    return got.returncode == 0 and bool(json.loads(got.stdout or "{}").get("items"))


def metrics_api_served(kubeconfig: Path) -> bool:
    got = kubectl(kubeconfig, "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json",
                  check=False, capture=True, quiet=True)  # fmt: skip
    if got.returncode != 0:
        return False
    conditions = json.loads(got.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def apply_metrics_server(kubeconfig: Path, image: str) -> None:
    """Apply metrics-server, all but its APIService (see `finish_metrics_server`)."""
    rest, _ = render_metrics_server(image)
    kubectl(kubeconfig, "apply", "-f", "-", input_text=rest)


def finish_metrics_server(
    kubeconfig: Path, image: str, *, kind_cluster: str | None, timeout: float = 180
) -> None:
    """Wait for metrics-server; its APIService once its Service routes; then node metrics."""
    _, api_service = render_metrics_server(image)
    kubectl(kubeconfig, "-n", NAMESPACE, "rollout", "status", "deployment/metrics-server",
            f"--timeout={int(timeout)}s")  # fmt: skip
    if kind_cluster:
        got = kubectl(kubeconfig, "-n", NAMESPACE, "get", "service", "metrics-server", "-o",
                      "jsonpath={.spec.clusterIP}", capture=True, quiet=True)  # fmt: skip
        ip = got.stdout.strip()

        def routed() -> bool:
            probe = run(["docker", "exec", f"{kind_cluster}-control-plane", "curl", "-sk",
                         "--max-time", "3", f"https://{ip}:443/livez"],
                        check=False, capture=True, quiet=True)  # fmt: skip
            return probe.stdout.strip() == "ok"

        wait_until(routed, timeout=60, what=f"metrics-server answering on its ClusterIP {ip}")
    kubectl(kubeconfig, "apply", "-f", "-", input_text=api_service)
    try:
        wait_until(lambda: node_metrics_served(kubeconfig), timeout=60, interval=3,
                   what="node metrics through metrics.k8s.io")  # fmt: skip
    except HarnessError:
        if not kind_cluster:
            raise
        say("metrics.k8s.io still answers nothing through the aggregator: restarting "
            "kube-apiserver once (known aggregator stall)")  # fmt: skip
        from harness.kind import restart_apiserver

        restart_apiserver(kind_cluster)
        time.sleep(3)
        wait_until(lambda: node_metrics_served(kubeconfig), timeout=timeout, interval=3,
                   what="node metrics after the kube-apiserver restart")  # fmt: skip
    say("metrics.k8s.io serves node metrics")


# --- kube-router ------------------------------------------------------------------------


def render_kube_router(image: str, *, service_cidrs: Sequence[str] = DEFAULT_SERVICE_CIDRS) -> str:
    """The kube-router manifest with the image and the cluster's service CIDRs filled in."""
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"invalid image name {image!r}")
    networks = [ipaddress.ip_network(c.strip(), strict=False) for c in service_cidrs]
    if not networks or len(networks) > 2:
        raise ValueError(f"need one or two service CIDRs (one per family), got {service_cidrs!r}")
    families = {n.version for n in networks}
    if len(families) != len(networks):
        raise ValueError(f"two service CIDRs must be one IPv4 and one IPv6: {service_cidrs!r}")
    return Template(KUBE_ROUTER.read_text()).substitute(
        image=json.dumps(image),
        pull_policy=pull_policy(image),
        service_cidrs=",".join(str(n) for n in networks),
        enable_ipv4=str(4 in families).lower(),
        enable_ipv6=str(6 in families).lower(),
        health_port=KUBE_ROUTER_HEALTH_PORT,
    )


def parse_service_cidrs(kubeadm_cluster_configuration: str) -> list[str]:
    """`networking.serviceSubnet` from kubeadm's ClusterConfiguration (YAML text)."""
    match = re.search(r"^\s*serviceSubnet:\s*\"?([^\"\n]+)\"?\s*$", kubeadm_cluster_configuration,
                      re.MULTILINE)  # fmt: skip
    if not match:
        return []
    return [part.strip() for part in match.group(1).split(",") if part.strip()]


def cluster_service_cidrs(kubeconfig: Path) -> list[str]:
    """The cluster's service CIDRs (kind clusters are kubeadm-built), or kind's default."""
    got = kubectl(kubeconfig, "-n", NAMESPACE, "get", "configmap", "kubeadm-config", "-o",
                  "jsonpath={.data.ClusterConfiguration}", check=False, capture=True,
                  quiet=True)  # fmt: skip
    cidrs = parse_service_cidrs(got.stdout) if got.returncode == 0 else []
    return cidrs or list(DEFAULT_SERVICE_CIDRS)


def _kube_router_diagnostics(kubeconfig: Path) -> str:
    parts = []
    for args in (
        ("get", "daemonset", KUBE_ROUTER_DAEMONSET, "-o", "wide"),
        ("get", "pods", "-l", KUBE_ROUTER_SELECTOR, "-o", "wide"),
        ("describe", "pods", "-l", KUBE_ROUTER_SELECTOR),
        ("logs", "-l", KUBE_ROUTER_SELECTOR, "--tail=60", "--all-containers"),
    ):
        got = kubectl(kubeconfig, "-n", NAMESPACE, *args, check=False, capture=True, quiet=True)
        parts.append(f"$ kubectl -n {NAMESPACE} {' '.join(args)}\n{got.stdout}{got.stderr}")
    return "\n".join(parts)


def apply_kube_router(kubeconfig: Path, image: str) -> None:
    """Apply kube-router with `image` (see `finish_kube_router`)."""
    cidrs = cluster_service_cidrs(kubeconfig)
    say(f"installing kube-router NetworkPolicy enforcer ({image}, services {','.join(cidrs)})")
    kubectl(
        kubeconfig, "apply", "-f", "-", input_text=render_kube_router(image, service_cidrs=cidrs)
    )


def finish_kube_router(kubeconfig: Path, timeout: float = 180) -> None:
    """Wait until kube-router runs on every node and has synced its rules once."""
    started = time.monotonic()
    rollout = kubectl(kubeconfig, "-n", NAMESPACE, "rollout", "status",
                      f"daemonset/{KUBE_ROUTER_DAEMONSET}", f"--timeout={int(timeout)}s",
                      check=False, capture=True)  # fmt: skip
    if rollout.returncode != 0:
        raise HarnessError(f"kube-router not ready within {timeout:.0f} s:\n"
                           + _kube_router_diagnostics(kubeconfig))  # fmt: skip

    def synced() -> bool:
        pods = kubectl(kubeconfig, "-n", NAMESPACE, "get", "pods", "-l", KUBE_ROUTER_SELECTOR,
                       "-o", "name", capture=True, quiet=True).stdout.split()  # fmt: skip
        return bool(pods) and all(
            KUBE_ROUTER_SYNCED
            in kubectl(
                kubeconfig, "-n", NAMESPACE, "logs", pod, check=False, capture=True, quiet=True
            ).stdout  # fmt: skip
            for pod in pods
        )

    try:
        wait_until(synced, timeout=max(10.0, timeout - (time.monotonic() - started)),
                   what="kube-router's first rule sync on every node")  # fmt: skip
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{_kube_router_diagnostics(kubeconfig)}") from None
    say(f"kube-router ready, rules synced on every node in {time.monotonic() - started:.1f} s")


# --- what an existing cluster offers ----------------------------------------------------

# DaemonSets (in kube-system or their own namespace) of network plugins that enforce
# NetworkPolicy; found by name, any namespace.
KNOWN_ENFORCERS = ("kube-router", "calico-node", "cilium", "antrea-agent", "weave-net",
                   "canal", "kube-network-policies")  # fmt: skip


@dataclass
class Capabilities:
    """What a cluster offers the promises, each with how that was found out."""

    metrics_api: bool = False
    netpol_enforcer: str | None = None  # name of the enforcing DaemonSet, if any
    pod_security_admission: bool = False
    default_storage_class: str | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def missing(self, need: str) -> str | None:
        """Why a promise needing `need` cannot be proven here, or None if it can."""
        reasons = {
            "metrics": None if self.metrics_api else "no metrics API (metrics.k8s.io) is served",
            "netpol": None
            if self.netpol_enforcer
            else (
                "no NetworkPolicy enforcer found (none of "
                + ", ".join(KNOWN_ENFORCERS)
                + " runs here)"
            ),
            "pod-security": None
            if self.pod_security_admission
            else ("Pod Security admission does not enforce namespace labels here"),
            "storage": None if self.default_storage_class else "no default StorageClass",
        }
        return reasons[need]


def netpol_enforcer(daemonsets: Sequence[str], decided: str | None) -> tuple[str | None, str]:
    """(the enforcing DaemonSet or None, a note) among the DaemonSets a cluster runs.

    kindnet enforces NetworkPolicy only where the kernel has nft `queue`; the run's
    decision (toolchain.decide, `decided`) is what found that out, so kindnet counts
    exactly when the run decided it enforces."""
    for name in daemonsets:
        if any(name == e or name.endswith("-" + e) or name.startswith(e) for e in KNOWN_ENFORCERS):
            return name, ""
    if "kindnet" in daemonsets:
        if decided == "kindnet":
            return "kindnet", ""
        return None, "kindnet runs: it enforces NetworkPolicy only with nft queue"
    return None, ""


def probe_capabilities(kubeconfig: Path, enforcer: str | None = None) -> Capabilities:
    """Look, without changing anything, at what the cluster offers; `enforcer` is the
    run's decided NetworkPolicy enforcer."""
    caps = Capabilities(metrics_api=metrics_api_served(kubeconfig))
    got = kubectl(kubeconfig, "get", "daemonsets", "-A", "-o", "json", check=False, capture=True,
                  quiet=True)  # fmt: skip
    names = [d["metadata"]["name"] for d in json.loads(got.stdout or '{"items": []}')["items"]]
    caps.netpol_enforcer, note = netpol_enforcer(names, enforcer)
    if note:
        caps.notes["netpol"] = note
    classes = kubectl(kubeconfig, "get", "storageclass", "-o", "json", check=False, capture=True,
                      quiet=True)  # fmt: skip
    for sc in json.loads(classes.stdout or '{"items": []}')["items"]:
        annotations = sc["metadata"].get("annotations") or {}
        if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
            caps.default_storage_class = sc["metadata"]["name"]
    version = kubectl(kubeconfig, "version", "-o", "json", check=False, capture=True, quiet=True)
    server = json.loads(version.stdout or "{}").get("serverVersion", {})
    minor = int(re.sub(r"\D", "", server.get("minor", "0")) or 0)
    # Pod Security admission is built in and on by default from Kubernetes 1.25.
    caps.pod_security_admission = server.get("major") == "1" and minor >= 25
    return caps
