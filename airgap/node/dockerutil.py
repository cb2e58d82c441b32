"""Small Docker helpers: content-keyed image builds that skip when current."""

# ruff: noqa: S603, S607  (a build driver: runs fixed argv lists of docker/go/gcc, never a shell string)

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from airgap import cache as cache_mod
from airgap.progress import mark_cached, note

# Images built here carry this label; its value is a hash of their inputs.
KEY_LABEL = "org.todo-app.airgap.node-key"


class DockerError(RuntimeError):
    pass


def docker(*args: str, capture: bool = True, check: bool = True, **kw) -> str:
    proc = subprocess.run(["docker", *args], capture_output=capture, text=True, **kw)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise DockerError(f"`docker {' '.join(args[:3])} ...` failed: {detail}")
    return (proc.stdout or "").strip() if capture else ""


def image_labels(ref: str) -> dict[str, str] | None:
    """The image's labels, or None if there is no such image."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip() or "null") or {}


def image_key(ref: str) -> str | None:
    labels = image_labels(ref)
    return None if labels is None else labels.get(KEY_LABEL)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_key(dockerfile: str, files: Mapping[str, Path | bytes], extra: str = "") -> str:
    """Hash of a build context: the Dockerfile, every file's path, mode and bytes."""
    digest = hashlib.sha256(dockerfile.encode())
    digest.update(extra.encode())
    for name in sorted(files):
        src = files[name]
        digest.update(name.encode())
        if isinstance(src, bytes):
            digest.update(hashlib.sha256(src).digest())
        else:
            digest.update(f"{src.stat().st_mode & 0o777:o}".encode())
            digest.update(file_digest(src).encode())
    return digest.hexdigest()[:20]


def build_image(
    tags: list[str],
    dockerfile: str,
    files: Mapping[str, Path | bytes],
    context_name: str,
    modes: Mapping[str, int] | None = None,
    extra_key: str = "",
) -> bool:
    """`docker build` an image from generated context files unless it is current.

    `files` maps context-relative paths to a source file (copied, mode kept
    unless `modes` says otherwise) or literal bytes (mode 0644). Returns True
    if it built, False if every tag already carried the same content key.
    """
    key = content_key(dockerfile, files, extra_key + json.dumps(modes or {}, sort_keys=True))
    if all(image_key(tag) == key for tag in tags):
        mark_cached(tags[0])
        return False
    ctx = cache_mod.sub_dir("node", "contexts", context_name)
    shutil.rmtree(ctx)
    ctx.mkdir(parents=True)
    for name, src in files.items():
        dest = ctx / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            dest.write_bytes(src)
            dest.chmod(0o644)
        else:
            shutil.copyfile(src, dest)
            dest.chmod(src.stat().st_mode & 0o777)
        if modes and name in modes:
            dest.chmod(modes[name])
    for sub in ctx.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    (ctx / "Dockerfile").write_text(dockerfile)
    log = ctx.parent / f"{context_name}.build.log"
    note(f"docker build {tags[0]} (log: {log})")
    cmd = ["docker", "build", "--label", f"{KEY_LABEL}={key}"]
    for tag in tags:
        cmd += ["-t", tag]
    cmd.append(str(ctx))
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_classic_env())
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise DockerError(f"docker build of {tags[0]} failed; log {log}:\n{tail}")
    return True


def _classic_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    # The engine (20.10) has no buildx here; the classic builder is what works.
    env.setdefault("DOCKER_BUILDKIT", "0")
    return env
