"""What the rendered objects promise, checked object by object (no cluster)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from chartlib import (
    CHART,
    FULLNAME,
    MATRIX,
    NAMESPACE,
    OFFLINE_SECRETS,
    RELEASE,
    Rendered,
    chart_with_cluster,
    render,
    render_error,
)

DEFAULT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}
# The front end holds no database pool and no password hashing: a smaller box.
FRONTEND_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "helm.sh/chart",
)
# Volume types the Pod Security Standard "restricted" allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
ALL_CASES = sorted(MATRIX)
# Matrix cases with an external database instead of the release's PostgreSQL.
EXTERNAL_DB = {"external-db", "egress-external-db"}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    for c in containers(workload["spec"]["template"]["spec"]):
        if c["name"] == name:
            return c
    raise KeyError(name)


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pods_by_component(r: Rendered) -> dict[str, dict[str, str]]:
    """component -> pod labels, for every pod the release runs (test pods included)."""
    return {
        meta["labels"]["app.kubernetes.io/component"]: meta["labels"]
        for _, meta, _ in r.pod_specs()
    }


def name(component: str, fullname: str = FULLNAME) -> str:
    return f"{fullname}-{component}"


# --- names, labels, namespaces -----------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_names_derive_from_release(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    fullname = "todo" if case == "overrides" else FULLNAME
    db_secret = {"existing-secrets": "my-db"}.get(case, "postgres-secret")
    for d in r.docs:
        n = d["metadata"]["name"]
        assert n.startswith(f"{fullname}-") or (d["kind"] == "Secret" and n == db_secret), (
            f"{d['kind']}/{n} is not named after the release"
        )
        assert len(n) <= 63, n


def test_fullname_is_release_name_when_it_contains_the_chart_name(
    helm: Path, render_dir: Path
) -> None:
    r = render(helm, render_dir, release="my-todo-app")
    names = {d["metadata"]["name"] for d in r.docs}
    assert {"my-todo-app-backend", "my-todo-app-mcp-server", "my-todo-app-postgresql"} <= names
    other = render(helm, render_dir, release="blue")
    assert "blue-todo-app-backend" in {d["metadata"]["name"] for d in other.docs}


@pytest.mark.parametrize("case", ALL_CASES)
def test_standard_labels_everywhere(case: str, matrix: dict[str, Rendered]) -> None:
    for d in matrix[case].docs:
        labels = d["metadata"]["labels"]
        for key in STANDARD_LABELS:
            assert key in labels, f"{d['kind']}/{d['metadata']['name']} lacks {key}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/part-of"] == "todo-app"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    for where, meta, _ in matrix[case].pod_specs():
        assert meta["labels"].get("app.kubernetes.io/component"), where


@pytest.mark.parametrize("case", ALL_CASES)
def test_no_namespace_object_no_hardcoded_namespace(case: str, matrix: dict[str, Rendered]) -> None:
    for d in matrix[case].docs:
        assert d["kind"] != "Namespace"
        assert "namespace" not in d["metadata"], f"{d['kind']}/{d['metadata']['name']}"


@pytest.mark.parametrize("case", ALL_CASES)
def test_no_loadbalancer(case: str, matrix: dict[str, Rendered]) -> None:
    for svc in matrix[case].of_kind("Service"):
        assert svc["spec"]["type"] in ("ClusterIP", "NodePort"), svc["metadata"]["name"]


def test_services_default_cluster_ip(default: Rendered) -> None:
    assert {s["spec"]["type"] for s in default.of_kind("Service")} == {"ClusterIP"}
    mcp = default.get("Service", name("mcp-server"))
    assert mcp["spec"]["ports"][0]["port"] == 8001


def test_nodeport_settable(matrix: dict[str, Rendered]) -> None:
    r = matrix["nodeport"]
    svc = r.get("Service", name("backend"))
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] == 30080
    assert r.get("Service", name("mcp-server"))["spec"]["type"] == "ClusterIP"


# --- selectors ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_workload_selectors_match_pod_labels(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    for w in r.workloads():
        selector = w["spec"]["selector"]["matchLabels"]
        pod_labels = w["spec"]["template"]["metadata"]["labels"]
        assert selects(selector, pod_labels), w["metadata"]["name"]
        assert "app.kubernetes.io/component" in selector
        # Selectors are immutable: they must not carry labels that change between versions.
        assert not {"helm.sh/chart", "app.kubernetes.io/version"} & set(selector)
        others = [o for o in r.workloads() if o is not w]
        for o in others:
            assert not selects(selector, o["spec"]["template"]["metadata"]["labels"]), (
                f"{w['metadata']['name']}'s selector also matches {o['metadata']['name']}"
            )


@pytest.mark.parametrize("case", ALL_CASES)
def test_service_selectors_match_exactly_their_pods(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    for svc in r.of_kind("Service"):
        component = svc["metadata"]["labels"]["app.kubernetes.io/component"]
        matched = [
            w
            for w in r.workloads()
            if selects(svc["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert [w["metadata"]["labels"]["app.kubernetes.io/component"] for w in matched] == [
            component
        ], svc["metadata"]["name"]
        target = matched[0]
        port_names = {
            p["name"]
            for c in target["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, (svc["metadata"]["name"], port)


# --- NetworkPolicies ---------------------------------------------------------------------


def _policy_peers(policy: dict[str, Any]) -> list[dict[str, str]]:
    return [
        peer["podSelector"]["matchLabels"]
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "podSelector" in peer
    ]


def _targets(policy: dict[str, Any], pods: dict[str, dict[str, str]]) -> list[str]:
    """The components whose pods the policy applies to."""
    return [
        c
        for c, labels in pods.items()
        if selects(policy["spec"]["podSelector"]["matchLabels"], labels)
    ]


def _admitted(policy: dict[str, Any], pods: dict[str, dict[str, str]]) -> set[str]:
    """The components whose pods the policy lets in."""
    peers = _policy_peers(policy)
    return {c for c, labels in pods.items() if any(selects(p, labels) for p in peers)}


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c != "overrides"])
def test_networkpolicy_mcp_server(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    policy = r.find("NetworkPolicy", name("mcp-server"))
    if case == "mcp-disabled":
        assert policy is None
        return
    assert policy is not None
    pods = pods_by_component(r)
    targets = _targets(policy, pods)
    assert targets == ["mcp-server"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    admitted = _admitted(policy, pods)
    # Only the backend and the chart's MCP test pods; never PostgreSQL, never other tests.
    assert admitted == {"backend", "mcp-client-test"}, admitted
    mcp = r.get("Deployment", name("mcp-server"))
    container_port = container(mcp, "mcp-server")["ports"][0]["containerPort"]
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [container_port] == [8001]
    # Every peer is a plain podSelector: same namespace, not "everyone".
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"} and peer["podSelector"]["matchLabels"]


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c != "overrides"])
def test_networkpolicy_postgresql(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    policy = r.find("NetworkPolicy", name("postgresql"))
    if case in EXTERNAL_DB:
        assert policy is None
        return
    assert policy is not None
    pods = pods_by_component(r)
    targets = _targets(policy, pods)
    assert targets == ["postgresql"]
    admitted = _admitted(policy, pods)
    want = {"backend"} if case == "mcp-disabled" else {"backend", "mcp-server"}
    assert admitted == want, admitted
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == [5432]
    # The migrations run in the backend's pods, which are admitted.
    assert "--migrate" in container(r.get("Deployment", name("backend")), "backend")["command"]


def test_networkpolicy_extra_peers(helm: Path, render_dir: Path) -> None:
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "agents"}}}
    r = render(helm, render_dir, {"networkPolicy": {"mcpServerExtraFrom": [peer]}})
    policy = r.get("NetworkPolicy", name("mcp-server"))
    assert peer in policy["spec"]["ingress"][0]["from"]


def test_networkpolicy_switch(matrix: dict[str, Rendered]) -> None:
    assert matrix["overrides"].of_kind("NetworkPolicy") == []


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and `In` matchExpressions) against pod labels."""
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return selects(selector.get("matchLabels", {}), labels)


