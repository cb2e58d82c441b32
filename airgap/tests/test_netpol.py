"""NetworkPolicy enforcer: probe decisions, manifest rendering, image entrypoint.

No cluster needed: the manifest is parsed and checked as data, the
entrypoint's backend detection runs against fake iptables-save tools.
"""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from airgap import netpol
from e2e import netpol as e2e_netpol

ENTRYPOINT = Path(netpol.__file__).parent / "kube-router" / "entrypoint.sh"


# --- enforcer choice -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "auto"),
        ("", "auto"),
        ("auto", "auto"),
        ("kindnet", "kindnet"),
        ("Kube-Router", "kube-router"),
        (" kube-router ", "kube-router"),
    ],
)
def test_override_values(value, expected):
    environ = {} if value is None else {netpol.ENV_ENFORCER: value}
    assert netpol.enforcer_override(environ) == expected


def test_override_rejects_unknown_value_naming_the_choices():
    with pytest.raises(netpol.NetpolError, match="calico.*auto, kindnet, kube-router"):
        netpol.enforcer_override({netpol.ENV_ENFORCER: "calico"})


@pytest.mark.parametrize(
    ("override", "queue", "config", "expected"),
    [
        ("kindnet", False, False, "kindnet"),
        ("kube-router", True, True, "kube-router"),
        ("auto", True, None, "kindnet"),
        ("auto", False, None, "kube-router"),
        ("auto", True, False, "kindnet"),  # a real load beats the config file
        ("auto", None, True, "kindnet"),
        ("auto", None, False, "kube-router"),
        ("auto", None, None, "kube-router"),
    ],
)
def test_decision_table(override, queue, config, expected):
    enforcer, reason = netpol.decide_enforcer(override, queue, config)
    assert enforcer == expected
    assert reason


@pytest.mark.parametrize("queue", [True, False, None])
def test_local_images_always_need_kube_router(queue):
    assert netpol.decide_enforcer("auto", queue, queue, "local")[0] == "kube-router"
    assert netpol.decide_enforcer("kindnet", queue, queue, "local")[0] == "kindnet"


def test_local_images_skip_the_probe(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("probe must not run for local images")

    monkeypatch.delenv(netpol.ENV_ENFORCER, raising=False)
    monkeypatch.setattr(netpol, "probe_nft_queue", boom)
    assert netpol.needs_fallback_enforcer("local") is True
    monkeypatch.setenv(netpol.ENV_ENFORCER, "kindnet")
    assert netpol.needs_fallback_enforcer("local") is False


def test_override_skips_the_probe(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("probe must not run when overridden")

    monkeypatch.setattr(netpol, "probe_nft_queue", boom)
    monkeypatch.setattr(netpol, "kernel_config_nft_queue", boom)
    monkeypatch.setenv(netpol.ENV_ENFORCER, "kindnet")
    assert netpol.needs_fallback_enforcer() is False
    monkeypatch.setenv(netpol.ENV_ENFORCER, "kube-router")
    assert netpol.needs_fallback_enforcer() is True


def test_auto_uses_probe_then_kernel_config(monkeypatch):
    monkeypatch.delenv(netpol.ENV_ENFORCER, raising=False)
    monkeypatch.setattr(netpol, "probe_nft_queue", lambda install=True: (True, "loaded"))
    assert netpol.needs_fallback_enforcer() is False
    assert netpol.needs_fallback_enforcer("upstream") is False
    monkeypatch.setattr(netpol, "probe_nft_queue", lambda install=True: (False, "refused"))
    assert netpol.needs_fallback_enforcer() is True
    monkeypatch.setattr(netpol, "probe_nft_queue", lambda install=True: (None, "no nft"))
    monkeypatch.setattr(netpol, "kernel_config_nft_queue", lambda: True)
    assert netpol.needs_fallback_enforcer() is False
    monkeypatch.setattr(netpol, "kernel_config_nft_queue", lambda: False)
    assert netpol.needs_fallback_enforcer() is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CONFIG_NF_TABLES=y\nCONFIG_NFT_QUEUE=y\n", True),
        ("CONFIG_NFT_QUEUE=m\n", True),
        ("CONFIG_NFT_CT=y\n# CONFIG_NFT_QUEUE is not set\n", False),
        ("CONFIG_NFT_CT=y\n", None),
    ],
)
def test_kernel_config_parsing(text, expected):
    assert netpol.kernel_config_nft_queue(text) is expected


