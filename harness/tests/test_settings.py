"""The one option table: environment, explicit options and perf's own defaults."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from harness import settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_a_one_node_kind_cluster_with_the_kind_values() -> None:
    got = settings.from_mapping({}, environ={})
    assert (got.cluster_name, got.nodes, got.host_port) == ("todo-e2e", 1, 30080)
    assert got.values == ("harness/values-kind.yaml",)
    assert got.values_files() == [settings.KIND_VALUES]
    assert not got.existing_cluster and not got.keep_cluster


def test_environment_is_read_with_the_tools_prefix() -> None:
    environ = {"E2E_NODES": "3", "E2E_VALUES": "chart/todo-app/values-production.yaml",
               "E2E_KEEP_CLUSTER": "1", "PERF_NODES": "2"}  # fmt: skip
    e2e = settings.from_mapping({}, "E2E", environ=environ)
    assert e2e.nodes == 3 and e2e.keep_cluster
    assert e2e.values_files() == [settings.CHART_DIR / "values-production.yaml"]
    assert settings.from_mapping({}, "PERF", environ=environ).nodes == 2


def test_an_explicit_option_beats_the_environment() -> None:
    got = settings.from_mapping({"nodes": "2", "cluster_name": "mine"}, environ={"E2E_NODES": "3"})
    assert (got.nodes, got.cluster_name) == (2, "mine")


def test_perf_defaults_replace_the_tables() -> None:
    got = settings.from_mapping({}, "PERF", {"cluster_name": "todo-perf", "host_port": 30081},
                                environ={})  # fmt: skip
    assert (got.cluster_name, got.host_port, got.backend_url) == (
        "todo-perf", 30081, "http://127.0.0.1:30081")  # fmt: skip


def test_shipped_means_no_values_file() -> None:
    got = settings.from_mapping({}, environ={"E2E_VALUES": "shipped"})
    assert got.values_files() == []
    assert "as shipped" in got.describe_values()


@pytest.mark.parametrize(("given", "message"), [({"nodes": "two"}, "whole number"),
                                                ({"nodes": "0"}, "at least 1")])  # fmt: skip
def test_bad_numbers_are_refused_naming_the_option(given, message) -> None:
    with pytest.raises(ValueError, match=f"--nodes must be.*{message}|{message}"):
        settings.from_mapping(given, environ={})


def test_a_missing_values_file_is_named() -> None:
    got = settings.from_mapping({"values": ["nowhere.yaml"]}, environ={})
    with pytest.raises(ValueError, match="nowhere.yaml"):
        got.values_files()


def test_the_cli_and_pytest_get_every_option_of_the_table() -> None:
    parser = argparse.ArgumentParser()
    settings.add_cli_options(parser)
    flags = {a.option_strings[0] for a in parser._actions if a.option_strings}
    added: list[str] = []
    settings.add_pytest_options(lambda flag, **kw: added.append(flag))
    assert {o.flag for o in settings.OPTIONS} <= flags
    assert added == [o.flag for o in settings.OPTIONS]
    args = parser.parse_args(["--nodes", "3", "--values", "a.yaml", "--values", "b.yaml"])
    got = settings.from_mapping(vars(args), environ={})
    assert got.nodes == 3 and got.values == ("a.yaml", "b.yaml")


def test_option_values_reach_pytest_joined_so_a_file_is_not_read_as_a_test_path(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{}")
    given = ["--registry-config", str(config), "--push-all", "--values", "a.yaml", "-k", "x"]
    joined = settings.joined_for_pytest(given)
    assert joined == [f"--registry-config={config}", "--push-all", "--values=a.yaml", "-k", "x"]

    def collect(args: list[str]) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "cluster", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603

    separate = collect(["--registry-config", str(config)])
    assert separate.returncode == 4 and "unrecognized arguments" in separate.stderr
    assert collect(settings.joined_for_pytest(["--registry-config", str(config)])).returncode == 0


def test_a_child_process_sees_exactly_the_runs_settings_not_the_callers_environment() -> None:
    from perf import PERF_DEFAULTS

    run = settings.from_mapping({"nodes": "2"}, "PERF", PERF_DEFAULTS, environ={})
    callers = {"E2E_KUBECONFIG": "/home/me/.kube/config", "E2E_REGISTRY": "reg.example.com",
               "E2E_REGISTRY_CONFIG": "/home/me/.docker/config.json", "E2E_NAMESPACE": "mine",
               "E2E_LOCAL_REGISTRY": "1"}  # fmt: skip
    handed = settings.env_for(run, "E2E")
    assert handed["E2E_KUBECONFIG"] == "" and handed["E2E_REGISTRY"] == ""
    assert settings.from_mapping({}, "E2E", environ={**callers, **handed}) == run