def _egress_of(r: Rendered) -> dict[str, set[tuple[str, int, str]]]:
    """component -> the (destination, port, protocol) its pods may reach; a component that no
    Egress policy selects is missing (its egress is not restricted)."""
    pods = pods_by_component(r)
    allowed: dict[str, set[tuple[str, int, str]]] = {}
    for policy in r.of_kind("NetworkPolicy"):
        if "Egress" not in policy["spec"]["policyTypes"]:
            continue
        for component, labels in pods.items():
            if not _matches(policy["spec"]["podSelector"], labels):
                continue
            reach = allowed.setdefault(component, set())
            for rule in policy["spec"].get("egress", []):
                destinations = []
                for peer in rule.get("to", [{"anywhere": True}]):
                    if "anywhere" in peer:
                        destinations.append("anywhere")
                    elif "ipBlock" in peer:
                        destinations.append(f"ipBlock {peer['ipBlock']['cidr']}")
                    elif "namespaceSelector" in peer:
                        assert peer == DNS_PEER, peer
                        destinations.append("dns")
                    else:
                        destinations += [
                            c for c, other in pods.items() if _matches(peer["podSelector"], other)
                        ]
                for destination in destinations:
                    for port in rule["ports"]:
                        reach.add((destination, port["port"], port["protocol"]))
    return allowed


DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS = {("dns", 53, "UDP"), ("dns", 53, "TCP")}


TEST_PEERS = {("backend", 8000, "TCP"), ("mcp-server", 8001, "TCP"), ("frontend", 8080, "TCP")}


def test_egress_policies_allow_only_what_each_pod_needs(matrix: dict[str, Rendered]) -> None:
    r = matrix["egress"]
    assert _egress_of(r) == {
        "backend": DNS | {("mcp-server", 8001, "TCP"), ("postgresql", 5432, "TCP")},
        "mcp-server": DNS | {("postgresql", 5432, "TCP")},
        "postgresql": set(),  # selected, and no rule: it may open no connection at all
        "frontend": DNS | {("backend", 8000, "TCP")},
        "test": DNS | TEST_PEERS,
        "mcp-client-test": DNS | TEST_PEERS,
    }
    # The ingress policies are the same objects as without egress.
    for component in ("mcp-server", "postgresql"):
        assert r.get("NetworkPolicy", name(component)) == matrix["default"].get(
            "NetworkPolicy", name(component)
        )


def test_egress_to_an_external_database(
    matrix: dict[str, Rendered], helm: Path, render_dir: Path
) -> None:
    egress = _egress_of(matrix["egress-external-db"])
    database = ("ipBlock 10.20.30.40/32", 6432, "TCP")
    assert egress["backend"] == DNS | {("mcp-server", 8001, "TCP"), database}
    assert egress["mcp-server"] == DNS | {database}
    assert "postgresql" not in egress
    # No peers given: that port, any address.
    values = dict(MATRIX["egress-external-db"][1])
    values["networkPolicy"] = {"egress": {"enabled": True}}
    anywhere = _egress_of(render(helm, render_dir, values))
    assert ("anywhere", 6432, "TCP") in anywhere["mcp-server"]


@pytest.mark.parametrize(
    "values",
    [{}, {"networkPolicy": {"enabled": False, "egress": {"enabled": True}}}],
    ids=["default-off", "all-policies-off"],
)
def test_egress_policies_are_optional(
    helm: Path, render_dir: Path, values: dict[str, Any], matrix: dict[str, Rendered]
) -> None:
    assert _egress_of(render(helm, render_dir, values)) == {}
    assert _egress_of(matrix["production"]) == {}


def test_egress_policy_dns_peers_configurable(helm: Path, render_dir: Path) -> None:
    node_local = [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    values = {"networkPolicy": {"egress": {"enabled": True, "dnsTo": node_local}}}
    r = render(helm, render_dir, values)
    backend = r.get("NetworkPolicy", name("backend-egress"))
    assert backend["spec"]["egress"][0]["to"] == node_local


# --- environment -------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_env_no_var_expansion_no_url_no_literal_secrets(
    case: str, matrix: dict[str, Rendered]
) -> None:
    for where, _, spec in matrix[case].pod_specs():
        for c in containers(spec):
            names = [e["name"] for e in c.get("env", [])]
            assert len(names) == len(set(names)), f"{where}/{c['name']} duplicates env: {names}"
            for e in c.get("env", []):
                value = e.get("value", "")
                assert not re.search(r"\$\([A-Za-z_]", value), f"{where} {e['name']}={value}"
                assert "postgresql://" not in value and "postgres://" not in value
                assert e["name"] != "DATABASE_URL", where
                if e["name"] in ("JWT_SECRET", "MCP_SERVICE_TOKEN", "POSTGRES_PASSWORD"):
                    assert "value" not in e and "secretKeyRef" in e["valueFrom"], (where, e)


