"""The Debian base every offline image is built on, from the host's Debian mirror.

`ensure_debian_base()` runs `debootstrap --variant=minbase` into a temporary
folder, drops documentation, translations and apt lists, and imports the tree
as `todo-airgap/debian:bookworm-minbase`. A dpkg filter stays in the image so
every image built on it stays free of docs and locales too.
"""

# ruff: noqa: S603, S607 - runs debootstrap/tar/docker by name with fixed arguments

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from toolchain import cache, docker
from toolchain.progress import mark_cached, note, step
from toolchain.versions import DEBIAN_BASE_IMAGE, DEBIAN_SUITE


class DebianBaseError(RuntimeError):
    """The base cannot be built here; the message says what to do."""


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


def ensure_debian_base() -> str:
    """Build (once per recipe) `todo-airgap/debian:bookworm-minbase`; return its name."""
    with step(f"debian base {DEBIAN_BASE_IMAGE}"):
        if docker.image_label(DEBIAN_BASE_IMAGE) == BASE_RECIPE:
            mark_cached("image exists")
            return DEBIAN_BASE_IMAGE
        if os.geteuid() != 0:
            raise DebianBaseError(
                f"{DEBIAN_BASE_IMAGE} is built with debootstrap, which needs root: run "
                "`sudo python -m airgap images` once (later runs reuse the image), or use "
                "TODO_IMAGE_SOURCE=upstream where a registry is reachable"
            )
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
                    "docker", "import",
                    "--change", f"LABEL {docker.RECIPE_LABEL}={BASE_RECIPE}",
                    "--change", 'CMD ["/bin/bash"]',
                    "-", DEBIAN_BASE_IMAGE,
                ],
                stdin=tar.stdout,
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            if tar.stdout:
                tar.stdout.close()
            if tar.wait() != 0:
                raise DebianBaseError("tar of the debootstrap tree failed")
        return DEBIAN_BASE_IMAGE
