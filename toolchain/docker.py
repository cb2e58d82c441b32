"""The Docker engine, and the one set of image helpers every build uses.

`ensure_docker()`:
1. If `docker info` answers, use that engine and change nothing.
2. Otherwise, only as root on Debian (where the host check has installed
   `docker.io`): if the host's capability bounding set lacks CAP_SYS_RESOURCE,
   install the runtime wrapper (toolchain/runc_wrapper.py) and register it as
   dockerd's default runtime in /etc/docker/daemon.json; start dockerd in the
   background (log under the cache) and wait for `docker info`. Every change
   to the host is printed as `HOST CHANGE: ...`.
3. Anywhere else: stop with a message saying what to do.

Images: `image_id`, `image_labels`, `image_label`, `image_exists` inspect;
`ensure_image()` builds a context unless every tag already carries the
recipe label with the same hash of that context (a warm rerun takes seconds);
`pull()` fetches a registry image once.
"""

# ruff: noqa: S603, S607 - runs docker/dockerd/runc by name with fixed arguments

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from toolchain import cache
from toolchain.progress import mark_cached, note, step

CAP_SYS_RESOURCE = 24
WRAPPER_PATH = Path("/usr/local/libexec/todo-app/runc-wrapper")
RUNTIME_NAME = "todo-app-runc"
DAEMON_JSON = Path("/etc/docker/daemon.json")
RECIPE_LABEL = "org.todo-app.recipe"


class EngineError(RuntimeError):
    """The engine cannot be made available here; the message says what to do."""


class ImageError(RuntimeError):
    """An image is missing or could not be built; the message says why."""


# --- the engine --------------------------------------------------------------------------


def engine_running(timeout: float = 10.0) -> bool:
    """True if `docker info` reaches an engine."""
    if not shutil.which("docker"):
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def capability_bounding_set(status_text: str | None = None) -> int:
    """The CapBnd mask of this process (from /proc/self/status)."""
    text = status_text if status_text is not None else Path("/proc/self/status").read_text()
    match = re.search(r"^CapBnd:\s*([0-9a-fA-F]+)$", text, re.MULTILINE)
    if not match:
        raise EngineError("cannot read CapBnd from /proc/self/status")
    return int(match.group(1), 16)


def needs_wrapper(status_text: str | None = None) -> bool:
    """True when privileged containers would ask for a capability the host lacks."""
    return not capability_bounding_set(status_text) & (1 << CAP_SYS_RESOURCE)


def is_debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    ids = re.findall(r"^(?:ID|ID_LIKE)=\"?([^\"\n]+)", text, re.MULTILINE)
    return any("debian" in value.split() for value in ids)


def _refuse(reason: str) -> EngineError:
    return EngineError(
        f"no Docker engine is reachable (`docker info` fails) and {reason}.\n"
        "What to do: start your Docker engine (Docker Desktop, `sudo systemctl start docker`, "
        "or `sudo dockerd &`), or run `python -m toolchain host docker` as root on a Debian "
        "host to let it install Debian's docker.io and start dockerd."
    )


def wrapper_source(real_runc: str) -> str:
    source = (Path(__file__).parent / "runc_wrapper.py").read_text()
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    source = source.replace('REAL_RUNC = "/usr/sbin/runc"', f"REAL_RUNC = {real_runc!r}", 1)
    return f"#!{python} -I\n{source}"


def _write_wrapper(real_runc: str) -> bool:
    """Write the wrapper script if its content differs. True if it changed."""
    text = wrapper_source(real_runc)
    if WRAPPER_PATH.exists() and WRAPPER_PATH.read_text() == text:
        return False
    WRAPPER_PATH.parent.mkdir(parents=True, exist_ok=True)
    tmp = WRAPPER_PATH.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(WRAPPER_PATH)  # atomic: containers being created never see half a file
    note(f"HOST CHANGE: wrote runc wrapper {WRAPPER_PATH} (drops CAP_SYS_RESOURCE,")
    note("  raises negative oomScoreAdj to the lowest value allowed without it)")
    return True


