"""Promise 5: `kubectl top` works; usage stays under the limits (idle and under load); specs
match the values.

Figures come from metrics-server (metrics.k8s.io through the Kubernetes
client's CustomObjectsApi). CPU is a rate over metrics-server's window, so a
container throttled at its limit can read a hair above it: CPU gets 5 %
measurement slack, memory none.
"""

from __future__ import annotations

import time

import pytest

from harness.kube import cpu_millicores, kubectl, mem_mib, wait_for

pytestmark = pytest.mark.promise(5)

CPU_SLACK = 1.05
VALUES_KEY = {"backend": "backend", "mcp-server": "mcpServer", "postgresql": "postgresql",
              "frontend": "frontend"}  # fmt: skip


def _from_values(release, kube, kind: str = "limits") -> dict[str, dict[str, float | None]]:
    """Limits (or requests) per component, from the values the release was installed with."""
    values = release.values()
    out = {}
    for component, key in VALUES_KEY.items():
        lim = (values[key].get("resources") or {}).get(kind) or {}
        out[component] = {
            "cpu_m": cpu_millicores(lim.get("cpu")),
            "mem_mi": mem_mib(lim.get("memory")),
        }
    return out


def _component(pod_name: str, release) -> str | None:
    for component in VALUES_KEY:
        if pod_name.startswith(f"{release.fullname}-{component}-"):
            return component
    return None


def _check(peaks: dict[str, dict[str, float]], limits, release) -> list[str]:
    problems = []
    for key, peak in peaks.items():
        component = _component(key.split("/")[0], release)
        if component is None:
            continue
        lim = limits[component]
        if lim["cpu_m"] is not None and peak["cpu_m"] > lim["cpu_m"] * CPU_SLACK:
            problems.append(f"{key}: CPU {peak['cpu_m']:.0f}m > limit {lim['cpu_m']:.0f}m")
        if lim["mem_mi"] is not None and peak["mem_mi"] > lim["mem_mi"]:
            problems.append(f"{key}: memory {peak['mem_mi']:.0f}Mi > limit {lim['mem_mi']:.0f}Mi")
    return problems


@pytest.mark.requires("metrics")
def test_kubectl_top_reads_metrics_server(release):
    """First in this promise: by now metrics-server has scraped, so this rarely waits."""
    deadline = time.monotonic() + 120
    while True:
        top = kubectl(release.kubeconfig, "top", "pods", "-n", "kube-system", "--no-headers",
                      capture=True, quiet=True, check=False)  # fmt: skip
        rows = [line.split() for line in top.stdout.splitlines() if line.strip()]
        if top.returncode == 0 and any(r[0].startswith("kube-apiserver") for r in rows):
            assert rows[0][1].endswith("m") and rows[0][2].endswith("Mi")
            return
        assert time.monotonic() < deadline, f"kubectl top never returned metrics: {top.stderr}"
        time.sleep(5)


def test_pod_specs_have_the_values_resources(release, kube):
    values = release.values()
    workloads = {d.metadata.labels["app.kubernetes.io/component"]: d for d in kube.deployments()}
    workloads.update(
        {s.metadata.labels["app.kubernetes.io/component"]: s for s in kube.statefulsets()}
    )
    for component, key in VALUES_KEY.items():
        if component not in workloads:  # switched off by the values (the front end, say)
            assert values[key].get("enabled") is False, f"{component} is not deployed"
            continue
        want = values[key]["resources"]
        container = workloads[component].spec.template.spec.containers[0]
        got = container.resources
        for kind in ("requests", "limits"):
            wanted = want.get(kind) or {}
            have = getattr(got, kind) or {}
            assert cpu_millicores(have.get("cpu")) == cpu_millicores(wanted.get("cpu")), (
                f"{component} {kind}.cpu: {have.get('cpu')} != {wanted.get('cpu')}"
            )
            assert mem_mib(have.get("memory")) == mem_mib(wanted.get("memory")), (
                f"{component} {kind}.memory: {have.get('memory')} != {wanted.get('memory')}"
            )


@pytest.mark.requires("metrics")
def test_idle_usage_under_limits(release, kube, results):
    limits = _from_values(release, kube)
    expected = {p.metadata.name for p in kube.pods() if p.status.phase == "Running"}
    # metrics-server needs one or two scrapes of a new pod before it reports it.
    wait_for(
        lambda: expected <= set(kube.pod_metrics()),
        timeout=90,
        interval=3,
        what=f"metrics for every pod ({sorted(expected)})",
    )
    peaks: dict[str, dict[str, float]] = {}
    for sample in range(3):
        if sample:
            time.sleep(5)
        for pod, containers in kube.pod_metrics().items():
            for container, (cpu, mem) in containers.items():
                p = peaks.setdefault(f"{pod}/{container}", {"cpu_m": 0.0, "mem_mi": 0.0})
                p["cpu_m"] = max(p["cpu_m"], cpu)
                p["mem_mi"] = max(p["mem_mi"], mem)
    requests = _from_values(release, kube, "requests")
    results.put("resources_idle", {"peaks": peaks, "limits": limits, "requests": requests})
    assert not _check(peaks, limits, release), _check(peaks, limits, release)


@pytest.mark.requires("metrics")
def test_usage_under_load_under_limits(release, kube, load_run, results):
    limits = _from_values(release, kube)
    peaks = load_run.pod_peaks()
    assert any(k.startswith(f"{release.fullname}-mcp-server-") for k in peaks), (
        "no MCP server metrics were sampled during the load"
    )
    requests = _from_values(release, kube, "requests")
    results.put("resources_load", {"peaks": peaks, "limits": limits, "requests": requests})
    problems = _check(peaks, limits, release)
    assert not problems, problems


def test_no_container_was_oom_killed(kube, load_run):
    killed = []
    for pod in kube.pods():
        for cs in (pod.status.container_statuses or []) + (
            pod.status.init_container_statuses or []
        ):
            for state in (cs.state, cs.last_state):
                term = state.terminated if state else None
                if term and term.reason == "OOMKilled":
                    killed.append(f"{pod.metadata.name}/{cs.name}")
    assert not killed, f"OOMKilled: {killed}"
