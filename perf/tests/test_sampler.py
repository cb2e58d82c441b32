"""Cluster sampling: rows from API objects, replica timelines, the polling thread."""

from __future__ import annotations

import time
from types import SimpleNamespace as NS

from perf import sampler


def deployment(component, want, ready):
    return NS(
        metadata=NS(name=f"todo-{component}", labels={sampler.COMPONENT: component}),
        spec=NS(replicas=want),
        status=NS(ready_replicas=ready),
    )


def test_deployment_rows_by_component():
    rows = sampler.deployment_rows([deployment("backend", 1, 1), deployment("mcp-server", 3, None)])
    assert rows == {
        "backend": {"replicas": 1, "ready": 1},
        "mcp-server": {"replicas": 3, "ready": 0},
    }


def test_hpa_row_reads_cpu_utilisation():
    metric = NS(resource=NS(name="cpu", current=NS(average_utilization=85)))
    hpa = NS(
        spec=NS(min_replicas=1, max_replicas=3),
        status=NS(current_replicas=2, desired_replicas=3, current_metrics=[metric]),
    )
    assert sampler.hpa_row(hpa) == {"current": 2, "desired": 3, "min": 1, "max": 3, "cpu_pct": 85}
    fresh = NS(
        spec=NS(min_replicas=1, max_replicas=3),
        status=NS(current_replicas=1, desired_replicas=1, current_metrics=None),
    )
    assert sampler.hpa_row(fresh)["cpu_pct"] is None
    assert sampler.hpa_row(None) is None


def test_pod_rows_sum_containers():
    rows = sampler.pod_rows(
        {"mcp-1": {"app": (120.0, 80.0), "sidecar": (5.0, 10.0)}, "pg-0": {"pg": (30.0, 40.0)}},
        {"mcp-1": "mcp-server"},
    )
    assert rows == [
        {"pod": "mcp-1", "component": "mcp-server", "cpu_m": 125.0, "mem_mib": 90.0},
        {"pod": "pg-0", "component": "?", "cpu_m": 30.0, "mem_mib": 40.0},
    ]


def test_replica_changes_and_first_time_at():
    rows = [
        {"t": 0, "deployments": {"mcp-server": {"replicas": 1, "ready": 1}}},
        {"t": 5, "error": "ApiException"},
        {"t": 10, "deployments": {"mcp-server": {"replicas": 3, "ready": 2}}},
        {"t": 15, "deployments": {"mcp-server": {"replicas": 3, "ready": 3}}},
        {"t": 40, "deployments": {"mcp-server": {"replicas": 1, "ready": 1}}},
    ]
    assert sampler.replica_changes(rows) == [
        {"t": 10, "from": 1, "to": 2},
        {"t": 15, "from": 2, "to": 3},
        {"t": 40, "from": 3, "to": 1},
    ]
    assert sampler.first_time_at(rows, 2) == 10
    assert sampler.first_time_at(rows, 3) == 15
    assert sampler.first_time_at(rows, 4) is None
    rows[2]["hpa"] = {"desired": 3}
    assert sampler.first_desired_at(rows, 3) == 10
    assert sampler.first_desired_at(rows, 4) is None


def test_sampler_thread_keeps_going_after_errors():
    calls = []

    def snapshot():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("metrics not ready")
        return {"n": len(calls)}

    s = sampler.Sampler(snapshot, interval=0.05).start()
    time.sleep(0.4)
    rows = s.stop()
    assert len(rows) >= 3
    assert rows[1]["error"] == "RuntimeError: metrics not ready"
    assert rows[2]["n"] == 3
    assert all("t" in r for r in rows) and rows == sorted(rows, key=lambda r: r["t"])


def test_kube_snapshot_over_a_fake_kube():
    class FakeKube:
        def deployments(self):
            return [deployment("mcp-server", 1, 1)]

        def hpa(self, component):
            return None

        def pods(self):
            return [NS(metadata=NS(name="p1", labels={sampler.COMPONENT: "mcp-server"}))]

        def pod_metrics(self):
            raise RuntimeError("no metrics yet")

    row = sampler.kube_snapshot(FakeKube())()
    assert row["deployments"]["mcp-server"]["ready"] == 1
    assert row["pods"] == [] and "no metrics yet" in row["metrics_error"]


def test_busiest_share_uses_the_last_sample_with_several_pods():
    def pod(name, cpu, component="mcp-server"):
        return {"pod": name, "component": component, "cpu_m": cpu, "mem_mib": 1.0}

    rows = [
        {"t": 0, "pods": [pod("a", 100.0), pod("b", 100.0)]},
        {"t": 5, "pods": [pod("a", 180.0), pod("b", 10.0), pod("c", 10.0), pod("pg", 50.0, "x")]},
        {"t": 10, "pods": [pod("a", 50.0)]},
    ]
    split = sampler.busiest_share(rows)
    assert split["t"] == 5 and split["pods"] == {"a": 180.0, "b": 10.0, "c": 10.0}
    assert split["share"] == 0.9
    assert sampler.busiest_share(rows[2:]) is None


def test_the_process_nearest_its_cpu_limit_saturates_first():
    rows = [
        {
            "t": t,
            "pods": [
                {"pod": "b1", "component": "backend", "cpu_m": 450.0},
                {"pod": "m1", "component": "mcp-server", "cpu_m": 300.0},
                {"pod": "m2", "component": "mcp-server", "cpu_m": 100.0},
                {"pod": "p", "component": "postgresql", "cpu_m": 200.0},
            ],
        }
        for t in (10.0, 15.0, 20.0)
    ] + [{"t": 99.0, "pods": [{"pod": "m1", "component": "mcp-server", "cpu_m": 999.0}]}]
    ranked = sampler.saturation(rows, 10.0, 30.0, {"backend": 500.0, "mcp-server": 500.0,
                                                   "postgresql": 1000.0})  # fmt: skip
    assert [r["component"] for r in ranked] == ["backend", "mcp-server", "postgresql"]
    assert ranked[0]["share"] == 0.9 and ranked[1]["cpu_m"] == 300
