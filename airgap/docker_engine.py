"""Make a Docker engine available, and the shared Debian minbase image.

`ensure_docker()`:
1. If `docker info` answers, use that engine and change nothing.
2. Otherwise, only as root on Debian: install `docker.io` with apt if dockerd
   is missing; if the host's capability bounding set lacks CAP_SYS_RESOURCE,
   install the runtime wrapper (airgap/runc_wrapper.py) and register it as
   dockerd's default runtime in /etc/docker/daemon.json; start dockerd in
   the background (log under the cache) and wait for `docker info`.
   Every change to the host is printed.
3. Anywhere else: stop with a message saying what to do.

`ensure_debian_base()` builds `todo-airgap/debian:bookworm-minbase` with
debootstrap (minbase variant) from the host's Debian mirror.
"""

# ruff: noqa: S603, S607 - this module runs fixed build tools (docker, go, apt) by name

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airgap import cache
from airgap.progress import mark_cached, note, step
from airgap.versions import DEBIAN_BASE_IMAGE, DEBIAN_SUITE

CAP_SYS_RESOURCE = 24
WRAPPER_PATH = Path("/usr/local/libexec/todo-airgap/runc-wrapper")
RUNTIME_NAME = "todo-airgap-runc"
DAEMON_JSON = Path("/etc/docker/daemon.json")
LABEL = "org.todo-app.airgap"


class EngineError(RuntimeError):
    """The engine cannot be made available here; the message says what to do."""


def docker_bin() -> str:
    found = shutil.which("docker")
    if not found:
        raise EngineError(
            "the `docker` CLI is not installed. On Debian/Ubuntu run as root: "
            "`apt-get install -y docker.io`; elsewhere install Docker Engine "
            "(https://docs.docker.com/engine/install/) and start it."
        )
    return found


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


def _is_debian() -> bool:
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
        "or `sudo dockerd &`), or run `python -m airgap docker` as root on a Debian host "
        "to let it install Debian's docker.io and start dockerd."
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
        raise EngineError("runc not found; install it with `apt-get install -y runc`")
    changed = _write_wrapper(real_runc)
    config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    wanted = dict(config)
    wanted.setdefault("runtimes", {})
    wanted["runtimes"] = {**wanted["runtimes"], RUNTIME_NAME: {"path": str(WRAPPER_PATH)}}
    wanted["default-runtime"] = RUNTIME_NAME
    if wanted != config:
        DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
        if DAEMON_JSON.exists():
            backup = DAEMON_JSON.with_suffix(".json.todo-airgap.bak")
            shutil.copy2(DAEMON_JSON, backup)
            note(f"HOST CHANGE: saved previous {DAEMON_JSON} as {backup}")
        DAEMON_JSON.write_text(json.dumps(wanted, indent=2) + "\n")
        note(
            f"HOST CHANGE: {DAEMON_JSON}: default-runtime={RUNTIME_NAME} "
            f"(path {WRAPPER_PATH}, execs {real_runc})"
        )
        changed = True
    return changed


def _apt_install_docker() -> None:
    note("HOST CHANGE: installing Debian's docker.io with apt-get (dockerd, containerd, runc)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "docker.io"], check=True, env=env)


def start_dockerd(wait_seconds: float = 60.0) -> Path:
    """Start dockerd in the background, log to the cache; wait until it answers."""
    log = cache.sub_dir("docker") / "dockerd.log"
    note(f"HOST CHANGE: starting dockerd in the background (log: {log})")
    with open(log, "ab") as fh:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
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
    """Use a running engine, or (root on Debian) install/configure/start dockerd."""
    with step("docker engine"):
        if engine_running():
            mark_cached("engine already running")
            if needs_wrapper():
                _check_running_engine_runtime()
            return
        if os.geteuid() != 0:
            raise _refuse("this process is not root, so it will not install or start one")
        if not _is_debian():
            raise _refuse("this host is not Debian, so it will not install one")
        if not shutil.which("dockerd"):
            _apt_install_docker()
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
        f"'unable to apply caps'. Stop dockerd and rerun `python -m airgap docker` as root "
        f"to install the wrapper."
    )