@pytest.mark.parametrize("case", ALL_CASES)
def test_database_env(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    fullname = "todo" if case == "overrides" else FULLNAME
    db_secret = "my-db" if case == "existing-secrets" else "postgres-secret"
    host, port = (
        ("db.example.internal", "6432")
        if case in EXTERNAL_DB
        else (f"{fullname}-postgresql", "5432")
    )
    backend = container(r.get("Deployment", f"{fullname}-backend"), "backend")
    assert {"secretRef": {"name": db_secret}} in backend["envFrom"]
    env = env_of(backend)
    assert env["POSTGRES_HOST"]["value"] == host
    assert env["POSTGRES_PORT"]["value"] == port
    if case != "mcp-disabled":
        mcp = r.get("Deployment", f"{fullname}-mcp-server")
        c = container(mcp, "mcp-server")
        assert {"secretRef": {"name": db_secret}} in c["envFrom"]
        config = r.get("ConfigMap", f"{fullname}-mcp-server")
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in c["envFrom"]
        assert config["data"]["POSTGRES_HOST"] == host
        assert config["data"]["POSTGRES_PORT"] == port
    if case not in EXTERNAL_DB:
        pg = r.get("StatefulSet", f"{fullname}-postgresql")
        assert {"secretRef": {"name": db_secret}} in container(pg, "postgresql")["envFrom"]
        # The Service the apps are told to use exists and selects PostgreSQL on that port.
        svc = r.get("Service", host)
        assert svc["spec"]["ports"][0]["port"] == int(port)


@pytest.mark.parametrize("case", ALL_CASES)
def test_auth_secret_refs(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    fullname = "todo" if case == "overrides" else FULLNAME
    auth = "my-auth" if case == "existing-secrets" else f"{fullname}-auth"
    targets = [container(r.get("Deployment", f"{fullname}-backend"), "backend")]
    if case != "mcp-disabled":
        targets.append(container(r.get("Deployment", f"{fullname}-mcp-server"), "mcp-server"))
    for c in targets:
        env = env_of(c)
        for key in ("JWT_SECRET", "MCP_SERVICE_TOKEN"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": auth, "key": key}


def _process_env(r: Rendered, component: str) -> dict[str, str]:
    """The plain environment one app process starts with (its env, or its ConfigMap)."""
    if component == "backend":
        env = env_of(container(r.get("Deployment", name(component)), component))
        return {k: v["value"] for k, v in env.items() if "value" in v}
    return r.get("ConfigMap", name(component))["data"]


@pytest.mark.parametrize(
    ("case", "values", "body_bytes", "docs"),
    [
        ("default", {}, "1048576", "true"),
        ("production", {}, "1048576", "false"),
        ("custom", {"app": {"maxRequestBodyBytes": 4194304, "apiDocs": False}}, "4194304", "false"),
    ],
    ids=["default", "production", "custom"],
)
def test_request_body_limit_and_api_docs_reach_both_processes(
    case: str,
    values: dict[str, Any],
    body_bytes: str,
    docs: str,
    matrix: dict[str, Rendered],
    helm: Path,
    render_dir: Path,
) -> None:
    r = matrix[case] if case in matrix else render(helm, render_dir, values)
    for component in ("backend", "mcp-server"):
        env = _process_env(r, component)
        assert env["MAX_REQUEST_BODY_BYTES"] == body_bytes, component
        assert env["API_DOCS_ENABLED"] == docs, component
        assert env["REQUEST_TIMEOUT_SECONDS"] == "30", component


def test_the_idempotency_key_lifetime_reaches_the_mcp_server(helm: Path, render_dir: Path) -> None:
    r = render(helm, render_dir, {"app": {"idempotencyKeyTTLSeconds": 3600}})
    assert _process_env(r, "mcp-server")["IDEMPOTENCY_KEY_TTL_SECONDS"] == "3600"


def test_backend_reaches_mcp_by_computed_name(default: Rendered) -> None:
    env = env_of(container(default.get("Deployment", name("backend")), "backend"))
    assert env["MCP_ENABLED"]["value"] == "true"
    url = env["MCP_SERVER_URL"]["value"]
    svc = default.get("Service", name("mcp-server"))
    assert url == f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}"


def test_mcp_allowed_hosts(helm: Path, render_dir: Path, default: Rendered) -> None:
    hosts = default.get("ConfigMap", name("mcp-server"))["data"]["MCP_ALLOWED_HOSTS"].split(",")
    svc = name("mcp-server")
    for host in (
        svc,
        f"{svc}:*",
        f"{svc}.{NAMESPACE}",
        f"{svc}.{NAMESPACE}.svc",
        f"{svc}.{NAMESPACE}.svc.cluster.local:*",
        "localhost:*",
        "127.0.0.1",
    ):
        assert host in hosts, host
    assert len(hosts) == len(set(hosts))
    r = render(
        helm,
        render_dir,
        {"clusterDomain": "corp.internal", "mcpServer": {"extraAllowedHosts": ["mcp.example.com"]}},
    )
    hosts = r.get("ConfigMap", name("mcp-server"))["data"]["MCP_ALLOWED_HOSTS"].split(",")
    assert f"{svc}.{NAMESPACE}.svc.corp.internal" in hosts
    assert "mcp.example.com" in hosts and "localhost" not in hosts


def test_extra_env_comes_after_the_charts_own(helm: Path, render_dir: Path) -> None:
    extra = [{"name": "MCP_TIMEOUT_SECONDS", "value": "5"}]
    r = render(helm, render_dir, {"backend": {"extraEnv": extra}, "mcpServer": {"extraEnv": extra}})
    for component in ("backend", "mcp-server"):
        env = container(r.get("Deployment", name(component)), component)["env"]
        assert env[-1] == extra[0]


# --- MCP server switch ---------------------------------------------------------------------


def test_mcp_disabled_removes_every_mcp_resource(matrix: dict[str, Rendered]) -> None:
    r = matrix["mcp-disabled"]
    for d in r.docs:
        component = d["metadata"]["labels"].get("app.kubernetes.io/component", "")
        assert not component.startswith("mcp"), f"{d['kind']}/{d['metadata']['name']}"
        assert "mcp-server" not in d["metadata"]["name"]
    env = env_of(container(r.get("Deployment", name("backend")), "backend"))
    assert env["MCP_ENABLED"]["value"] == "false"
    assert "MCP_SERVER_URL" not in env
    kinds = {d["kind"] for d in r.docs}
    assert not {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} & kinds


def test_mcp_disabled_even_with_autoscaling_values(helm: Path, render_dir: Path) -> None:
    r = render(
        helm,
        render_dir,
        {"mcpServer": {"enabled": False, "replicaCount": 3, "autoscaling": {"enabled": True}}},
    )
    assert not [d for d in r.docs if "mcp-server" in d["metadata"]["name"]]


# --- probes, resources ---------------------------------------------------------------------


@pytest.mark.parametrize("component", ["backend", "mcp-server"])
def test_probes_on_real_endpoints(component: str, default: Rendered) -> None:
    c = container(default.get("Deployment", name(component)), component)
    port_names = {p["name"] for p in c["ports"]}
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    # Liveness must not depend on the database: a DB outage must not restart the pods.
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in port_names
        assert c[probe]["failureThreshold"] >= 1 and c[probe]["periodSeconds"] >= 1
    # The startup probe allows a slow first start without a liveness kill.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30


def test_stopping_pods_keep_serving_until_endpoints_drop_them(
    helm: Path, render_dir: Path, default: Rendered
) -> None:
    off = render(
        helm,
        render_dir,
        {"backend": {"shutdownDelaySeconds": 0}, "mcpServer": {"shutdownDelaySeconds": 0}},
    )
    for component in ("backend", "mcp-server"):
        deployment = default.get("Deployment", name(component))
        pre_stop = container(deployment, component)["lifecycle"]["preStop"]
        assert pre_stop == {"exec": {"command": ["sleep", "5"]}}
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace > 5, "the delay must fit in the grace period"
        assert "lifecycle" not in container(off.get("Deployment", name(component)), component)


def test_postgresql_probes_use_pg_isready(default: Rendered) -> None:
    c = container(default.get("StatefulSet", name("postgresql")), "postgresql")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "pg_isready" in " ".join(c[probe]["exec"]["command"])


@pytest.mark.parametrize("case", [c for c in ALL_CASES if not c.startswith("e2e")])
def test_default_resources(case: str, matrix: dict[str, Rendered]) -> None:
    r = matrix[case]
    # Production reserves a quarter CPU per app pod and more again for PostgreSQL.
    production_apps = {**DEFAULT_RESOURCES, "requests": {"cpu": "250m", "memory": "256Mi"}}
    production_frontend = {**FRONTEND_RESOURCES, "requests": {"cpu": "100m", "memory": "128Mi"}}
    for w in r.workloads():
        if case == "production" and w["kind"] == "StatefulSet":
            continue
        expected = production_apps if case == "production" else DEFAULT_RESOURCES
        if w["metadata"]["name"].endswith("-frontend"):
            expected = production_frontend if case == "production" else FRONTEND_RESOURCES
        for c in containers(w["spec"]["template"]["spec"]):
            assert c["resources"] == expected, (w["metadata"]["name"], c["name"])
    for _, _, spec in r.pod_specs():
        for c in containers(spec):
            assert c["resources"]["limits"] and c["resources"]["requests"]


def test_resources_overridable_per_component(helm: Path, render_dir: Path) -> None:
    custom = {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    r = render(helm, render_dir, {"mcpServer": {"resources": custom}})
    assert container(r.get("Deployment", name("mcp-server")), "mcp-server")["resources"] == custom
    assert container(r.get("Deployment", name("backend")), "backend")["resources"] == (
        DEFAULT_RESOURCES
    )


# --- Pod Security Standard "restricted" ----------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_pod_security_restricted(case: str, matrix: dict[str, Rendered]) -> None:
    for where, _, spec in matrix[case].pod_specs():
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["runAsUser"] > 0, where
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), where
        assert spec.get("automountServiceAccountToken") is False, where
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            kinds = set(v) - {"name"}
            assert kinds <= RESTRICTED_VOLUMES, (where, v)
        for c in containers(spec):
            sc = c["securityContext"]
            label = f"{where}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, label
            assert sc["capabilities"] == {"drop": ["ALL"]}, label
            assert sc["readOnlyRootFilesystem"] is True, label
            assert sc["runAsNonRoot"] is True, label
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, label
            assert not sc.get("privileged"), label
            assert not c.get("ports") or all("hostPort" not in p for p in c["ports"]), label
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            tmp = "/tmp"  # noqa: S108 - the container's own /tmp, an emptyDir
            assert tmp in mounts and "emptyDir" in volumes[mounts[tmp]], label


def test_app_pods_run_as_image_user(default: Rendered) -> None:
    for where, meta, spec in default.pod_specs():
        if meta["labels"]["app.kubernetes.io/component"] != "postgresql":
            assert spec["securityContext"]["runAsUser"] == 10001, where


def test_postgresql_pod(default: Rendered) -> None:
    sts = default.get("StatefulSet", name("postgresql"))
    spec = sts["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsUser"] == 999
    assert spec["securityContext"]["fsGroup"] == 999
    c = container(sts, "postgresql")
    assert c["image"] == "postgres:15-bookworm"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/var/lib/postgresql/data"] == "data"
    assert "emptyDir" in {v["name"]: v for v in spec["volumes"]}[mounts["/var/run/postgresql"]]
    pgdata = env_of(c)["PGDATA"]["value"]
    assert pgdata.startswith("/var/lib/postgresql/data/") and pgdata != "/var/lib/postgresql/data/"
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_postgresql_authentication_and_locale_are_the_charts_not_the_images(
    default: Rendered,
) -> None:
    """The postgres image's initdb trusts local and loopback connections unless told
    otherwise; the chart tells it, so every image behaves the same under the chart."""
    env = env_of(container(default.get("StatefulSet", name("postgresql")), "postgresql"))
    args = env["POSTGRES_INITDB_ARGS"]["value"].split()
    assert {"--auth-local=scram-sha-256", "--auth-host=scram-sha-256"} <= set(args)
    assert {"--encoding=UTF8", "--locale=C.UTF-8"} <= set(args)
    assert env["POSTGRES_HOST_AUTH_METHOD"]["value"] == "scram-sha-256"


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c not in EXTERNAL_DB])
def test_postgresql_statefulset_is_governed_by_a_headless_service(
    case: str, matrix: dict[str, Rendered]
) -> None:
    r = matrix[case]
    fullname = "todo" if case == "overrides" else FULLNAME
    sts = r.get("StatefulSet", f"{fullname}-postgresql")
    governing = r.get("Service", sts["spec"]["serviceName"])
    assert governing["metadata"]["name"] == f"{fullname}-postgresql-headless"
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["publishNotReadyAddresses"] is True
    assert selects(governing["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
    assert [p["port"] for p in governing["spec"]["ports"]] == [5432]
    # The apps keep connecting through the regular Service, which keeps its cluster IP.
    client = r.get("Service", f"{fullname}-postgresql")
    assert "clusterIP" not in client["spec"]
    # ...and reach the server as soon as it listens, not a probe period and an endpoint
    # update after (a server still starting answers "starting up" itself).
    assert client["spec"]["publishNotReadyAddresses"] is True


def earlier_statefulset(size: str = "1Gi", storage_class: str | None = None) -> dict[str, Any]:
    """The PostgreSQL StatefulSet an earlier chart revision created, as the API returns it:
    governed by the regular Service, its claim template carrying the API's defaults."""
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
        "volumeMode": "Filesystem",
    }
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    labels = {
        "app.kubernetes.io/name": "todo-app",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "postgresql",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name("postgresql"), "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "serviceName": name("postgresql"),
            "selector": {"matchLabels": labels},
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "labels": labels},
                    "spec": claim_spec,
                    "status": {"phase": "Pending"},
                }
            ],
        },
    }


