"""The offline kube-router image's entrypoint picks the node's iptables backend."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[1] / "images" / "kube-router" / "entrypoint.sh"


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
