"""Container registries: the local one this project runs, and pushing the run's images.

The local registry is the CNCF Distribution registry (`registry`, built by the
toolchain like kind and helm), in one of two forms:

- `LocalRegistry`: a container of the image `todo-registry:<version>` (the same
  binary, FROM scratch, built here on both paths) on kind's Docker network:
  published on 127.0.0.1:<port> for the host's pushes, reached by the nodes as
  `todo-registry:5000`. Its storage is the Docker volume `todo-registry-data`.
  A run that started the container removes it at its end, and the volume too
  when that run created it; a volume that was there before (a stand-in mirror
  `python -m harness fill-mirror` filled) is kept.
- `serve()`: the binary as a process on loopback (the registry tests).

`push()` puts a Docker image into any registry with go-containerregistry's
crane (`docker save` to a file, `crane push`), credentials from a Docker config
file when one is named; `content_tag()` names a build by its content, so two
builds never share a tag. Failures are one line saying what and where:
unreachable, refused (credentials), out of space.
"""

# ruff: noqa: S603, S607 - runs docker and the pinned registry/crane with fixed arguments

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.proc import HarnessError, free_port, say, terminate, wait_until
from toolchain import cache, docker, versions
from toolchain.progress import step
from toolchain.tools import ensure_tool, tool

CONTAINER = "todo-registry"
VOLUME = "todo-registry-data"
PORT_INSIDE = 5000
HOST_PORT = 5001  # where the host pushes: the local registry on 127.0.0.1
NETWORK = "kind"
IMAGE_DIR = Path(__file__).parent / "registry-image"


class RegistryError(HarnessError):
    """A registry cannot be reached, refuses the run, or is full; one line says which."""


def config_yaml(*, root: str, addr: str, htpasswd: str | None = None) -> str:
    """The registry's configuration: filesystem storage, deletes allowed, an access log
    line per request (which is how a run shows the pulls the nodes made)."""
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {addr}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
    ]
    if htpasswd:
        lines += ["auth:", "  htpasswd:", "    realm: todo-registry", f"    path: {htpasswd}"]
    return "\n".join(lines) + "\n"


# --- answering -----------------------------------------------------------------------------


def _v2_answers(url: str) -> bool | str:
    """True when anything answers HTTP at `url` (401 counts), else the reason."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3):  # noqa: S310 - the registry named
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def scheme_of(registry: str) -> str:
    """ "https" or "http": how `registry` (host[:port]) answers its /v2/ endpoint."""
    reasons = []
    for scheme in ("https", "http"):
        answered = _v2_answers(f"{scheme}://{registry}/v2/")
        if answered is True:
            return scheme
        reasons.append(f"{scheme}: {answered}")
    raise RegistryError(
        f"registry {registry} does not answer at /v2/ ({'; '.join(reasons)}): is it running, "
        "and is the address host[:port] as the nodes and this host both reach it?"
    )


# --- pushing -------------------------------------------------------------------------------


def content_tag(image: str) -> str:
    """A tag that names the build's content (its image ID), so builds never share one."""
    return "sha-" + docker.image_id(image).split(":", 1)[1][:16]


def _failure(ref: str, text: str) -> RegistryError:
    """One line for a failed push: refused, full, unreachable, or crane's own last line."""
    registry = ref.split("/", 1)[0]
    lowered = text.lower()
    if re.search(r"unauthorized|denied|authentication required|status code 40[13]", lowered):
        return RegistryError(
            f"push of {ref} refused by {registry} (credentials): give a Docker config file "
            "that may push there with --registry-config FILE (E2E_REGISTRY_CONFIG)"
        )
    if re.search(r"no space left|insufficient storage|status code 507|disk quota", lowered):
        return RegistryError(f"push of {ref} failed: the registry {registry} is out of space")
    if re.search(r"connection refused|no such host|i/o timeout|connect:", lowered):
        return RegistryError(f"push of {ref} failed: {registry} cannot be reached")
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
    return RegistryError(f"push of {ref} to {registry} failed: {last[0][:300]}")


def push(image: str, ref: str, *, docker_config: Path | None = None) -> str:
    """Push a local Docker image to `ref`; return the pushed manifest digest."""
    with (
        step(f"push {image} -> {ref}"),
        tempfile.TemporaryDirectory(dir=cache.sub_dir("tmp")) as tmp,
    ):
        archive = Path(tmp) / "image.tar"
        saved = subprocess.run(["docker", "save", "-o", str(archive), image],
                               capture_output=True, text=True, check=False)  # fmt: skip
        if saved.returncode != 0:
            raise RegistryError(f"docker save {image} failed: {saved.stderr.strip()[-300:]}")
        return push_archive(archive, ref, docker_config=docker_config)


def push_archive(archive: Path, ref: str, *, docker_config: Path | None = None) -> str:
    """`crane push` an image archive (docker save's format) to `ref`: over plain HTTP when
    that is all the registry speaks, with the Docker config's credentials when given;
    returns the pushed manifest digest."""
    registry = ref.split("/", 1)[0]
    cmd = [str(ensure_tool("crane")), "push", str(archive), ref]
    if scheme_of(registry) == "http":
        cmd.append("--insecure")
    with tempfile.TemporaryDirectory(prefix="todo-docker-config-") as config_dir:
        env = dict(os.environ)
        if docker_config is not None:
            shutil.copyfile(docker_config, Path(config_dir) / "config.json")
            env["DOCKER_CONFIG"] = config_dir
        pushed = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if pushed.returncode != 0:
        raise _failure(ref, pushed.stderr + pushed.stdout)
    found = re.search(r"@(sha256:[0-9a-f]{64})", pushed.stdout)
    if not found:
        raise RegistryError(f"crane pushed {ref} but printed no digest: {pushed.stdout[-200:]}")
    return found.group(1)


