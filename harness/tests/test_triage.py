"""Whose a failure is, from what the run saved: machine first, then product, then harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import triage


def _saved(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_node_out_of_disk_is_the_machines_even_when_a_wait_timed_out(tmp_path) -> None:
    saved = _saved(tmp_path, {"cluster-events.txt": (
        "LAST SEEN   TYPE      REASON                 OBJECT            MESSAGE\n"
        "10s         Warning   EvictionThresholdMet   node/todo-e2e-control-plane   "
        "Attempting to reclaim ephemeral-storage\n")})  # fmt: skip
    verdict = triage.classify("HarnessError: timed out after 120 s waiting for X", saved)
    assert (verdict.owner, verdict.name) == ("machine", "a disk of the machine filled up")
    assert verdict.evidence.startswith("cluster-events.txt: 10s") and "EvictionThresholdMet" in (
        verdict.evidence
    )


def test_a_runtime_that_cannot_start_containers_is_the_machines(tmp_path) -> None:
    saved = _saved(tmp_path, {"ns/events.txt": "Warning FailedCreatePodSandBox pod/x "
                              "runc create failed: unable to apply caps\n"})  # fmt: skip
    assert triage.classify("assert 0 == 1", saved).owner == "machine"


def test_a_lost_write_is_the_products(tmp_path) -> None:
    verdict = triage.classify("AssertionError: acknowledged writes lost: {12: 'fault 3'}")
    assert (verdict.owner, verdict.name) == ("product", "an acknowledged write was lost")


def test_a_traceback_in_an_app_pods_log_is_the_products(tmp_path) -> None:
    saved = _saved(tmp_path, {
        "logs-todo-todo-app-backend-5c9d-x-backend.txt": "INFO ok\nTraceback (most recent call "
        "last):\n  File ...\nKeyError: 'id'\n",
        "logs-todo-todo-app-postgresql-0-postgresql.txt": "Traceback (most recent call last):\n",
    })  # fmt: skip
    verdict = triage.classify("assert 503 == 201", saved)
    assert verdict.owner == "product"
    assert verdict.evidence.startswith("logs-todo-todo-app-backend-")


def test_a_failure_nobody_can_place_counts_against_the_harness() -> None:
    verdict = triage.classify("AssertionError: assert 'degraded' == 'ready'\n  more")
    assert (verdict.owner, verdict.name) == ("harness", triage.UNCLASSIFIED)
    assert verdict.evidence == "AssertionError: assert 'degraded' == 'ready'"


HEALTHY_NODE = (
    "Conditions:\n"
    "  Type             Status  LastHeartbeatTime                 Reason                       "
    "Message\n"
    "  MemoryPressure   False   Sun, 06 Dec 2026 01:29:02 +0000   KubeletHasSufficientMemory   "
    "kubelet has sufficient memory available\n"
    "  DiskPressure     False   Sun, 06 Dec 2026 01:29:02 +0000   KubeletHasNoDiskPressure     "
    "kubelet has no disk pressure\n"
    "  PIDPressure      False   Sun, 06 Dec 2026 01:29:02 +0000   KubeletHasSufficientPID      "
    "kubelet has sufficient PID available\n"
)


def test_a_healthy_nodes_conditions_and_events_blame_no_machine(tmp_path) -> None:
    saved = _saved(tmp_path, {"nodes.txt": HEALTHY_NODE, "cluster-events.txt": (
        "default   9m   Normal   NodeHasNoDiskPressure     node/n   Node n status is now: "
        "NodeHasNoDiskPressure\n"
        "default   9m   Normal   NodeHasSufficientMemory   node/n   Node n status is now: "
        "NodeHasSufficientMemory\n"
        "default   9m   Normal   NodeHasSufficientPID      node/n   Node n status is now: "
        "NodeHasSufficientPID\n")})  # fmt: skip
    verdict = triage.classify("assert 0 == 1", saved)
    assert (verdict.owner, verdict.name) == ("harness", triage.UNCLASSIFIED)


@pytest.mark.parametrize(
    ("text", "name"),
    [("  DiskPressure     True    Sun, 06 Dec 2026   KubeletHasDiskPressure   kubelet has "
      "disk pressure\n", "a disk of the machine filled up"),
     ("9m  Warning  NodeHasDiskPressure  node/n  Node n status is now: NodeHasDiskPressure\n",
      "a disk of the machine filled up"),
     ("  MemoryPressure   True    Sun, 06 Dec 2026   KubeletHasInsufficientMemory   kubelet "
      "has insufficient memory available\n", "a node ran short of memory or process ids"),
     ("  PIDPressure      True    Sun, 06 Dec 2026   KubeletHasInsufficientPID   kubelet has "
      "insufficient PID available\n", "a node ran short of memory or process ids"),
     ("9m  Normal  NodeHasInsufficientMemory  node/n  Node n status is now: "
      "NodeHasInsufficientMemory\n", "a node ran short of memory or process ids")],
)  # fmt: skip
def test_a_node_under_real_pressure_is_the_machines(tmp_path, text: str, name: str) -> None:
    saved = _saved(tmp_path, {"nodes.txt": HEALTHY_NODE + text})
    verdict = triage.classify("assert 0 == 1", saved)
    assert (verdict.owner, verdict.name) == ("machine", name)


def test_a_recorded_failing_run_is_not_blamed_on_the_machine() -> None:
    """The saved artifacts of a real failure: nodes listed healthy, a lost write."""
    run = Path(__file__).resolve().parents[2] / "e2e" / "unit" / "fixtures" / "failing-run"
    results = json.loads((run / "reports" / "e2e-results.json").read_text())
    failed = next(t for t in results["tests"].values() if t["outcome"] == "failed")
    assert failed["name"] == "test_mcp_pod_kill_under_load_loses_no_acknowledged_write"
    saved = run / failed["artifacts"]
    assert (saved / "nodes.txt").is_file()
    verdict = triage.classify(failed["message"], saved)
    assert verdict.owner != "machine"
    assert (verdict.owner, verdict.name) == ("product", "an acknowledged write was lost")


def test_another_namespaces_sandbox_retry_does_not_blame_the_machine(tmp_path) -> None:
    """A local-path helper pod whose sandbox failed once at bring-up (and was retried) is
    in every cluster's events; a check that then read an empty log is the harness's."""
    test = "todo-e2e-1206061125abf0/test_a_privileged_pod_starts"
    saved = _saved(tmp_path, {f"{test}/cluster-events.txt": (
        "NAMESPACE                        LAST SEEN   TYPE      REASON                   OBJECT\n"
        "todo-e2e-1206061125abf0-checks   1s          Normal    Scheduled                "
        "pod/privileged\n"
        "local-path-storage               35s         Warning   FailedCreatePodSandBox   "
        "pod/helper-pod-create-pvc-4db0   Failed to create pod sandbox: rpc error\n")})  # fmt: skip
    verdict = triage.classify("IndexError: list index out of range", saved / test)
    assert verdict.owner == "harness" and "own code" in verdict.name
    own = _saved(tmp_path / "own", {f"{test}/cluster-events.txt": (
        "NAMESPACE                        LAST SEEN   TYPE      REASON                   OBJECT\n"
        "todo-e2e-1206061125abf0-checks   35s         Warning   FailedCreatePodSandBox   "
        "pod/privileged   Failed to create pod sandbox: rpc error\n")})  # fmt: skip
    assert triage.classify("IndexError: list index out of range", own / test).owner == "machine"