@pytest.mark.parametrize("storage_class", [None, "standard"])
def test_upgrade_keeps_the_statefulsets_immutable_fields(
    helm: Path, tmp_path: Path, matrix: dict[str, Rendered], storage_class: str | None
) -> None:
    """Upgrading a release of an earlier revision to production values (10Gi, a headless
    governing Service) asks Kubernetes to change no immutable StatefulSet field."""
    chart = chart_with_cluster(tmp_path, [*LIVE_SECRETS, earlier_statefulset("1Gi", storage_class)])
    production = CHART / "values-production.yaml"
    r = render(helm, tmp_path, files=(production,), secrets=False, chart=chart)
    sts = r.get("StatefulSet", name("postgresql"))
    assert sts["spec"]["serviceName"] == name("postgresql")
    # The claim template is the one the earlier revision rendered, 1Gi not 10Gi.
    expected = matrix["default"].get("StatefulSet", name("postgresql"))["spec"][
        "volumeClaimTemplates"
    ]
    if storage_class:
        expected[0]["spec"]["storageClassName"] = storage_class
    assert sts["spec"]["volumeClaimTemplates"] == expected
    # Without a live StatefulSet the same values render the new fields.
    fresh = matrix["production"].get("StatefulSet", name("postgresql"))
    assert fresh["spec"]["serviceName"] == name("postgresql-headless")
    assert fresh["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "10Gi"
    }
    # The operator is told the volume was not resized, and where to read how.
    notes = _notes(helm, tmp_path, yaml_values(production), source=chart)
    assert "postgresql.persistence.size is 10Gi" in notes
    assert "keeps the 1Gi volume claim template" in notes
    assert "Growing the database volume" in notes
    # Same size as the live claim: nothing to say.
    same = _notes(helm, tmp_path, {"postgresql": {"persistence": {"size": "1Gi"}}}, source=chart)
    assert "volume claim template" not in same


def yaml_values(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text())


def test_external_db_has_no_postgresql(matrix: dict[str, Rendered]) -> None:
    r = matrix["external-db"]
    assert not r.of_kind("StatefulSet")
    assert not [d for d in r.docs if "postgresql" in d["metadata"]["name"]]


# --- checksums, secrets --------------------------------------------------------------------