# --- the local registry ----------------------------------------------------------------------


def ensure_image() -> str:
    """The local registry's image, built from the toolchain's registry binary (both paths)."""
    binary = ensure_tool("registry")
    files = {
        **docker.folder_files(IMAGE_DIR),
        "registry": binary.resolve(),
        "config.yml": config_yaml(root="/var/lib/registry", addr=f":{PORT_INSIDE}").encode(),
    }
    with step(f"image {versions.REGISTRY_IMAGE}"):
        docker.ensure_image([versions.REGISTRY_IMAGE], files, modes={"registry": 0o755})
    return versions.REGISTRY_IMAGE


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    """`docker ARGS`; a failure is one line with docker's own last words."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:]
        raise RegistryError(f"docker {' '.join(args[:2])} failed ({done.returncode}): "
                            f"{(said or ['no output'])[0][:300]}")  # fmt: skip
    return done


def _container_state(name: str) -> dict | None:
    got = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=False)
    return json.loads(got.stdout)[0] if got.returncode == 0 else None


@dataclass(frozen=True)
class LocalRegistry:
    """The local registry container: where the host pushes and where kind's nodes pull."""

    name: str = CONTAINER
    host_port: int = HOST_PORT
    created: bool = False  # this run started the container
    volume_created: bool = False  # and its storage volume did not exist before

    @property
    def host_address(self) -> str:
        return f"127.0.0.1:{self.host_port}"

    @property
    def node_address(self) -> str:
        """The registry as containers on kind's network reach it (Docker's DNS)."""
        return f"{self.name}:{PORT_INSIDE}"

    @property
    def pull_address(self) -> str:
        """The name images carry for the nodes: `localhost:<port>`, the registry as this host
        reaches it; each node's containerd maps it to `node_address` (hosts.toml), as a
        node's own localhost has no registry."""
        return f"localhost:{self.host_port}"

    def log(self) -> str:
        got = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True,
                             check=False)  # fmt: skip
        return got.stdout + got.stderr


def ensure_local_registry() -> LocalRegistry:
    """The local registry running on kind's network and 127.0.0.1:<HOST_PORT>, made if
    missing."""
    from harness.kind import ensure_kind_network

    image = ensure_image()
    ensure_kind_network()
    state = _container_state(CONTAINER)
    created = state is None
    volume_created = False
    if created:
        found = subprocess.run(["docker", "volume", "inspect", VOLUME], capture_output=True,
                               check=False)  # fmt: skip
        volume_created = found.returncode != 0  # `docker run -v` creates it
        say(f"starting the local registry {CONTAINER} on 127.0.0.1:{HOST_PORT} and network "
            f"{NETWORK}")  # fmt: skip
        _docker("run", "-d", "--name", CONTAINER, "--restart", "unless-stopped",
                "-p", f"127.0.0.1:{HOST_PORT}:{PORT_INSIDE}", "--network", NETWORK,
                "-v", f"{VOLUME}:/var/lib/registry", image)  # fmt: skip
    else:
        if not state["State"]["Running"]:
            _docker("start", CONTAINER)
        if NETWORK not in (state["NetworkSettings"]["Networks"] or {}):
            _docker("network", "connect", NETWORK, CONTAINER)
    registry = LocalRegistry(CONTAINER, HOST_PORT, created, volume_created)
    wait_until(lambda: _v2_answers(f"http://{registry.host_address}/v2/") is True, timeout=30,
               interval=0.3, what=f"the local registry on {registry.host_address}")  # fmt: skip
    return registry


def remove_local_registry(registry: LocalRegistry) -> None:
    """Remove the registry container, and its storage volume, each when this run created it."""
    if registry.created:
        subprocess.run(["docker", "rm", "-f", registry.name], capture_output=True, check=False)
    if registry.volume_created:
        subprocess.run(["docker", "volume", "rm", VOLUME], capture_output=True, check=False)


def pulls_in_log(log: str) -> list[dict[str, str]]:
    """The manifest fetches an access log records: who (address), which repository, what."""
    found = []
    for line in log.splitlines():
        request = re.search(r'"(GET|HEAD) /v2/(\S+)/manifests/(\S+) HTTP', line)
        if request:
            who = line.split(" ", 1)[0]
            found.append(
                {
                    "from": who,
                    "method": request.group(1),
                    "repository": request.group(2),
                    "reference": request.group(3),
                }
            )
    return found


@contextmanager
def serve(root: Path, *, htpasswd: Path | None = None) -> Iterator[str]:
    """The registry binary as a process on loopback; yields its address (127.0.0.1:port)."""
    port = free_port()
    config = root / "config.yml"
    config.write_text(config_yaml(root=str(root / "data"), addr=f"127.0.0.1:{port}",
                                  htpasswd=str(htpasswd) if htpasswd else None))  # fmt: skip
    log = (root / "registry.log").open("w")
    process = subprocess.Popen([str(tool("registry")), "serve", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    address = f"127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise RegistryError(f"the registry exited ({process.returncode}); see {log.name}")
        return _v2_answers(f"http://{address}/v2/") is True

    try:
        wait_until(answering, timeout=30, interval=0.2, what=f"the registry on {address}")
        yield address
    finally:
        terminate(process, grace=5)
        log.close()
