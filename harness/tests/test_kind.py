"""kind clusters: the config of 1..N nodes, and the egress guard of the offline path."""

from __future__ import annotations

import pytest

from harness import kind


def test_bridge_name_is_docker_default_or_the_named_option() -> None:
    assert kind.bridge_name({"Id": "6911e36bad9008ce", "Options": {}}) == "br-6911e36bad90"
    named = {"Id": "abc", "Options": {"com.docker.network.bridge.name": "kind0"}}
    assert kind.bridge_name(named) == "kind0"


def test_rules_refuse_only_traffic_leaving_the_bridge_for_both_ip_families() -> None:
    rules = kind.guard_rules("br-x")
    assert [r[:2] for r in rules] == [["iptables", "DOCKER-USER"], ["ip6tables", "FORWARD"]]
    for rule in rules:
        assert rule[2:7] == ["-i", "br-x", "!", "-o", "br-x"]
        assert rule[-2:] == ["-j", "REJECT"]


def test_guard_is_off_when_egress_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args, **_kwargs):
        raise AssertionError("must not touch docker or iptables")

    monkeypatch.setenv("TODO_KIND_EGRESS", "allow")
    monkeypatch.setattr(kind, "_run", fail)
    assert kind.guard_kind_network() is None


def test_config_has_one_control_plane_publishing_the_nodeports_and_workers() -> None:
    import yaml

    config = yaml.safe_load(kind.kind_config(3, 30081))
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    backend, frontend = config["nodes"][0]["extraPortMappings"]
    assert backend == {"containerPort": 30080, "hostPort": 30081,
                       "listenAddress": "127.0.0.1", "protocol": "TCP"}  # fmt: skip
    assert frontend == {"containerPort": 30088, "hostPort": 30181,
                        "listenAddress": "127.0.0.1", "protocol": "TCP"}  # fmt: skip


def test_config_makes_the_hpa_controller_sync_every_few_seconds() -> None:
    import yaml

    config = yaml.safe_load(kind.kind_config(1, 30080))
    patches = {p["kind"]: p for p in map(yaml.safe_load, config["kubeadmConfigPatches"])}
    args = patches["ClusterConfiguration"]["controllerManager"]["extraArgs"]
    assert args == {"horizontal-pod-autoscaler-sync-period": kind.HPA_SYNC_PERIOD}


def test_config_makes_every_kubelet_read_container_stats_every_few_seconds() -> None:
    import yaml

    config = yaml.safe_load(kind.kind_config(2, 30080))
    patches = {p["kind"]: p for p in map(yaml.safe_load, config["kubeadmConfigPatches"])}
    # The control plane is set up by kubeadm init, the workers by kubeadm join.
    for node_kind in ("InitConfiguration", "JoinConfiguration"):
        args = patches[node_kind]["nodeRegistration"]["kubeletExtraArgs"]
        assert args == {"housekeeping-interval": kind.KUBELET_HOUSEKEEPING}


def test_a_cluster_needs_a_node() -> None:
    with pytest.raises(kind.HarnessError):
        kind.kind_config(0, 30080)


def test_config_tells_the_kubelet_to_accept_cgroup_v1_only_on_a_v1_host() -> None:
    import yaml

    def patches(config: str) -> dict:
        return {p["kind"]: p for p in map(yaml.safe_load, yaml.safe_load(config)[
            "kubeadmConfigPatches"])}  # fmt: skip

    on_v1 = patches(kind.kind_config(1, 30080, cgroup_v1=True))
    assert on_v1["KubeletConfiguration"] == {"kind": "KubeletConfiguration",
                                             "failCgroupV1": False}  # fmt: skip
    assert "KubeletConfiguration" not in patches(kind.kind_config(1, 30080))


def test_a_node_that_cannot_take_the_registry_hosts_file_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    monkeypatch.setattr(kind, "node_containers", lambda name: ["c-control-plane"])
    monkeypatch.setattr(kind, "_run", lambda cmd, check=True: subprocess.CompletedProcess(
        cmd, 0, "", ""))  # fmt: skip

    def docker_exec(cmd, **kwargs):
        return subprocess.CompletedProcess(
            cmd, 1, "", "Error response from daemon: container c-control-plane is not running\n"
        )

    monkeypatch.setattr(kind.subprocess, "run", docker_exec)
    with pytest.raises(kind.HarnessError) as failed:
        kind.point_nodes_at_registry("c", "localhost:5001", "todo-registry:5000")
    message = str(failed.value)
    assert "\n" not in message and "hosts.toml on c-control-plane" in message
    assert message.endswith("container c-control-plane is not running")
