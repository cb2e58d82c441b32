"""Pushing to a real registry (the Distribution registry on loopback) and how it fails.

Images here are built without Docker (crane, from a tar layer), so these run in
`nox -s tests`; the registry and crane are the toolchain's pinned builds.
"""

# ruff: noqa: S603 - runs the pinned crane and unshare with fixed arguments

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import bcrypt
import pytest

from harness import registry
from harness.proc import free_port
from toolchain.tools import tool


def image_archive(tmp_path: Path, size: int = 1024) -> Path:
    """A one-layer image archive (docker save's format) holding `size` random bytes."""
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    archive = tmp_path / "image.tar"
    subprocess.run([str(tool("crane")), "append", "--new_layer", str(layer), "--new_tag",
                    "todo-test:1", "--output", str(archive)], check=True,
                   capture_output=True)  # fmt: skip
    return archive


def test_an_image_pushed_is_served_under_its_digest(tmp_path: Path) -> None:
    with registry.serve(tmp_path) as address:
        ref = f"{address}/todo-test:1"
        digest = registry.push_archive(image_archive(tmp_path), ref)
        asked = [str(tool("crane")), "digest", "--insecure", ref]
        served = subprocess.run(asked, capture_output=True, text=True, check=True).stdout.strip()
    assert digest == served and digest.startswith("sha256:")
    log = (tmp_path / "registry.log").read_text()
    assert "PUT /v2/todo-test/manifests/1" in log


def test_the_access_log_names_who_fetched_which_manifest() -> None:
    line = (
        '172.18.0.3 - - [06/Dec/2026:03:10:11 +0000] "GET /v2/todo-app/manifests/sha-1a2b '
        'HTTP/1.1" 200 1234 "" "containerd/v2.1.4"'
    )
    assert registry.pulls_in_log(line) == [
        {"from": "172.18.0.3", "method": "GET", "repository": "todo-app", "reference": "sha-1a2b"}
    ]


def test_an_unreachable_registry_is_one_line_naming_it() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(registry.RegistryError) as unreachable:
        registry.scheme_of(address)
    message = str(unreachable.value)
    assert f"registry {address} does not answer" in message and "\n" not in message


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[Path, Path]:
    """An htpasswd file for user `pusher` (password `s3cret`), and a Docker config with it."""
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt()).decode()
    htpasswd.write_text(f"pusher:{hashed}\n")
    return htpasswd, tmp_path


def test_a_push_without_credentials_is_refused_saying_which_option_gives_them(guarded) -> None:
    htpasswd, tmp_path = guarded
    with registry.serve(tmp_path, htpasswd=htpasswd) as address:
        with pytest.raises(registry.RegistryError) as refused:
            registry.push_archive(image_archive(tmp_path), f"{address}/todo-test:1")
        config = tmp_path / "config.json"
        token = base64.b64encode(b"pusher:s3cret").decode()
        config.write_text(json.dumps({"auths": {address: {"auth": token}}}))
        digest = registry.push_archive(image_archive(tmp_path), f"{address}/todo-test:2",
                                       docker_config=config)  # fmt: skip
    message = str(refused.value)
    assert message.startswith(f"push of {address}/todo-test:1 refused by {address} (credentials)")
    assert "--registry-config FILE" in message and "\n" not in message
    assert digest.startswith("sha256:")


def test_a_full_registry_is_named_as_out_of_space(tmp_path: Path) -> None:
    """The registry's storage on a 1 MiB tmpfs (its own mount namespace, gone with it)."""
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(registry.config_yaml(root=str(data), addr=f"127.0.0.1:{port}"))
    serve = f'exec "{tool("registry")}" serve "{config}"'
    script = f'mount -t tmpfs -o size=1m tmpfs "{data}" && {serve}'
    server = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],  # noqa: S607
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        registry.wait_until(lambda: registry._v2_answers(f"http://{address}/v2/") is True,
                            timeout=30, interval=0.2, what="the tmpfs registry")  # fmt: skip
        with pytest.raises(registry.RegistryError) as full:
            registry.push_archive(image_archive(tmp_path, size=4 << 20), f"{address}/big:1")
    finally:
        server.terminate()
        server.wait(timeout=10)
    message = str(full.value)
    assert message == f"push of {address}/big:1 failed: the registry {address} is out of space"


class FakeDocker:
    """`docker` as the local registry's bring-up and teardown call it: answers by command,
    records each call."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.answers, self.calls = answers, []

    def __call__(self, cmd, **kwargs) -> subprocess.CompletedProcess:
        assert cmd[0] == "docker"
        self.calls.append(tuple(cmd[1:]))
        for prefix, (code, stderr) in self.answers.items():
            if tuple(cmd[1 : 1 + len(prefix)]) == prefix:
                return subprocess.CompletedProcess(cmd, code, "", stderr)
        return subprocess.CompletedProcess(cmd, 0, "", "")


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch):
    """The local registry's bring-up with `docker` answered by a FakeDocker."""
    from harness import kind

    monkeypatch.setattr(registry, "ensure_image", lambda: "todo-registry:test")
    monkeypatch.setattr(kind, "ensure_kind_network", lambda: "br-kind")
    monkeypatch.setattr(registry, "wait_until", lambda *args, **kwargs: True)
    monkeypatch.setattr(registry, "say", lambda message: None)

    def install(answers: dict[tuple[str, ...], tuple[int, str]]) -> FakeDocker:
        fake = FakeDocker(answers)
        monkeypatch.setattr(registry.subprocess, "run", fake)
        return fake

    return install


def test_a_local_registry_docker_cannot_start_is_one_line_with_dockers_reason(no_engine) -> None:
    no_engine({("inspect",): (1, "Error: No such object: todo-registry"),
               ("run",): (125, "docker: Error response from daemon: driver failed programming "
                          "external connectivity: Bind for 127.0.0.1:5001 failed: port is "
                          "already allocated.\n")})  # fmt: skip
    with pytest.raises(registry.RegistryError) as failed:
        registry.ensure_local_registry()
    message = str(failed.value)
    assert message.startswith("docker run -d failed (125): ") and "\n" not in message
    assert message.endswith("Bind for 127.0.0.1:5001 failed: port is already allocated.")


def test_a_registry_volume_there_before_the_run_outlives_it(no_engine) -> None:
    docker = no_engine({("inspect",): (1, "Error: No such object: todo-registry")})
    local = registry.ensure_local_registry()  # the volume answers: a filled stand-in mirror
    assert local.created and not local.volume_created
    registry.remove_local_registry(local)
    assert ("rm", "-f", "todo-registry") in docker.calls
    assert not [c for c in docker.calls if c[:2] == ("volume", "rm")]


def test_a_registry_volume_the_run_created_goes_with_it(no_engine) -> None:
    docker = no_engine({("inspect",): (1, "Error: No such object: todo-registry"),
                        ("volume", "inspect"): (1, "Error: no such volume")})  # fmt: skip
    local = registry.ensure_local_registry()
    assert local.created and local.volume_created
    registry.remove_local_registry(local)
    assert ("volume", "rm", registry.VOLUME) in docker.calls
