"""Whose a failure is, from what the run saved: machine first, then product, then harness."""

from __future__ import annotations

from pathlib import Path

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
