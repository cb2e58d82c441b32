"""Promise 9: Pod Security "restricted" is enforced and the release runs under it;
NetworkPolicy is really enforced by the cluster's network plugin; requests
without or with wrong credentials are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from kubernetes.client.exceptions import ApiException

from harness.kube import wait_for
from harness.proc import say

pytestmark = pytest.mark.promise(9)

# Run inside a pod: try each host:port, print {"host:port": "open" | error}.
PROBE = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=4).close()
        out[target] = "open"
    except OSError as exc:
        out[target] = type(exc).__name__ + ": " + str(exc)
print("PROBE " + json.dumps(out))
"""

RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.mark.requires("pod-security")
def test_namespace_enforces_restricted_and_refuses_a_privileged_pod(kube, release):
    ns = kube.core.read_namespace(release.namespace)
    assert ns.metadata.labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"privileged-{uuid.uuid4().hex[:6]}"},
        "spec": {
            "containers": [
                {"name": "c", "image": release.images.app, "securityContext": {"privileged": True}}
            ]
        },
    }
    with pytest.raises(ApiException) as refused:
        kube.core.create_namespaced_pod(release.namespace, pod)
    assert refused.value.status == 403 and "PodSecurity" in refused.value.body


def test_release_pods_run_under_restricted(kube):
    for pod in kube.pods():
        for c in pod.spec.containers + (pod.spec.init_containers or []):
            sc = c.security_context
            assert sc and sc.allow_privilege_escalation is False, f"{pod.metadata.name}/{c.name}"
            assert sc.capabilities and "ALL" in (sc.capabilities.drop or [])


def _probe_pod(kube, release, targets: list[str]) -> dict[str, str]:
    """Run the probe from a fresh pod that carries none of the allowed labels."""
    name = f"netpol-probe-{uuid.uuid4().hex[:6]}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "netpol-probe"}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": release.images.app,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", PROBE, *targets],
                    "securityContext": RESTRICTED,
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
        },
    }
    kube.core.create_namespaced_pod(release.namespace, pod)
    try:
        wait_for(
            lambda: (
                kube.core.read_namespaced_pod(name, release.namespace).status.phase
                in ("Succeeded", "Failed")
            ),
            timeout=90,
            what=f"probe pod {name} to finish",
        )
        log = kube.core.read_namespaced_pod_log(name, release.namespace)
    finally:
        kube.core.delete_namespaced_pod(name, release.namespace, grace_period_seconds=0)
    line = next(ln for ln in log.splitlines() if ln.startswith("PROBE "))
    return json.loads(line[len("PROBE ") :])


def _probe_from_backend(kube, release, targets: list[str]) -> dict[str, str]:
    pod = kube.ready_pods("backend")[0].metadata.name
    out = release.kubectl(
        "exec", pod, "-c", "backend", "--", "python", "-c", PROBE, *targets, capture=True
    )
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("PROBE "))
    return json.loads(line[len("PROBE ") :])


@pytest.mark.requires("netpol")
def test_network_policy_is_enforced(kube, release, results):
    assert kube.networking.list_namespaced_network_policy(release.namespace).items, (
        "the release created no NetworkPolicy"
    )
    mcp = f"{release.fullname}-mcp-server:8001"
    pg = f"{release.fullname}-postgresql:5432"
    backend = f"{release.fullname}-backend:8000"
    time.sleep(2)  # policies of a fresh pod are programmed asynchronously
    outsider = _probe_pod(kube, release, [mcp, pg, backend])
    insider = _probe_from_backend(kube, release, [mcp, pg])
    results.put(
        "netpol",
        {
            "outsider": outsider,
            "backend_pod": insider,
            "enforcer": release_enforcer(results),
        },
    )
    # Control: the outsider has a network (the backend is open to everyone).
    assert outsider[backend] == "open", outsider
    assert insider[mcp] == "open" and insider[pg] == "open", insider
    assert outsider[mcp] != "open", (
        "a pod without the allowed labels reached the MCP server: NetworkPolicy is NOT "
        f"enforced by this cluster's network plugin ({release_enforcer(results)})"
    )
    # Refused or timed out by the policy, not a name that does not resolve.
    assert "gaierror" not in outsider[mcp] + outsider[pg], outsider
    assert outsider[pg] != "open", (
        "a pod without the allowed labels reached PostgreSQL: NetworkPolicy is NOT enforced"
    )


