"""Promise 6: under Locust load the MCP server scales from min to max replicas, then back.

The load (e2e/locustfile.py, its own process, against the NodePort on
127.0.0.1) runs once per session in the `load_run` fixture; the timeline
(replicas, HPA CPU %, req/s) goes to the report and its plot.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.promise(6), pytest.mark.requires("metrics")]


@pytest.fixture(autouse=True)
def _autoscaling_on(kube):
    if kube.hpa() is None:
        pytest.skip("not applicable: these values leave mcpServer.autoscaling off")


def test_hpa_scales_up_to_max_under_load(load_run):
    s = load_run.summary()
    assert s["to_2_replicas_s"] is not None, f"never scaled past {load_run.min_replicas}: {s}"
    assert s["to_max_ready_s"] is not None, (
        f"never reached {load_run.max_replicas} ready replicas under load: {s}"
    )


def test_load_was_served(load_run):
    totals = load_run.locust
    assert totals.get("requests", 0) > 0, totals
    assert totals["failures"] <= 0.01 * totals["requests"], f"more than 1% failed: {totals}"


def test_hpa_scales_back_down_after_load(load_run):
    s = load_run.summary()
    assert s["back_to_min_after_stop_s"] is not None, (
        f"replicas not back at {load_run.min_replicas} within the cooldown: {s}"
    )


def test_pods_added_by_hpa_start_within_30s(load_run):
    slow = {k: v for k, v in load_run.new_pod_startup.items() if v >= 30}
    assert load_run.new_pod_startup, "the HPA added no pod that became Ready"
    assert not slow, slow