def image_exists(name: str) -> bool:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def image_label(name: str, label: str = LABEL) -> str | None:
    """The value of a label on a local image, or None if missing."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout.strip() or "null") or {}
    return labels.get(label)


def debian_mirror(candidates: list[Path] | None = None) -> str:
    """The host's Debian mirror URL (from /etc/apt/sources.list{,.d})."""
    if candidates is None:
        candidates = [Path("/etc/apt/sources.list")]
        sources_d = Path("/etc/apt/sources.list.d")
        if sources_d.is_dir():
            candidates += sorted(sources_d.glob("*.list")) + sorted(sources_d.glob("*.sources"))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#"):
                continue
            match = re.match(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", line)
            if match and "/debian" in match.group(1) and "security" not in match.group(1):
                return match.group(1).rstrip("/")
    return "http://deb.debian.org/debian"


# dpkg filter kept in the base so every image built on it stays free of docs and locales.
NODOC_DPKG_CFG = """\
# todo-airgap: no documentation, man pages or translations in container images
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""
# Bump when the base recipe changes: images built on the base rebuild too.
BASE_RECIPE = f"{DEBIAN_SUITE}-minbase-slim-1"


def _slim_rootfs(root: Path) -> None:
    """Drop docs, man pages, translations, apt lists and logs from a debootstrap tree."""
    (root / "etc/dpkg/dpkg.cfg.d/01-todo-airgap-nodoc").write_text(NODOC_DPKG_CFG)
    for sub in (
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "usr/share/lintian",
        "var/cache/apt",
        "var/lib/apt/lists",
        "var/log",
    ):
        target = root / sub
        if not target.is_dir():
            continue
        for child in target.iterdir():
            keep = child.name in ("locale.alias", "partial") or (
                sub == "usr/share/doc" and (child / "copyright").exists()
            )
            if sub == "usr/share/doc" and keep:
                for extra in child.iterdir():
                    if extra.name != "copyright":
                        if extra.is_dir() and not extra.is_symlink():
                            shutil.rmtree(extra)
                        else:
                            extra.unlink()
                continue
            if keep:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


_base_checked = False


def ensure_debian_base() -> str:
    """Build (once) `todo-airgap/debian:bookworm-minbase` with debootstrap; return its name."""
    global _base_checked
    if _base_checked and image_label(DEBIAN_BASE_IMAGE) == BASE_RECIPE:
        return DEBIAN_BASE_IMAGE  # already checked in this process: no second table row
    _base_checked = True
    with step(f"debian base {DEBIAN_BASE_IMAGE}"):
        if image_label(DEBIAN_BASE_IMAGE) == BASE_RECIPE:
            mark_cached("image exists")
            return DEBIAN_BASE_IMAGE
        if os.geteuid() != 0:
            raise EngineError(
                f"{DEBIAN_BASE_IMAGE} is built with debootstrap, which needs root: run "
                "`sudo python -m airgap images` once (later runs reuse the image), or use "
                "TODO_IMAGE_SOURCE=upstream where a registry is reachable"
            )
        if not shutil.which("debootstrap"):
            note("HOST CHANGE: apt-get update && apt-get install -y debootstrap")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "debootstrap"], check=True, env=env)
        mirror = debian_mirror()
        with tempfile.TemporaryDirectory(dir=cache.sub_dir("tmp")) as tmp:
            root = Path(tmp) / "rootfs"
            note(f"debootstrap --variant=minbase {DEBIAN_SUITE} from {mirror}")
            subprocess.run(
                ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(root), mirror],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            _slim_rootfs(root)
            note(f"docker import -> {DEBIAN_BASE_IMAGE}")
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(
                [
                    "docker",
                    "import",
                    "--change",
                    f"LABEL {LABEL}={BASE_RECIPE}",
                    "--change",
                    'CMD ["/bin/bash"]',
                    "-",
                    DEBIAN_BASE_IMAGE,
                ],
                stdin=tar.stdout,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            if tar.stdout:
                tar.stdout.close()
            if tar.wait() != 0:
                raise EngineError("tar of the debootstrap tree failed")
        return DEBIAN_BASE_IMAGE