def install_wrapper() -> bool:
    """Install the runc wrapper and register it. True if anything on the host changed."""
    real_runc = shutil.which("runc") or "/usr/sbin/runc"
    if not Path(real_runc).exists():
        raise EngineError("runc not found: run `python -m toolchain host` (installs docker.io)")
    changed = _write_wrapper(real_runc)
    config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    wanted = dict(config)
    wanted["runtimes"] = {**wanted.get("runtimes", {}), RUNTIME_NAME: {"path": str(WRAPPER_PATH)}}
    wanted["default-runtime"] = RUNTIME_NAME
    if wanted != config:
        DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
        if DAEMON_JSON.exists():
            backup = DAEMON_JSON.with_suffix(".json.todo-app.bak")
            shutil.copy2(DAEMON_JSON, backup)
            note(f"HOST CHANGE: saved previous {DAEMON_JSON} as {backup}")
        DAEMON_JSON.write_text(json.dumps(wanted, indent=2) + "\n")
        note(
            f"HOST CHANGE: {DAEMON_JSON}: default-runtime={RUNTIME_NAME} "
            f"(path {WRAPPER_PATH}, execs {real_runc})"
        )
        changed = True
    return changed


def start_dockerd(wait_seconds: float = 60.0) -> Path:
    """Start dockerd in the background, log to the cache; wait until it answers."""
    log = cache.sub_dir("docker") / "dockerd.log"
    note(f"HOST CHANGE: starting dockerd in the background (log: {log})")
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [shutil.which("dockerd") or "/usr/sbin/dockerd"],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if engine_running(timeout=5):
            note(f"dockerd is up (pid {proc.pid})")
            return log
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise EngineError(f"dockerd exited with {proc.returncode}; log {log}:\n{tail}")
        time.sleep(0.5)
    raise EngineError(f"dockerd did not answer within {wait_seconds:.0f}s; see {log}")


def ensure_docker() -> None:
    """Use a running engine, or (root on Debian) configure and start dockerd."""
    with step("docker engine"):
        if engine_running():
            mark_cached("engine already running")
            if needs_wrapper():
                _check_running_engine_runtime()
            return
        if os.geteuid() != 0:
            raise _refuse("this process is not root, so it will not start one")
        if not is_debian():
            raise _refuse("this host is not Debian, so it will not install one")
        if not shutil.which("dockerd"):
            raise _refuse("dockerd is not installed (the host check installs docker.io)")
        if needs_wrapper():
            note("CapBnd lacks CAP_SYS_RESOURCE: privileged containers need the runc wrapper")
            install_wrapper()
        start_dockerd()


