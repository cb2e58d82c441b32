"""perf's own kind cluster: same config as e2e's, NodePort on another loopback port."""

from __future__ import annotations

import yaml

from perf import cluster


def test_perf_cluster_config_moves_only_the_host_port():
    config = yaml.safe_load(cluster.kind_config(30081))
    (mapping,) = config["nodes"][0]["extraPortMappings"]
    assert mapping["hostPort"] == 30081
    assert mapping["containerPort"] == 30080
    assert mapping["listenAddress"] == "127.0.0.1"
