"""Promise 1: the release installs in one command; every workload becomes Available."""

from __future__ import annotations

import json

import pytest

from harness.settings import CHART_DIR

pytestmark = pytest.mark.promise(1)


def test_release_deployed_in_one_revision(release):
    status = json.loads(release.helm("status", release.name, "-o", "json", capture=True).stdout)
    assert status["info"]["status"] == "deployed"
    history = json.loads(release.helm("history", release.name, "-o", "json", capture=True).stdout)
    assert [h["status"] for h in history] == ["deployed"], history  # one command, no failures


def test_every_workload_available(kube):
    deployments = kube.deployments()
    components = {d.metadata.labels["app.kubernetes.io/component"] for d in deployments}
    assert {"backend", "mcp-server"} <= components, components
    for dep in deployments:
        want = dep.spec.replicas
        st = dep.status
        assert (st.available_replicas or 0) == want, f"{dep.metadata.name}: {st}"
        conditions = {c.type: c.status for c in st.conditions or []}
        assert conditions.get("Available") == "True", f"{dep.metadata.name}: {conditions}"
        assert conditions.get("Progressing") == "True", f"{dep.metadata.name}: {conditions}"
    for sts in kube.statefulsets():
        assert (sts.status.ready_replicas or 0) == sts.spec.replicas, sts.metadata.name


def test_no_pod_restarts(kube):
    pods = kube.pods()
    assert pods, "no pods in the release"
    for pod in pods:
        statuses = (pod.status.container_statuses or []) + (
            pod.status.init_container_statuses or []
        )
        for cs in statuses:
            assert cs.restart_count == 0, (
                f"{pod.metadata.name}/{cs.name} restarted {cs.restart_count}x"
            )


OTHER_SECRET = {"database.secret": "auth.secret", "auth.secret": "database.secret"}


@pytest.mark.parametrize(
    ("key", "secret_suffix"), [("database.secret", "postgres-secret"), ("auth.secret", "auth")]
)
def test_second_release_refuses_to_take_over_anothers_secret(release, key, secret_suffix):
    # A Secret that exists but belongs to another release (or none) is never adopted:
    # the install stops before changing anything and says which value to set instead.
    secrets = release.kubectl("get", "secrets", "-o", "name", capture=True, quiet=True).stdout
    names = [line.split("/", 1)[1] for line in secrets.split()]
    taken = next(n for n in names if n.endswith(secret_suffix))
    attempt = release.helm(
        "install", "intruder", str(CHART_DIR),
        "--dry-run=server",
        "--set", f"{key}.name={taken}",
        "--set", f"{OTHER_SECRET[key]}.name=intruder-unused",  # only `key` may clash
        capture=True, quiet=True, check=False,
    )  # fmt: skip
    assert attempt.returncode != 0, attempt.stdout
    assert f'Secret "{taken}" already exists' in attempt.stderr, attempt.stderr
    assert f"set {key}.create=false and {key}.name={taken}" in attempt.stderr, attempt.stderr