def test_checksum_annotations(default: Rendered) -> None:
    checksums = set()
    for component in ("backend", "mcp-server"):
        ann = default.get("Deployment", name(component))["spec"]["template"]["metadata"][
            "annotations"
        ]
        assert re.fullmatch(r"[0-9a-f]{64}", ann["checksum/secret"]), component
        checksums.add(ann["checksum/secret"])
    # Computed from the same (memoised) values in every workload.
    assert len(checksums) == 1
    mcp = default.get("Deployment", name("mcp-server"))
    assert re.fullmatch(
        r"[0-9a-f]{64}", mcp["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    )
    # PostgreSQL reads its Secret only when it creates the data directory: no restart on it.
    pg = default.get("StatefulSet", name("postgresql"))
    assert "annotations" not in pg["spec"]["template"]["metadata"]


def test_chart_version_bump_restarts_no_pod(helm: Path, tmp_path: Path) -> None:
    """Pod templates carry no chart or app version (labels, checksums): a chart bump alone
    changes no pod template, so no pod restarts (PostgreSQL least of all)."""
    import shutil

    bumped = tmp_path / "todo-app"
    shutil.copytree(CHART, bumped)
    chart_yaml = bumped / "Chart.yaml"
    text = chart_yaml.read_text()
    assert "version: 0.2.0" in text and 'appVersion: "0.2.0"' in text
    chart_yaml.write_text(
        text.replace("version: 0.2.0", "version: 9.9.9").replace(
            'appVersion: "0.2.0"', 'appVersion: "9.9.9"'
        )
    )
    # The image tag is pinned, as an upgrade that only bumps the chart would have it.
    for files in ((), (CHART / "values-production.yaml",)):
        values = {"image": {"tag": "1.0"}}
        before = render(helm, tmp_path, values, files)
        after = render(helm, tmp_path, values, files, chart=bumped)
        for w in before.workloads():
            kind, n = w["kind"], w["metadata"]["name"]
            assert after.get(kind, n)["spec"]["template"] == w["spec"]["template"], n
            # The bump is visible where it belongs: the objects' own labels.
            assert after.get(kind, n)["metadata"]["labels"]["helm.sh/chart"] == "todo-app-9.9.9"
            labels = w["spec"]["template"]["metadata"]["labels"]
            assert not {"helm.sh/chart", "app.kubernetes.io/version"} & set(labels), n


def _config_checksum(r: Rendered) -> str:
    mcp = r.get("Deployment", name("mcp-server"))
    return mcp["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def _secret_checksum(r: Rendered) -> str:
    backend = r.get("Deployment", name("backend"))
    return backend["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]


def test_config_checksum_follows_the_configmap(helm: Path, render_dir: Path) -> None:
    a = render(helm, render_dir, {"app": {"logLevel": "INFO"}})
    b = render(helm, render_dir, {"app": {"logLevel": "INFO"}})
    c = render(helm, render_dir, {"app": {"logLevel": "DEBUG"}})
    assert _config_checksum(a) == _config_checksum(b) != _config_checksum(c)


def test_secret_checksum_follows_the_secrets(helm: Path, render_dir: Path) -> None:
    # Same credentials, same checksum: a render that keeps the secrets keeps the pods...
    assert _secret_checksum(render(helm, render_dir)) == _secret_checksum(render(helm, render_dir))
    # ...and a new password rolls them.
    rotated = render(helm, render_dir, {"database": {"password": "another-password-0123"}})
    assert _secret_checksum(rotated) != _secret_checksum(render(helm, render_dir))
    existing = MATRIX["existing-secrets"][1]
    assert _secret_checksum(render(helm, render_dir, existing)) == _secret_checksum(
        render(helm, render_dir, existing)
    )


def _offline_secrets() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(OFFLINE_SECRETS.read_text())


def test_created_secrets(default: Rendered) -> None:
    import base64

    given = _offline_secrets()
    db = default.get("Secret", "postgres-secret")
    assert set(db["data"]) == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    decoded = {k: base64.b64decode(v).decode() for k, v in db["data"].items()}
    assert decoded["POSTGRES_PASSWORD"] == given["database"]["password"]
    assert decoded["POSTGRES_USER"] == "todo" and decoded["POSTGRES_DB"] == "todo"
    assert db["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    auth = default.get("Secret", name("auth"))
    assert {k: base64.b64decode(v).decode() for k, v in auth["data"].items()} == {
        "JWT_SECRET": given["auth"]["jwtSecret"],
        "MCP_SERVICE_TOKEN": given["auth"]["mcpServiceToken"],
    }


def test_render_without_cluster_refuses_to_invent_secrets(helm: Path, render_dir: Path) -> None:
    """`helm template` (and GitOps tools rendering with it) cannot read the existing Secrets:
    a random password on every render would lock the apps out of the kept data volume."""
    message = render_error(helm, render_dir, secrets=False)
    assert "cannot read the cluster" in message
    for field in (
        "database.password",
        "auth.jwtSecret",
        "auth.mcpServiceToken",
        "frontend.sessionSecret",
    ):
        assert field in message
    assert "database.secret.create=false with database.secret.name" in message
    assert "frontend.secret.create=false with frontend.secret.name" in message
    assert "--dry-run=server" in message
    # Only what is missing is asked for: the database Secret is the operator's here.
    own_db = {"database": {"secret": {"create": False, "name": "my-db"}}}
    message = render_error(helm, render_dir, own_db, secrets=False)
    assert "auth.jwtSecret" in message and "database.password" not in message
    # Given everything (values or own Secrets), the render is stable: nothing random is left.
    both_own = {
        "database": {"secret": {"create": False, "name": "my-db"}},
        "auth": {"secret": {"create": False, "name": "my-auth"}},
        "frontend": {"secret": {"create": False, "name": "my-frontend"}},
    }
    first = render(helm, render_dir, both_own, secrets=False)
    assert first.docs == render(helm, render_dir, both_own, secrets=False).docs
    given = render(helm, render_dir, _offline_secrets(), secrets=False)
    assert given.docs == render(helm, render_dir, _offline_secrets(), secrets=False).docs


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    import base64

    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def secret_object(secret_name: str, data: dict[str, str], owner: str | None = RELEASE) -> dict:
    """A live Secret as the API returns it; `owner`: the Helm release that manages it."""
    meta: dict[str, Any] = {"name": secret_name, "namespace": NAMESPACE}
    if owner:
        meta["annotations"] = {"meta.helm.sh/release-name": owner}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "data": {k: _b64(v) for k, v in data.items()},
    }


DEFAULT_SERVICE_ACCOUNT = {
    "apiVersion": "v1",
    "kind": "ServiceAccount",
    "metadata": {"name": "default", "namespace": NAMESPACE},
}
KUBE_SYSTEM = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
KEPT = {
    "POSTGRES_PASSWORD": "kept-database-password",
    "JWT_SECRET": "kept-jwt-secret-0123456789abcdefghijkl",
    "MCP_SERVICE_TOKEN": "kept-service-token-0123456789abcdefgh",
}
LIVE_SECRETS = [
    DEFAULT_SERVICE_ACCOUNT,
    secret_object(
        "postgres-secret",
        {
            "POSTGRES_USER": "todo",
            "POSTGRES_PASSWORD": KEPT["POSTGRES_PASSWORD"],
            "POSTGRES_DB": "todo",
        },
    ),
    secret_object(
        name("auth"),
        {"JWT_SECRET": KEPT["JWT_SECRET"], "MCP_SERVICE_TOKEN": KEPT["MCP_SERVICE_TOKEN"]},
    ),
]


def test_upgrade_keeps_the_existing_secrets(helm: Path, tmp_path: Path) -> None:
    chart = chart_with_cluster(tmp_path, LIVE_SECRETS)
    first = render(helm, tmp_path, secrets=False, chart=chart)
    assert (
        _decoded(first.get("Secret", "postgres-secret"))["POSTGRES_PASSWORD"]
        == (KEPT["POSTGRES_PASSWORD"])
    )
    auth = _decoded(first.get("Secret", name("auth")))
    assert auth == {k: KEPT[k] for k in ("JWT_SECRET", "MCP_SERVICE_TOKEN")}
    again = render(helm, tmp_path, secrets=False, chart=chart)
    assert _secret_checksum(again) == _secret_checksum(first)  # no pod rolls
    # A value given explicitly wins over the kept one (how a rotation is rolled out).
    new_password = "rotated-password-0123"  # noqa: S105 - a test value
    rotated = render(
        helm,
        tmp_path,
        {"database": {"password": new_password}},
        secrets=False,
        chart=chart,
    )
    assert _decoded(rotated.get("Secret", "postgres-secret"))["POSTGRES_PASSWORD"] == new_password
    assert _secret_checksum(rotated) != _secret_checksum(first)


@pytest.mark.parametrize(
    "visible", [DEFAULT_SERVICE_ACCOUNT, KUBE_SYSTEM], ids=["namespace-exists", "new-namespace"]
)
def test_first_install_generates_random_secrets(
    helm: Path, tmp_path: Path, visible: dict[str, Any]
) -> None:
    chart = chart_with_cluster(tmp_path, [visible])
    r = render(helm, tmp_path, secrets=False, chart=chart)
    password = _decoded(r.get("Secret", "postgres-secret"))["POSTGRES_PASSWORD"]
    auth = _decoded(r.get("Secret", name("auth")))
    assert len(password) == 32 and password.isalnum()
    assert [len(v) for v in auth.values()] == [48, 48]
    assert auth["JWT_SECRET"] != auth["MCP_SERVICE_TOKEN"]


def test_foreign_secret_is_refused(helm: Path, tmp_path: Path) -> None:
    foreign = secret_object("postgres-secret", {"POSTGRES_PASSWORD": "theirs"}, owner=None)
    chart = chart_with_cluster(tmp_path, [DEFAULT_SERVICE_ACCOUNT, foreign])
    message = render_error(helm, tmp_path, secrets=False, chart=chart)
    assert 'Secret "postgres-secret" already exists' in message
    assert "set database.secret.create=false and database.secret.name=postgres-secret" in message


def test_existing_secrets_are_not_created(matrix: dict[str, Rendered]) -> None:
    assert matrix["existing-secrets"].of_kind("Secret") == []


def test_secrets_only_via_refs(matrix: dict[str, Rendered]) -> None:
    """No Secret value ends up in a ConfigMap or a plain env value."""
    r = matrix["default"]
    secret_values = {v for s in r.of_kind("Secret") for v in s["data"].values()}
    import base64

    plain = {base64.b64decode(v).decode() for v in secret_values} - {"todo"}
    for cm in r.of_kind("ConfigMap"):
        assert not plain & set(cm["data"].values())
    for _, _, spec in r.pod_specs():
        for c in containers(spec):
            assert not plain & {e.get("value") for e in c.get("env", [])}


# --- autoscaling, disruption budget ----------------------------------------------------------


def test_hpa(matrix: dict[str, Rendered]) -> None:
    r = matrix["autoscaling-on"]
    hpa = r.get("HorizontalPodAutoscaler", name("mcp-server"))
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name("mcp-server"),
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 15
    # Rendered without the cluster (a GitOps tool), the HPA alone owns the count: a fixed
    # value would undo its scaling on every sync.
    assert "replicas" not in r.get("Deployment", name("mcp-server"))["spec"]
    # The target is a share of the CPU request: the request must be set.
    mcp = container(r.get("Deployment", name("mcp-server")), "mcp-server")
    assert mcp["resources"]["requests"]["cpu"]


def mcp_deployment_object(replicas: int) -> dict[str, Any]:
    """The live MCP server Deployment, as the HPA or an earlier replicaCount left it."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name("mcp-server"), "namespace": NAMESPACE},
        "spec": {"replicas": replicas},
    }


@pytest.mark.parametrize(
    ("live", "min_max", "expected"),
    [
        (2, (1, 3), 2),  # autoscaling switched on over two running pods: still two
        (3, (1, 3), 3),  # an upgrade while the HPA has scaled out: no scale-in
        (1, (2, 3), 2),  # never under minReplicas
        (5, (1, 3), 3),  # never over maxReplicas
        (None, (2, 3), 2),  # a first install starts at minReplicas
    ],
    ids=["switch-on-2", "scaled-out", "below-min", "above-max", "first-install"],
)
def test_autoscaling_keeps_the_running_replicas(
    helm: Path, tmp_path: Path, live: int | None, min_max: tuple[int, int], expected: int
) -> None:
    """Switching the HPA on renders `replicas` (the live count, within min..max) instead of
    dropping the field, which Kubernetes would default to one pod until the HPA reacts."""
    objects = list(LIVE_SECRETS) + ([mcp_deployment_object(live)] if live else [])
    chart = chart_with_cluster(tmp_path, objects)
    low, high = min_max
    values = {
        "mcpServer": {"autoscaling": {"enabled": True, "minReplicas": low, "maxReplicas": high}}
    }
    r = render(helm, tmp_path, values, secrets=False, chart=chart)
    assert r.get("Deployment", name("mcp-server"))["spec"]["replicas"] == expected


def test_hpa_off_by_default(default: Rendered) -> None:
    assert not default.of_kind("HorizontalPodAutoscaler")
    assert default.get("Deployment", name("mcp-server"))["spec"]["replicas"] == 1


def test_production_values(matrix: dict[str, Rendered]) -> None:
    r = matrix["production"]
    hpa = r.get("HorizontalPodAutoscaler", name("mcp-server"))
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 3
    assert r.get("PodDisruptionBudget", name("mcp-server"))
    assert r.get("Deployment", name("backend"))["spec"]["replicas"] == 2


@pytest.mark.parametrize("case", ["production", "e2e-production"])
def test_production_keeps_the_api_through_node_drains(
    case: str, matrix: dict[str, Rendered]
) -> None:
    """Production: a PodDisruptionBudget per app, and their pods spread over nodes."""
    r = matrix[case]
    pods = pods_by_component(r)
    for component in ("backend", "mcp-server"):
        pdb = r.get("PodDisruptionBudget", name(component))
        assert pdb["spec"]["maxUnavailable"] == 1
        assert _targets_of(pdb["spec"]["selector"]["matchLabels"], pods) == [component]
        spec = r.get("Deployment", name(component))["spec"]["template"]["spec"]
        [constraint] = spec["topologySpreadConstraints"]
        assert constraint["topologyKey"] == "kubernetes.io/hostname"
        assert constraint["maxSkew"] == 1
        # A rule, not a preference; cordoned and tainted nodes do not count (a drain moves
        # the pod to a node left, a one-node cluster still runs every pod).
        assert constraint["whenUnsatisfiable"] == "DoNotSchedule"
        assert constraint["nodeTaintsPolicy"] == "Honor"
        # Counted among the pods of one ReplicaSet: old pods a rollout leaves behind on a node
        # do not let the new ones pile up there.
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]
        selector = constraint["labelSelector"]["matchLabels"]
        assert _targets_of(selector, pods) == [component]


def _targets_of(selector: dict[str, str], pods: dict[str, dict[str, str]]) -> list[str]:
    return [c for c, labels in pods.items() if selects(selector, labels)]


@pytest.mark.parametrize(
    ("replicas", "enabled", "expected"),
    [(1, True, False), (2, True, True), (3, False, False)],
    ids=["one-pod", "two-pods", "pdb-disabled"],
)
def test_backend_pdb_only_when_more_than_one_pod_runs(
    helm: Path, render_dir: Path, replicas: int, enabled: bool, expected: bool
) -> None:
    values = {"backend": {"replicaCount": replicas, "pdb": {"enabled": enabled}}}
    pdb = render(helm, render_dir, values).find("PodDisruptionBudget", name("backend"))
    assert (pdb is not None) is expected
    if pdb:
        assert pdb["apiVersion"] == "policy/v1"


def test_topology_spread_keeps_a_given_label_selector(helm: Path, render_dir: Path) -> None:
    given = {
        "maxSkew": 2,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"tier": "api"}},
    }
    r = render(helm, render_dir, {"backend": {"topologySpreadConstraints": [given]}})
    spec = r.get("Deployment", name("backend"))["spec"]["template"]["spec"]
    assert spec["topologySpreadConstraints"] == [given]
    mcp = r.get("Deployment", name("mcp-server"))["spec"]["template"]["spec"]
    assert "topologySpreadConstraints" not in mcp


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, False),
        ({"mcpServer": {"replicaCount": 2}}, True),
        ({"mcpServer": {"autoscaling": {"enabled": True}}}, True),
        ({"mcpServer": {"autoscaling": {"enabled": True, "maxReplicas": 1}}}, False),
        ({"mcpServer": {"replicaCount": 3, "pdb": {"enabled": False}}}, False),
        (
            {"mcpServer": {"replicaCount": 1, "autoscaling": {"enabled": False, "maxReplicas": 5}}},
            False,
        ),
    ],
    ids=["one-pod", "two-pods", "hpa-1-to-3", "hpa-max-1", "pdb-disabled", "hpa-off-max-5"],
)
def test_pdb_only_when_more_than_one_pod_can_run(
    helm: Path, render_dir: Path, values: dict[str, Any], expected: bool
) -> None:
    r = render(helm, render_dir, values)
    pdbs = r.of_kind("PodDisruptionBudget")
    assert bool(pdbs) is expected
    if pdbs:
        pdb = pdbs[0]
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == 1
        mcp = r.get("Deployment", name("mcp-server"))
        assert selects(
            pdb["spec"]["selector"]["matchLabels"], mcp["spec"]["template"]["metadata"]["labels"]
        )
        backend = r.get("Deployment", name("backend"))
        assert not selects(
            pdb["spec"]["selector"]["matchLabels"],
            backend["spec"]["template"]["metadata"]["labels"],
        )


# --- connection budget ------------------------------------------------------------------------


def _pool(r: Rendered, component: str) -> int:
    """size + overflow of one process, as the rendered pod will read them."""
    env = _process_env(r, component)
    return int(env["DB_POOL_SIZE"]) + int(env["DB_MAX_OVERFLOW"])


def _most_pods(r: Rendered, component: str) -> int:
    hpa = r.find("HorizontalPodAutoscaler", name(component))
    deployment = r.get("Deployment", name(component))
    most = hpa["spec"]["maxReplicas"] if hpa else deployment["spec"]["replicas"]
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    return most + surge if most else 0


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c not in {*EXTERNAL_DB, "overrides"}])
def test_connection_pools_fit_in_postgresql_max_connections(
    case: str, matrix: dict[str, Rendered]
) -> None:
    """What the rendered pods can open, at their most pods and during a rollout, stays
    within the max_connections the rendered PostgreSQL runs with, less the reserve."""
    r = matrix[case]
    args = container(r.get("StatefulSet", name("postgresql")), "postgresql")["args"]
    assert args[:2] == ["postgres", "-c"]
    max_connections = int(args[2].removeprefix("max_connections="))
    components = ["backend"] if case == "mcp-disabled" else ["backend", "mcp-server"]
    needed = sum(_most_pods(r, c) * _pool(r, c) for c in components)
    assert needed + 10 <= max_connections, (needed, max_connections)


def test_production_connection_budget(matrix: dict[str, Rendered]) -> None:
    r = matrix["production"]
    # (2 + 1) backend pods and (3 + 1) MCP server pods, 25 connections each, 10 reserved.
    assert _most_pods(r, "backend") == 3 and _most_pods(r, "mcp-server") == 4
    pg = container(r.get("StatefulSet", name("postgresql")), "postgresql")
    assert pg["args"] == ["postgres", "-c", "max_connections=200"]


def test_connection_budget_over_max_connections_is_refused(helm: Path, render_dir: Path) -> None:
    production = (CHART / "values-production.yaml",)
    # Production's pools need exactly 185: accepted at 185, refused at 184.
    render(helm, render_dir, {"database": {"maxConnections": 185}}, production)
    message = render_error(helm, render_dir, {"database": {"maxConnections": 184}}, production)
    assert "database.maxConnections (184) is below what the connection pools can open: 185" in (
        message
    )
    for field in (
        "backend.replicaCount",
        "backend.dbPool.size",
        "mcpServer.autoscaling.maxReplicas",
        "mcpServer.dbPool.size",
        "database.reservedConnections",
    ):
        assert field in message
    # The same check holds for an external server (its limit given in database.maxConnections).
    external = {
        "postgresql": {"enabled": False},
        "database": {"host": "db.example.internal", "maxConnections": 50},
    }
    assert "database.maxConnections (50)" in render_error(helm, render_dir, external)
    # Without the MCP server only the backend counts: 2 pods x 25 + 10.
    alone = {"mcpServer": {"enabled": False}, "database": {"maxConnections": 60}}
    assert not render(helm, render_dir, alone).find("Deployment", name("mcp-server"))


def test_deployments_roll_one_extra_pod_at_a_time(default: Rendered) -> None:
    for component in ("backend", "mcp-server"):
        strategy = default.get("Deployment", name(component))["spec"]["strategy"]
        assert strategy == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }


# --- images, migrations, commands ------------------------------------------------------------


def test_images_default(default: Rendered) -> None:
    for component in ("backend", "mcp-server"):
        for c in containers(default.get("Deployment", name(component))["spec"]["template"]["spec"]):
            assert c["image"] == "todo-app:0.2.0"
            assert c["imagePullPolicy"] == "IfNotPresent"
    for pod in default.of_kind("Pod"):
        assert pod["spec"]["containers"][0]["image"] == "todo-app:0.2.0"


def test_images_global_override(matrix: dict[str, Rendered]) -> None:
    r = matrix["overrides"]
    for _, meta, spec in r.pod_specs():
        for c in containers(spec):
            assert c["imagePullPolicy"] == "Never"
            if meta["labels"]["app.kubernetes.io/component"] == "postgresql":
                assert c["image"] == "registry.example.com/team/postgres:15-bookworm"
            else:
                assert c["image"] == "registry.example.com/team/todo-app:1.2.3"


def test_images_per_component(helm: Path, render_dir: Path) -> None:
    r = render(
        helm,
        render_dir,
        {
            "image": {"tag": "dev"},
            "mcpServer": {"image": {"repository": "other/mcp", "pullPolicy": "Always"}},
            "postgresql": {"image": {"repository": "todo-airgap/postgres"}},
        },
    )
    assert container(r.get("Deployment", name("backend")), "backend")["image"] == "todo-app:dev"
    mcp = container(r.get("Deployment", name("mcp-server")), "mcp-server")
    assert (mcp["image"], mcp["imagePullPolicy"]) == ("other/mcp:dev", "Always")
    pg = container(r.get("StatefulSet", name("postgresql")), "postgresql")
    assert pg["image"] == "todo-airgap/postgres:15-bookworm"


def test_commands(default: Rendered) -> None:
    backend = container(default.get("Deployment", name("backend")), "backend")
    # app.serve: uvicorn with the port listening while the app imports (probes queue, not fail)
    assert backend["command"][:5] == ["python", "-m", "app.serve", "--migrate", "app.main:app"]
    assert backend["command"][-1] == "8000" and backend["ports"][0]["containerPort"] == 8000
    mcp = container(default.get("Deployment", name("mcp-server")), "mcp-server")
    assert mcp["command"][:4] == ["python", "-m", "app.serve", "app.mcp_server:app"]
    assert mcp["command"][-1] == "8001" and mcp["ports"][0]["containerPort"] == 8001


def test_only_the_backend_migrates_and_the_mcp_server_waits_for_the_schema(
    default: Rendered,
) -> None:
    """MCP pods (the ones the HPA adds) start without a migrate step; their readiness waits
    for the schema the backend's pods migrate."""
    mcp = default.get("Deployment", name("mcp-server"))["spec"]["template"]["spec"]
    assert not mcp.get("initContainers")
    assert "--migrate" not in mcp["containers"][0]["command"]
    assert (
        container(default.get("Deployment", name("mcp-server")), "mcp-server")["readinessProbe"][
            "httpGet"
        ]["path"]
        == "/ready"
    )


def test_migration_failure_surfaces_in_the_pod_status(default: Rendered) -> None:
    """The backend container migrates before it serves, with no retry loop around it: a
    failed migration's exit code reaches the kubelet (the container stops within seconds of
    a refused login) and its last log line, naming the cause, becomes the container's
    termination message. No init container: the app's import overlaps the migration."""
    pod = default.get("Deployment", name("backend"))["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    backend = container(default.get("Deployment", name("backend")), "backend")
    assert "--migrate" in backend["command"]
    assert backend["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_migrations_switch(matrix: dict[str, Rendered]) -> None:
    backend = container(matrix["overrides"].get("Deployment", "todo-backend"), "backend")
    assert "--migrate" not in backend["command"]


# --- helm test pods, NOTES -------------------------------------------------------------------


def test_helm_test_pods(default: Rendered, matrix: dict[str, Rendered]) -> None:
    pods = {p["metadata"]["name"]: p for p in default.of_kind("Pod")}
    assert set(pods) == {
        name("test-backend-ready"),
        name("test-mcp-reachable"),
        name("test-auth-refused"),
        name("test-frontend-pages"),
    }
    for pod in pods.values():
        ann = pod["metadata"]["annotations"]
        assert ann["helm.sh/hook"] == "test"
        assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert pod["spec"]["restartPolicy"] == "Never"
        script = pod["spec"]["containers"][0]["command"][-1]
        compile(script, pod["metadata"]["name"], "exec")  # valid Python
    disabled = {p["metadata"]["name"] for p in matrix["mcp-disabled"].of_kind("Pod")}
    assert disabled == {
        name("test-backend-ready"),
        name("test-auth-refused"),
        name("test-frontend-pages"),
    }
    assert matrix["overrides"].of_kind("Pod") == []


def _runtime_modules() -> set[str]:
    """Top-level modules of the app's runtime dependency closure (what its image ships)."""
    from packaging.requirements import Requirement

    providers = importlib.metadata.packages_distributions()
    dists: set[str] = set()
    todo = ["todo-app"]
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in dists:
            continue
        dists.add(key)
        for spec in dist.requires or ():
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return {
        module
        for module, owners in providers.items()
        if any(o.lower().replace("_", "-") in dists for o in owners)
    }


def test_helm_test_pods_import_only_what_the_image_ships(default: Rendered) -> None:
    # The test pods run the application image: test-only packages (httpx, pytest) are absent.
    shipped = _runtime_modules() | set(sys.stdlib_module_names)
    for pod in default.of_kind("Pod"):
        tree = ast.parse(pod["spec"]["containers"][0]["command"][-1])
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for module in names:
                top = module.split(".")[0]
                assert top in shipped, f"{pod['metadata']['name']} imports {top}, not in the image"


def _notes(helm: Path, tmp: Path, values: dict[str, Any], source: Path = CHART) -> str:
    """NOTES.txt as `helm install` prints it, rendered offline (from `source`, a chart or a
    chart_with_cluster copy).

    `helm install --dry-run=client` still wants a reachable cluster and `helm template`
    does not print the notes, so render a copy of the chart in which NOTES.txt is a named
    template that a ConfigMap includes.
    """
    import shutil

    import yaml
    from chartlib import run_helm

    chart = tmp / f"notes-{source.parent.name}" / "todo-app"
    if not chart.exists():
        shutil.copytree(source, chart)
        notes = chart / "templates" / "NOTES.txt"
        text = notes.read_text()
        notes.unlink()
        (chart / "templates" / "_notes.tpl").write_text(
            '{{- define "test.notes" -}}\n' + text + "\n{{- end }}\n"
        )
        (chart / "templates" / "notes-under-test.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\n"
            'data:\n  notes: {{ include "test.notes" . | quote }}\n'
        )
    path = tmp / "notes-values.yaml"
    path.write_text(yaml.safe_dump(values))
    proc = run_helm(
        helm,
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--show-only",
        "templates/notes-under-test.yaml",
        "-f",
        str(OFFLINE_SECRETS),
        "-f",
        str(path),
    )
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)["data"]["notes"]


def test_notes_tell_how_to_reach_the_app(helm: Path, tmp_path: Path) -> None:
    notes = _notes(helm, tmp_path, {})
    assert f"kubectl port-forward --namespace {NAMESPACE} service/{name('backend')}" in notes
    notes = _notes(
        helm, tmp_path, {"backend": {"service": {"type": "NodePort", "nodePort": 30080}}}
    )
    assert "NODE_PORT" in notes and "127.0.0.1:30080" in notes
    notes = _notes(helm, tmp_path, {"mcpServer": {"enabled": False}})
    assert "task service disabled" in notes


# --- the web front end -------------------------------------------------------------------


def test_frontend_runs_the_same_image_with_its_own_command(default: Rendered) -> None:
    deployment = default.get("Deployment", name("frontend"))
    c = container(deployment, "frontend")
    backend = container(default.get("Deployment", name("backend")), "backend")
    assert c["image"] == backend["image"]
    assert c["command"][:4] == ["python", "-m", "app.serve", "app.frontend.main:app"]
    env = env_of(c)
    assert env["BACKEND_URL"]["value"] == f"http://{name('backend')}:8000"
    assert env["SESSION_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": name("frontend"),
        "key": "SESSION_SECRET",
    }
    assert env["SESSION_COOKIE_SECURE"]["value"] == "auto"
    assert "FORWARDED_ALLOW_IPS" not in env  # uvicorn's default: 127.0.0.1 only
    # No database or service credential reaches the front end.
    assert not {"JWT_SECRET", "MCP_SERVICE_TOKEN", "POSTGRES_HOST"} & set(env)
    assert "envFrom" not in c
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    service = default.get("Service", name("frontend"))
    assert service["spec"]["ports"][0]["port"] == 8080
    assert default.get("Secret", name("frontend"))["data"]["SESSION_SECRET"]


def test_frontend_switch_removes_every_frontend_object(helm: Path, render_dir: Path) -> None:
    off = render(helm, render_dir, {"frontend": {"enabled": False}})
    leftovers = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in off.docs
        if d["metadata"]["name"].startswith(name("frontend"))
        or d["metadata"]["name"] == name("test-frontend-pages")
    ]
    assert leftovers == []
    assert off.get("Deployment", name("backend"))


def test_frontend_key_rolls_only_the_frontend(helm: Path, render_dir: Path) -> None:
    def annotations(r: Rendered) -> dict[str, dict[str, str]]:
        return {
            component: r.get("Deployment", name(component))["spec"]["template"]["metadata"][
                "annotations"
            ]
            for component in ("frontend", "backend", "mcp-server")
        }

    before = annotations(render(helm, render_dir))
    after = annotations(
        render(helm, render_dir, {"frontend": {"sessionSecret": "another-session-key-" + "9" * 20}})
    )
    assert before["frontend"] != after["frontend"]
    assert before["backend"] == after["backend"] and before["mcp-server"] == after["mcp-server"]


def test_frontend_ingress_with_tls(helm: Path, render_dir: Path) -> None:
    values = {
        "frontend": {
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "host": "todo.example.com",
                "tls": {"secretName": "todo-tls"},
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64k"},
            },
            "trustedProxies": ["10.244.0.0/16"],
        }
    }
    r = render(helm, render_dir, values)
    ingress = r.get("Ingress", name("frontend"))
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "todo-tls", "hosts": ["todo.example.com"]}]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "todo.example.com"
    [path] = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": name("frontend"), "port": {"name": "http"}}
    env = env_of(container(r.get("Deployment", name("frontend")), "frontend"))
    assert env["SESSION_COOKIE_SECURE"]["value"] == "always"  # TLS at the Ingress
    assert env["FORWARDED_ALLOW_IPS"]["value"] == "10.244.0.0/16"


def test_frontend_ingress_is_optional_and_may_answer_any_host(
    default: Rendered, helm: Path, render_dir: Path
) -> None:
    assert default.of_kind("Ingress") == []
    r = render(helm, render_dir, {"frontend": {"ingress": {"enabled": True}}})
    ingress = r.get("Ingress", name("frontend"))
    assert "tls" not in ingress["spec"] and "ingressClassName" not in ingress["spec"]
    assert "host" not in ingress["spec"]["rules"][0]


def test_frontend_ingress_policy_opens_only_its_port(
    default: Rendered, helm: Path, render_dir: Path
) -> None:
    policy = default.get("NetworkPolicy", name("frontend"))
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    controller = {"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}
    r = render(helm, render_dir, {"networkPolicy": {"frontendFrom": [controller]}})
    [rule] = r.get("NetworkPolicy", name("frontend"))["spec"]["ingress"]
    assert rule["from"][0] == controller
    pods = pods_by_component(r)
    assert selects(rule["from"][1]["podSelector"]["matchLabels"], pods["test"])
    assert not any(
        selects(rule["from"][1]["podSelector"]["matchLabels"], pods[c])
        for c in ("backend", "mcp-server")
    )


def test_production_spreads_two_frontend_pods_under_a_pdb(matrix: dict[str, Rendered]) -> None:
    r = matrix["production"]
    deployment = r.get("Deployment", name("frontend"))
    assert deployment["spec"]["replicas"] == 2
    [spread] = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    assert r.get("PodDisruptionBudget", name("frontend"))["spec"]["maxUnavailable"] == 1
    assert matrix["default"].of_kind("PodDisruptionBudget") == [] or all(
        not p["metadata"]["name"].endswith("-frontend")
        for p in matrix["default"].of_kind("PodDisruptionBudget")
    )
