"""The add-on manifests as data: kube-router's and metrics-server's, rendered and checked."""

from __future__ import annotations

import pytest
import yaml

from harness import addons
from toolchain import versions


def _docs(text: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


def _container(docs: dict[str, dict]) -> dict:
    (container,) = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    return container


def test_manifest_renders_all_objects_with_the_image():
    text = addons.render_kube_router("todo-airgap/kube-router:v2.1.0")
    assert "${" not in text
    docs = _docs(text)
    assert set(docs) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"}
    for doc in docs.values():
        assert doc["metadata"]["name"] == addons.KUBE_ROUTER_DAEMONSET
    container = _container(docs)
    assert container["image"] == "todo-airgap/kube-router:v2.1.0"
    assert container["imagePullPolicy"] == "Never"
    upstream = _container(_docs(addons.render_kube_router(versions.KUBE_ROUTER_UPSTREAM)))
    assert upstream["imagePullPolicy"] == "IfNotPresent"


def test_manifest_runs_firewall_only_in_host_network_privileged():
    docs = _docs(addons.render_kube_router("todo-airgap/kube-router:v2.1.0"))
    ds = docs["DaemonSet"]
    assert ds["metadata"]["namespace"] == "kube-system"
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert {"operator": "Exists"} in pod["tolerations"]
    container = _container(docs)
    args = container["args"]
    for flag in (
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--metrics-port=0",
        "--hostname-override=$(NODE_NAME)",
    ):
        assert flag in args
    # finish_kube_router waits for a line kube-router logs at V(1).
    assert "--v=1" in args
    assert container["securityContext"]["privileged"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/lib/modules", "/run/xtables.lock"} <= mounts
    assert container["readinessProbe"]["httpGet"]["port"] == addons.KUBE_ROUTER_HEALTH_PORT
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == "kube-system"


def test_cluster_role_is_read_only_and_covers_the_informers():
    role = _docs(addons.render_kube_router("x/y:z"))["ClusterRole"]
    granted = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        granted |= {(group, res) for group in rule["apiGroups"] for res in rule["resources"]}
    # kube-router starts informers for all of these, even in firewall-only mode.
    needed = {
        ("", "pods"),
        ("", "namespaces"),
        ("", "nodes"),
        ("", "services"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "networkpolicies"),
    }
    assert needed <= granted


@pytest.mark.parametrize(
    ("cidrs", "value", "ipv4", "ipv6"),
    [
        (("10.96.0.0/16",), "10.96.0.0/16", "true", "false"),
        (("fd00:10:96::/112",), "fd00:10:96::/112", "false", "true"),
        (("10.96.0.0/16", "fd00:10:96::/112"), "10.96.0.0/16,fd00:10:96::/112", "true", "true"),
    ],
)
def test_manifest_ip_families_follow_service_cidrs(cidrs, value, ipv4, ipv6):
    args = _container(_docs(addons.render_kube_router("a:b", service_cidrs=cidrs)))["args"]
    assert f"--service-cluster-ip-range={value}" in args
    assert f"--enable-ipv4={ipv4}" in args
    assert f"--enable-ipv6={ipv6}" in args


@pytest.mark.parametrize(
    "cidrs",
    [
        (),
        ("10.96.0.0/16", "10.97.0.0/16"),
        ("not-a-cidr",),
        ("10.0.0.0/8", "fd00::/64", "1.0.0.0/8"),
    ],
)
def test_manifest_rejects_bad_service_cidrs(cidrs):
    with pytest.raises(ValueError):
        addons.render_kube_router("a:b", service_cidrs=cidrs)


@pytest.mark.parametrize("image", ["", "a b:c", "x:y\nkind: Pod"])
def test_manifest_rejects_bad_image(image):
    with pytest.raises(ValueError):
        addons.render_kube_router(image)


def test_service_cidrs_from_kubeadm_config():
    text = "networking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/16,fd00::/112\n"
    assert addons.parse_service_cidrs(text) == ["10.96.0.0/16", "fd00::/112"]
    assert addons.parse_service_cidrs("kind: ClusterConfiguration\n") == []


def test_metrics_server_renders_with_the_image_and_the_apiservice_apart():
    rest, api = addons.render_metrics_server("x/ms:v1")
    assert "image: x/ms:v1" in rest and "--kubelet-insecure-tls" in rest
    assert "kind: APIService" not in rest
    assert "kind: APIService" in api and "v1beta1.metrics.k8s.io" in api


@pytest.mark.parametrize(
    ("need", "caps"),
    [
        ("metrics", addons.Capabilities(metrics_api=False)),
        ("netpol", addons.Capabilities(netpol_enforcer=None)),
        ("pod-security", addons.Capabilities(pod_security_admission=False)),
        ("storage", addons.Capabilities(default_storage_class=None)),
    ],
)
def test_a_missing_capability_says_why_a_promise_is_not_provable(need, caps):
    assert caps.missing(need)


def test_a_cluster_with_everything_proves_everything():
    caps = addons.Capabilities(True, "calico-node", True, "standard")
    assert [caps.missing(n) for n in ("metrics", "netpol", "pod-security", "storage")] == [None] * 4


@pytest.mark.parametrize(
    ("daemonsets", "decided", "expected"),
    [
        (["kindnet", "kube-proxy"], "kindnet", "kindnet"),  # the run found nft queue
        (["kindnet", "kube-proxy"], "kube-router", None),  # kube-router never came up
        (["kindnet", "todo-kube-router", "kube-proxy"], "kube-router", "todo-kube-router"),
        (["calico-node", "kube-proxy"], "cluster", "calico-node"),
        (["kube-proxy"], "kindnet", None),  # decided, but no kindnet runs
    ],
)
def test_the_enforcer_is_the_one_the_run_decided_where_it_runs(daemonsets, decided, expected):
    assert addons.netpol_enforcer(daemonsets, decided)[0] == expected


@pytest.mark.parametrize("minor", list(versions.KUBERNETES_MATRIX))
def test_addon_manifests_use_only_apis_every_minor_serves(minor: str) -> None:
    """metrics-server's and kube-router's objects validate, strictly, against the OpenAPI
    schemas of every Kubernetes minor the project runs on: an API version a minor removed
    (or a field it dropped) fails here."""
    import kubernetes_validate

    texts = [*addons.render_metrics_server(versions.METRICS_SERVER_LOCAL),
             addons.render_kube_router(versions.KUBE_ROUTER_LOCAL)]  # fmt: skip
    docs = [doc for text in texts for doc in yaml.safe_load_all(text) if doc]
    assert len(docs) >= 10
    version = minor.removeprefix("v")
    for doc in docs:
        assert kubernetes_validate.validate(doc, version, strict=True) == version, doc["kind"]
