"""The kubelet of the run's node image accepts what the harness's kind config tells it.

A kubelet flag that a Kubernetes minor removes stops the kubelet, and so the cluster;
one it deprecates is on its way there. The kubelet's own help, in the node image this run
uses (built here offline, kind's upstream image on every leg of the workflow matrix),
says which flags it has and which it deprecates. The cgroup v1 escape hatch is a
KubeletConfiguration field; its command-line twin (`--fail-cgroupv1`) shows the field
exists in this kubelet.
"""

# ruff: noqa: S603, S607 - runs docker with fixed arguments

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from harness import kind
from toolchain import decide

pytestmark = pytest.mark.docker


def kubelet_args(config: str) -> set[str]:
    """The kubelet flags every kubeadmConfigPatch of a kind config passes."""
    args: set[str] = set()
    for patch in yaml.safe_load(config)["kubeadmConfigPatches"]:
        registration = yaml.safe_load(patch).get("nodeRegistration") or {}
        args |= set(registration.get("kubeletExtraArgs") or {})
    return args


def flag_help(help_text: str) -> dict[str, str]:
    """`--flag` -> its description, from `kubelet --help`."""
    found: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"\s+(?:-\w, )?--([a-z0-9-]+)\b(.*)", line)
        if match:
            current = match.group(1)
            found[current] = match.group(2)
        elif current:
            found[current] += " " + line.strip()
    return found


@pytest.fixture(scope="module")
def kubelet_help() -> dict[str, str]:
    node = decide.current().images.node
    command = ["docker", "run", "--rm", "--entrypoint", "/usr/bin/kubelet", node, "--help"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    flags = flag_help(out.stdout + out.stderr)
    assert flags, f"no kubelet help from {node}: {out.stderr}"
    return flags


def test_the_kubelet_has_every_flag_the_kind_config_passes_none_deprecated(
    kubelet_help: dict[str, str],
) -> None:
    wanted = kubelet_args(kind.kind_config(2, 30080, cgroup_v1=True))
    assert wanted == {"housekeeping-interval"}
    for flag in wanted:
        assert flag in kubelet_help, f"this kubelet has no --{flag}"
        assert "DEPRECATED" not in kubelet_help[flag], f"--{flag}: {kubelet_help[flag]}"


def test_the_kubelet_has_the_cgroup_v1_escape_hatch(kubelet_help: dict[str, str]) -> None:
    assert "fail-cgroupv1" in kubelet_help


def test_help_parsing_sees_deprecation() -> None:
    text = (
        "Flags:\n      --address ip   The IP address (DEPRECATED: This parameter should be set\n"
        "                 via the config file)\n      --housekeeping-interval duration  Interval\n"
    )
    parsed = flag_help(text)
    assert "DEPRECATED" in parsed["address"]
    assert "DEPRECATED" not in parsed["housekeeping-interval"]