def test_real_probe_agrees_with_kernel_config():
    """The probe really loads rules in a throwaway netns; it must match the kernel's config."""
    supported, how = netpol.probe_nft_queue(install=False)
    config = netpol.kernel_config_nft_queue()
    if platform.system() == "Linux" and shutil.which("nft") and shutil.which("unshare"):
        assert supported is not None, how
    if supported is not None and config is not None:
        assert supported is config, how
    assert how


# --- manifest ----------------------------------------------------------------


def _docs(text: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


def _container(docs: dict[str, dict]) -> dict:
    (container,) = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    return container


def test_manifest_renders_all_objects_with_the_image():
    text = e2e_netpol.render_manifest("todo-airgap/kube-router:v2.1.0")
    assert "${" not in text
    docs = _docs(text)
    assert set(docs) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"}
    for doc in docs.values():
        assert doc["metadata"]["name"] == e2e_netpol.DAEMONSET
    container = _container(docs)
    assert container["image"] == "todo-airgap/kube-router:v2.1.0"
    assert container["imagePullPolicy"] == "Never"
    upstream = _container(_docs(e2e_netpol.render_manifest(netpol.UPSTREAM_KUBE_ROUTER_IMAGE)))
    assert upstream["imagePullPolicy"] == "IfNotPresent"


def test_manifest_runs_firewall_only_in_host_network_privileged():
    docs = _docs(e2e_netpol.render_manifest("todo-airgap/kube-router:v2.1.0"))
    ds = docs["DaemonSet"]
    assert ds["metadata"]["namespace"] == "kube-system"
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert {"operator": "Exists"} in pod["tolerations"]
    container = _container(docs)
    args = container["args"]
    for flag in (
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--metrics-port=0",
        "--hostname-override=$(NODE_NAME)",
    ):
        assert flag in args
    # install_netpol_enforcer waits for a line kube-router logs at V(1).
    assert "--v=1" in args
    assert container["securityContext"]["privileged"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/lib/modules", "/run/xtables.lock"} <= mounts
    assert container["readinessProbe"]["httpGet"]["port"] == e2e_netpol.HEALTH_PORT
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == "kube-system"


def test_cluster_role_is_read_only_and_covers_the_informers():
    role = _docs(e2e_netpol.render_manifest("x/y:z"))["ClusterRole"]
    granted = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        granted |= {(group, res) for group in rule["apiGroups"] for res in rule["resources"]}
    # kube-router starts informers for all of these, even in firewall-only mode.
    needed = {
        ("", "pods"),
        ("", "namespaces"),
        ("", "nodes"),
        ("", "services"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "networkpolicies"),
    }
    assert needed <= granted


@pytest.mark.parametrize(
    ("cidrs", "value", "ipv4", "ipv6"),
    [
        (("10.96.0.0/16",), "10.96.0.0/16", "true", "false"),
        (("fd00:10:96::/112",), "fd00:10:96::/112", "false", "true"),
        (("10.96.0.0/16", "fd00:10:96::/112"), "10.96.0.0/16,fd00:10:96::/112", "true", "true"),
    ],
)
def test_manifest_ip_families_follow_service_cidrs(cidrs, value, ipv4, ipv6):
    args = _container(_docs(e2e_netpol.render_manifest("a:b", service_cidrs=cidrs)))["args"]
    assert f"--service-cluster-ip-range={value}" in args
    assert f"--enable-ipv4={ipv4}" in args
    assert f"--enable-ipv6={ipv6}" in args


@pytest.mark.parametrize(
    "cidrs",
    [
        (),
        ("10.96.0.0/16", "10.97.0.0/16"),
        ("not-a-cidr",),
        ("10.0.0.0/8", "fd00::/64", "1.0.0.0/8"),
    ],
)
def test_manifest_rejects_bad_service_cidrs(cidrs):
    with pytest.raises(ValueError):
        e2e_netpol.render_manifest("a:b", service_cidrs=cidrs)


@pytest.mark.parametrize("image", ["", "a b:c", "x:y\nkind: Pod"])
def test_manifest_rejects_bad_image(image):
    with pytest.raises(ValueError):
        e2e_netpol.render_manifest(image)


def test_service_cidrs_from_kubeadm_config():
    text = "networking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/16,fd00::/112\n"
    assert e2e_netpol.parse_service_cidrs(text) == ["10.96.0.0/16", "fd00::/112"]
    assert e2e_netpol.parse_service_cidrs("kind: ClusterConfiguration\n") == []


# --- image recipe ----------------------------------------------------------------


def test_image_names_and_build_command(tmp_path):
    assert netpol.kube_router_image("upstream") == netpol.UPSTREAM_KUBE_ROUTER_IMAGE
    assert netpol.LOCAL_KUBE_ROUTER_IMAGE.startswith("todo-airgap/kube-router:v2.")
    with pytest.raises(netpol.NetpolError, match="upstream.*local"):
        netpol.kube_router_image("registry")
    argv, env = netpol.go_build_command(tmp_path)
    assert argv[-1] == f"{netpol.KUBE_ROUTER_MODULE}/cmd/kube-router@{netpol.KUBE_ROUTER_VERSION}"
    assert env["GOTOOLCHAIN"] == "local"
    assert env["CGO_ENABLED"] == "0"
    assert env["GOBIN"] == str(tmp_path)
    assert netpol.recipe_label().startswith(f"kube-router-{netpol.KUBE_ROUTER_VERSION}-")


# --- entrypoint: iptables backend detection ----------------------------------------


def _fake_tools(tmp_path: Path, nft_save: str, legacy_save: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    scripts = {
        "iptables-nft-save": f"cat <<'X'\n{nft_save}\nX\n",
        "iptables-legacy-save": f"cat <<'X'\n{legacy_save}\nX\n",
        "update-alternatives": f'echo "alternatives $*" >> {log}\n',
        "iptables": 'echo "iptables v1.8.9 (fake)"\n',
        "kube-router": f'echo "kube-router $*" >> {log}\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KUBE_ROUTER_BIN": str(bin_dir / "kube-router"),
        "LOG": str(log),
    }


def _run_entrypoint(env: dict[str, str], mode: str | None = None):
    run_env = {k: v for k, v in env.items() if k != "LOG"}
    if mode is not None:
        run_env["KUBE_ROUTER_IPTABLES_MODE"] = mode
    result = subprocess.run(  # noqa: S603
        ["sh", str(ENTRYPOINT), "--run-firewall=true"],  # noqa: S607
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    log = Path(env["LOG"])
    return result, log.read_text() if log.exists() else ""


NFT_WITH_HINT = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n*filter\n-A FORWARD -j ACCEPT"
LEGACY_WITH_CANARY = "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT"
MANY_RULES = "*filter\n" + "\n".join(f"-A KUBE-X -s 10.0.0.{i} -j ACCEPT" for i in range(5))


@pytest.mark.parametrize(
    ("nft_save", "legacy_save", "expected"),
    [
        (NFT_WITH_HINT, "", "nft"),
        ("", LEGACY_WITH_CANARY, "legacy"),
        ("", MANY_RULES, "legacy"),  # no markers: the backend with more rules
        (MANY_RULES, "*filter\n-A FORWARD -j ACCEPT", "nft"),
        ("", "", "nft"),  # empty host: nft
    ],
)
def test_entrypoint_picks_the_nodes_backend(tmp_path, nft_save, legacy_save, expected):
    env = _fake_tools(tmp_path, nft_save, legacy_save)
    result, calls = _run_entrypoint(env)
    assert result.returncode == 0, result.stderr
    assert f"alternatives --set iptables /usr/sbin/iptables-{expected}" in calls
    assert f"alternatives --set ip6tables /usr/sbin/ip6tables-{expected}" in calls
    assert "kube-router --run-firewall=true" in calls
    assert f"auto-detected: {expected}" in result.stderr


def test_entrypoint_honours_forced_mode_and_rejects_junk(tmp_path):
    env = _fake_tools(tmp_path, NFT_WITH_HINT, "")
    result, calls = _run_entrypoint(env, mode="legacy")
    assert result.returncode == 0, result.stderr
    assert "iptables /usr/sbin/iptables-legacy" in calls
    Path(env["LOG"]).unlink()
    result, calls = _run_entrypoint(env, mode="ebpf")
    assert result.returncode == 2
    assert "must be auto, nft or legacy" in result.stderr
    assert "kube-router" not in calls
