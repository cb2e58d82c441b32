"""The runc wrapper removes CAP_SYS_RESOURCE from config.json / process.json and
hands the unchanged command line to the real runc."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from toolchain import docker as docker_engine
from toolchain import runc_wrapper

ALL_CAPS = ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_SYSLOG"]
KINDS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def _config(caps: list[str]) -> dict:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "args": ["/bin/true"],
            "capabilities": {kind: list(caps) for kind in KINDS},
        },
        "root": {"path": "rootfs"},
    }


def _process(caps: list[str]) -> dict:
    return {"args": ["sh"], "cwd": "/", "capabilities": {kind: list(caps) for kind in KINDS}}


def _caps(doc: dict) -> dict:
    return doc["capabilities"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--root", "/run/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "B", "x"],
        ["--systemd-cgroup", "create", "-b", "B", "--pid-file", "/p", "x"],
        ["create", "--bundle=B", "x"],
        ["run", "--bundle", "B", "--detach", "x"],
    ],
)
def test_create_strips_sys_resource_from_every_list(tmp_path: Path, argv: list[str]) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(_config(ALL_CAPS)))
    runc_wrapper.fix_arguments([a.replace("B", str(bundle)) for a in argv])
    doc = json.loads((bundle / "config.json").read_text())
    for kind in KINDS:
        assert _caps(doc["process"])[kind] == [c for c in ALL_CAPS if c != "CAP_SYS_RESOURCE"]
    assert doc["root"] == {"path": "rootfs"}  # everything else untouched


def test_create_without_bundle_flag_uses_cwd(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_config(ALL_CAPS)))
    runc_wrapper.fix_arguments(["create", "ctr"], cwd=str(tmp_path))
    doc = json.loads((tmp_path / "config.json").read_text())
    assert "CAP_SYS_RESOURCE" not in _caps(doc["process"])["bounding"]


def test_exec_strips_process_json(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps(_process(ALL_CAPS)))
    argv = ["--root", "/r", "exec", "--process", str(process), "--detach", "ctr"]
    runc_wrapper.fix_arguments(argv)
    doc = json.loads(process.read_text())
    for kind in KINDS:
        assert "CAP_SYS_RESOURCE" not in _caps(doc)[kind]
        assert "CAP_SYS_ADMIN" in _caps(doc)[kind]


def test_unprivileged_config_is_left_byte_for_byte(tmp_path: Path) -> None:
    text = json.dumps(_config(["CAP_CHOWN", "CAP_KILL"]), indent=3)
    (tmp_path / "config.json").write_text(text)
    runc_wrapper.fix_arguments(["create", "--bundle", str(tmp_path), "x"])
    assert (tmp_path / "config.json").read_text() == text


def test_other_commands_touch_nothing(tmp_path: Path) -> None:
    text = json.dumps(_config(ALL_CAPS))
    (tmp_path / "config.json").write_text(text)
    for argv in (["start", "x"], ["delete", "--force", "x"], ["state", "x"], ["--version"]):
        runc_wrapper.fix_arguments(argv, cwd=str(tmp_path))
    assert (tmp_path / "config.json").read_text() == text


def test_installed_wrapper_execs_real_runc_with_same_arguments(tmp_path: Path) -> None:
    """The generated script edits the bundle and then execs the binary it was given."""
    fake_runc = tmp_path / "fake-runc"
    record = tmp_path / "argv.json"
    fake_runc.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
    )
    fake_runc.chmod(fake_runc.stat().st_mode | stat.S_IEXEC)
    script = tmp_path / "wrapper"
    script.write_text(docker_engine.wrapper_source(str(fake_runc)))
    script.chmod(0o755)
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(_config(ALL_CAPS)))
    argv = ["--root", "/x", "create", "--bundle", str(bundle), "ctr-1"]
    subprocess.run([str(script), *argv], check=True, env={**os.environ})  # noqa: S603
    assert json.loads(record.read_text()) == argv
    doc = json.loads((bundle / "config.json").read_text())
    assert "CAP_SYS_RESOURCE" not in _caps(doc["process"])["effective"]


@pytest.mark.parametrize(
    ("capbnd", "needed"),
    [("000001fffeffffff", True), ("000001ffffffffff", False), ("0000003fffffffff", False)],
)
def test_wrapper_only_where_the_capability_is_missing(capbnd: str, needed: bool) -> None:
    status = f"Name:\tpython\nCapInh:\t0000000000000000\nCapBnd:\t{capbnd}\nCapAmb:\t0\n"
    assert docker_engine.needs_wrapper(status) is needed


def test_negative_oom_score_adj_is_raised_to_the_floor(tmp_path: Path) -> None:
    config = _config(["CAP_CHOWN"])
    config["process"]["oomScoreAdj"] = -998
    (tmp_path / "config.json").write_text(json.dumps(config))
    runc_wrapper.fix_arguments(["create", "--bundle", str(tmp_path), "x"], oom_floor=0)
    assert json.loads((tmp_path / "config.json").read_text())["process"]["oomScoreAdj"] == 0


def test_oom_score_adj_kept_when_allowed_or_no_floor(tmp_path: Path) -> None:
    config = _config(["CAP_CHOWN"])
    config["process"]["oomScoreAdj"] = 500
    text = json.dumps(config)
    (tmp_path / "config.json").write_text(text)
    runc_wrapper.fix_arguments(["create", "--bundle", str(tmp_path), "x"], oom_floor=0)
    assert (tmp_path / "config.json").read_text() == text
    config["process"]["oomScoreAdj"] = -500
    text = json.dumps(config)
    (tmp_path / "config.json").write_text(text)
    runc_wrapper.fix_arguments(["create", "--bundle", str(tmp_path), "x"], oom_floor=None)
    assert (tmp_path / "config.json").read_text() == text


def test_capability_check_reads_cap_eff() -> None:
    assert runc_wrapper._has_sys_resource("CapEff:\t000001ffffffffff\n") is True
    assert runc_wrapper._has_sys_resource("CapEff:\t000001fffeffffff\n") is False
