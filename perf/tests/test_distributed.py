"""Distributed Locust in the cluster: its pods, the workers it counts, the samples it merges."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.proc import HarnessError
from perf import distributed, workers_wanted

NOXFILE = Path(__file__).resolve().parents[2] / "noxfile.py"


def test_the_master_log_says_how_many_workers_connected() -> None:
    log = (
        "[..] INFO/locust.runners: abc (index 0) reported as ready. 1 workers connected.\n"
        "[..] INFO/locust.runners: def (index 1) reported as ready. 2 workers connected.\n"
    )
    assert distributed.max_workers_connected(log) == 2
    assert distributed.max_workers_connected("nothing") == 0


def test_worker_samples_merge_under_one_header(tmp_path: Path) -> None:
    header = "t,type,name,ms,bytes,ok,users"
    merged = tmp_path / "samples.csv"
    distributed.merge_samples([f"{header}\n1,GET,/a,2,3,1,1\n", f"{header}\n2,GET,/b,4,5,0,1\n"],
                              merged)  # fmt: skip
    assert merged.read_text().splitlines() == [header, "1,GET,/a,2,3,1,1", "2,GET,/b,4,5,0,1"]
    with pytest.raises(HarnessError, match="no worker"):
        distributed.merge_samples(["", ""], tmp_path / "none.csv")


def test_locust_pods_run_under_pod_security_restricted() -> None:
    job = distributed._job("x", "worker", "locust --worker", {"A": "1"}, parallelism=3, run="r")
    assert job["spec"]["parallelism"] == 3 and job["spec"]["completions"] == 3
    spec = job["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == distributed.NAME


def test_the_image_carries_the_modules_the_locustfile_imports() -> None:
    locustfile = (distributed.ROOT / "perf" / "locustfile.py").read_text()
    for module in ("samples", "shapes", "mcp_bridge"):
        assert f"{module}" in locustfile
        assert f"{module}.py" in distributed.PERF_MODULES


def test_upgrades_while_open_keep_locust_let_through_to_the_mcp_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kind_values = tmp_path / "kind.yaml"
    release = distributed.Release("todo", "ns", tmp_path / "kubeconfig", None, [kind_values])
    upgrades: list[list[Path]] = []
    monkeypatch.setattr(
        distributed.Release, "upgrade", lambda self, **_: upgrades.append(self.values_files)
    )
    monkeypatch.setattr(distributed, "kubectl", lambda *args, **kwargs: None)
    in_cluster = distributed.InCluster(release, None, 2)
    in_cluster.open()
    release.upgrade(sets=["mcpServer.autoscaling.enabled=true"])  # a phase's own upgrade
    in_cluster.close()
    let_through = upgrades[0][-1]
    assert "mcpServerExtraFrom" in let_through.read_text()
    assert upgrades == [[kind_values, let_through], [kind_values, let_through], [kind_values]]


@pytest.mark.parametrize(
    ("args", "environ", "expected"),
    [
        ([], {"PERF_WORKERS": "0"}, 0),  # perf.yml's default: Locust on the runner, no image
        ([], {}, 0),
        ([], {"PERF_WORKERS": "2"}, 2),
        (["--workers", "3"], {"PERF_WORKERS": "0"}, 3),
        (["--phases", "main", "--workers=0"], {"PERF_WORKERS": "2"}, 0),
    ],
)
def test_the_in_cluster_locust_image_is_wanted_only_for_workers(args, environ, expected):
    assert workers_wanted(args, environ) == expected


def test_a_workers_count_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(ValueError, match="--workers / PERF_WORKERS"):
        workers_wanted([], {"PERF_WORKERS": "two"})


def test_the_perf_session_builds_the_locust_image_only_when_workers_are_wanted():
    """The noxfile asks workers_wanted (PERF_WORKERS=0 is a non-empty string, and was
    taken as "workers wanted")."""
    session = NOXFILE.read_text().split("def perf(")[1].split("\n@nox.session")[0]
    build = session.index('"perf.distributed", "image"')
    assert "workers = workers_wanted(posargs" in session[:build]
    assert "if workers > 0:" in session[:build]


@pytest.mark.parametrize(
    ("given", "flag"),
    [({"registry": "reg.example.com", "kubeconfig": "/k"}, "--registry"),
     ({"local_registry": True}, "--local-registry")],
)  # fmt: skip
def test_in_cluster_locust_is_refused_where_the_runs_images_are_pushed(given, flag) -> None:
    from harness.settings import Settings
    from perf import in_cluster_refusal

    said = in_cluster_refusal(Settings(**given), 2)
    assert said is not None and said.startswith("--workers 2 runs Locust in the cluster")
    assert said.endswith(f"drop --workers (Locust runs on this machine) or {flag}")
    assert in_cluster_refusal(Settings(**given), 0) is None
    assert in_cluster_refusal(Settings(), 2) is None


def test_a_perf_run_refuses_in_cluster_locust_with_a_registry_before_standing_anything_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness import stand_up
    from perf import run

    def stand_up_anyway(*args, **kwargs):
        raise AssertionError("stood the release up")

    monkeypatch.setattr(stand_up, "stand_up", stand_up_anyway)
    args = run.parse_args(["--workers", "2", "--registry", "reg.example.com:5000"])
    refused = pytest.raises(run.RunError, match=r"^--workers 2 runs Locust .* or --registry$")
    with refused, run.cluster_target(args):
        pass
