"""ensure_docker's decisions without touching the host: refusals, daemon.json merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolchain import docker as docker_engine
from toolchain import progress


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine, "engine_running", lambda timeout=10.0: False)
    progress.reset()


def test_not_root_refuses_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine.os, "geteuid", lambda: 1000)
    with pytest.raises(docker_engine.EngineError) as err:
        docker_engine.ensure_docker()
    message = str(err.value)
    assert "not root" in message and "What to do" in message and "dockerd" in message


def test_not_debian_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(docker_engine, "is_debian", lambda: False)
    with pytest.raises(docker_engine.EngineError, match="not Debian"):
        docker_engine.ensure_docker()


def test_wrapper_registration_keeps_existing_daemon_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"log-level": "warn", "runtimes": {"other": {"path": "/x"}}}))
    monkeypatch.setattr(docker_engine, "DAEMON_JSON", daemon)
    monkeypatch.setattr(docker_engine, "WRAPPER_PATH", tmp_path / "libexec" / "runc-wrapper")
    fake_runc = tmp_path / "runc"
    fake_runc.write_text("#!/bin/sh\n")
    monkeypatch.setattr(docker_engine.shutil, "which", lambda name: str(fake_runc))
    assert docker_engine.install_wrapper() is True
    config = json.loads(daemon.read_text())
    assert config["log-level"] == "warn"
    assert config["runtimes"]["other"] == {"path": "/x"}
    assert config["runtimes"][docker_engine.RUNTIME_NAME]["path"].endswith("runc-wrapper")
    assert config["default-runtime"] == docker_engine.RUNTIME_NAME
    assert (tmp_path / "daemon.json.todo-app.bak").exists()
    script = (tmp_path / "libexec" / "runc-wrapper").read_text()
    assert f"REAL_RUNC = {str(fake_runc)!r}" in script
    assert docker_engine.install_wrapper() is False  # second run: nothing changes


def test_without_dockerd_it_points_at_the_host_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(docker_engine, "is_debian", lambda: True)
    monkeypatch.setattr(docker_engine.shutil, "which", lambda name: None)
    with pytest.raises(docker_engine.EngineError, match="host check installs docker.io"):
        docker_engine.ensure_docker()