def release_enforcer(results) -> str:
    choice = (results.data.get("bring_up") or {}).get("choice") or {}
    return f"{choice.get('enforcer')}: {choice.get('enforcer_reason')}"


def _forged_jwt(sub: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 600}).encode())
    signature = hmac.new(b"not-the-secret", f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


def test_backend_refuses_missing_or_wrong_credentials(api, user):
    assert api.get("/api/v1/tasks").status_code == 401
    for token in ("garbage", _forged_jwt(str(user.id))):
        r = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
        assert "detail" in r.json()
    bad_login = api.post(
        "/api/v1/auth/token", json={"username": user.username, "password": user.password + "x"}
    )
    assert bad_login.status_code == 401
    assert api.get("/api/v1/tasks", headers=user.headers).status_code == 200


def test_mcp_refuses_missing_or_wrong_credentials(release, port_forward, service_token, user):
    with port_forward(f"svc/{release.fullname}-mcp-server", 8001) as url:
        uid = {"X-User-ID": str(user.id)}
        assert httpx.get(f"{url}/tasks", headers=uid, timeout=10).status_code == 401
        wrong = {**uid, "Authorization": "Bearer wrong-service-token"}
        assert httpx.get(f"{url}/tasks", headers=wrong, timeout=10).status_code == 401
        # A user's JWT is not the service credential.
        as_user = {**uid, "Authorization": f"Bearer {user.token}"}
        assert httpx.get(f"{url}/tasks", headers=as_user, timeout=10).status_code == 401
        no_user = {"Authorization": f"Bearer {service_token}"}
        assert httpx.get(f"{url}/tasks", headers=no_user, timeout=10).status_code in (400, 422)
        # /mcp wants a user JWT signed with the release's secret.
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        mcp_headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        assert (
            httpx.post(f"{url}/mcp", json=body, headers=mcp_headers, timeout=10).status_code == 401
        )
        forged = {**mcp_headers, "Authorization": f"Bearer {_forged_jwt(str(user.id))}"}
        assert httpx.post(f"{url}/mcp", json=body, headers=forged, timeout=10).status_code == 401
    say("MCP refused missing/wrong service tokens and forged JWTs")


@pytest.mark.requires("netpol")
def test_egress_policies_allow_only_what_each_app_needs(kube, release, results):
    """With networkPolicy.egress.enabled the backend reaches DNS, the MCP server and
    PostgreSQL, and nothing else; switched off again afterwards."""
    mcp = f"{release.fullname}-mcp-server:8001"
    pg = f"{release.fullname}-postgresql:5432"
    dns_metrics = "kube-dns.kube-system.svc:9153"  # CoreDNS: port 53 is allowed, not this
    api_server = "kubernetes.default.svc:443"
    release.upgrade(sets=["networkPolicy.enabled=true", "networkPolicy.egress.enabled=true"],
                    timeout="3m")  # fmt: skip
    try:
        time.sleep(3)  # the enforcer programs new policies asynchronously
        seen = _probe_from_backend(kube, release, [mcp, pg, dns_metrics, api_server])
    finally:
        release.upgrade(timeout="3m")
    results.put("egress", seen)
    # Names resolve (DNS is allowed), the two services the backend needs answer.
    assert seen[mcp] == "open" and seen[pg] == "open", seen
    assert all("gaierror" not in v for v in seen.values()), seen
    assert seen[dns_metrics] != "open", f"the backend reached CoreDNS beyond DNS: {seen}"
    assert seen[api_server] != "open", f"the backend reached the API server: {seen}"