def _check_running_engine_runtime() -> None:
    result = subprocess.run(
        ["docker", "info", "--format", "{{.DefaultRuntime}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    runtime = result.stdout.strip()
    if runtime == RUNTIME_NAME:
        # Ours: keep the script current (runc is exec'd per container, no restart needed).
        if os.geteuid() == 0:
            _write_wrapper(shutil.which("runc") or "/usr/sbin/runc")
        return
    note(
        f"WARNING: this host lacks CAP_SYS_RESOURCE and the running engine's default "
        f"runtime is {runtime!r}, so privileged containers (kind nodes) may fail with "
        f"'unable to apply caps'. Stop dockerd and rerun `python -m toolchain docker` as "
        f"root to install the wrapper."
    )


# --- images ------------------------------------------------------------------------------


def _inspect(name: str, template: str) -> str | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", template, name],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def image_exists(name: str) -> bool:
    return _inspect(name, "{{.Id}}") is not None


def image_id(name: str) -> str:
    """The image's ID; a clear error if it is missing."""
    found = _inspect(name, "{{.Id}}")
    if found is None:
        raise ImageError(f"image {name} is missing from Docker")
    return found


def image_labels(name: str) -> dict[str, str] | None:
    """The image's labels, or None if there is no such image."""
    found = _inspect(name, "{{json .Config.Labels}}")
    return None if found is None else (json.loads(found or "null") or {})


def image_label(name: str, label: str = RECIPE_LABEL) -> str | None:
    labels = image_labels(name)
    return None if labels is None else labels.get(label)


def image_size(name: str) -> int:
    return int(_inspect(name, "{{.Size}}") or 0)


def pull(name: str) -> None:
    """`docker pull` a registry image unless Docker already has it."""
    if image_exists(name):
        return
    with step(f"docker pull {name}"):
        result = subprocess.run(["docker", "pull", name], capture_output=True, text=True)
        if result.returncode != 0:
            raise ImageError(f"docker pull {name} failed: {result.stderr.strip()[-500:]}")


def folder_files(folder: Path) -> dict[str, Path]:
    """Every file of a recipe folder as build-context entries (relative path -> file)."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def recipe_key(
    files: Mapping[str, Path | bytes],
    extra: Iterable[str] = (),
    modes: Mapping[str, int] | None = None,
) -> str:
    """Hash of a build context: every entry's name, mode and bytes, plus extra strings."""
    modes = modes or {}
    digest = hashlib.sha256()
    for name in sorted(files):
        src = files[name]
        data = src if isinstance(src, bytes) else src.read_bytes()
        mode = modes.get(name, 0o644 if isinstance(src, bytes) else src.stat().st_mode & 0o777)
        digest.update(f"{name}\0{mode:o}\0".encode() + hashlib.sha256(data).digest())
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:20]


def ensure_image(
    tags: list[str],
    files: Mapping[str, Path | bytes],
    *,
    extra: Iterable[str] = (),
    modes: Mapping[str, int] | None = None,
    build_args: Mapping[str, str] | None = None,
) -> bool:
    """`docker build` a context unless every tag already carries its recipe label.

    `files` maps context paths (one of them "Dockerfile") to a file (copied) or
    literal bytes; `extra` adds inputs that are not files (pins, a base image's
    ID). Returns True if it built, False if the images were current.
    """
    modes, build_args = modes or {}, build_args or {}
    key = recipe_key(files, [*extra, json.dumps(dict(build_args), sort_keys=True)], modes)
    if all(image_label(tag) == key for tag in tags):
        mark_cached(f"{tags[0]} (recipe {key})")
        return False
    log = cache.sub_dir("logs") / f"image-{re.sub(r'[^A-Za-z0-9_.-]', '_', tags[0])}.log"
    with tempfile.TemporaryDirectory(dir=cache.sub_dir("tmp")) as tmp:
        context = Path(tmp)
        for name, src in files.items():
            dest = context / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                dest.write_bytes(src)
            else:
                shutil.copyfile(src, dest)
            default = 0o644 if isinstance(src, bytes) else src.stat().st_mode & 0o777
            dest.chmod(modes.get(name, default))
        for sub in context.rglob("*"):
            if sub.is_dir():
                sub.chmod(0o755)
        cmd = ["docker", "build", "--label", f"{RECIPE_LABEL}={key}"]
        for arg, value in build_args.items():
            cmd += ["--build-arg", f"{arg}={value}"]
        for tag in tags:
            cmd += ["-t", tag]
        docker_build(cmd + [str(context)], log)
    if image_label(tags[0]) != key:
        raise ImageError(f"{tags[0]} was built but does not carry recipe {key}")
    return True


def docker_build(cmd: list[str], log: Path) -> None:
    """Run a `docker build` command, log it, show its steps as progress."""
    note(f"{' '.join(c for c in cmd[:2])} ... -t {cmd[cmd.index('-t') + 1]}  (log: {log})")
    # The engine may be 20.10 without buildx: the classic builder is what works everywhere.
    env = {**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")}
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            if re.match(r"^Step \d+/\d+ :", line):
                note(line.strip()[:120])
        code = proc.wait()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise ImageError(f"docker build failed ({code}); end of {log}:\n{tail}")
