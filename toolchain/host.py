"""What the host must have, declared once, and the one check that covers it.

`REQUIREMENTS` lists every piece a run can need from the machine: Debian
packages (each with the step that needs it), the Go and Python versions and
the Docker engine. Each belongs to one or more purposes:

  tests    `nox -s tests`: the services suite's PostgreSQL, helm and actionlint builds
  cluster  anything that builds images or runs kind (e2e, perf, the step sessions)
  offline  building kind's images here, without a registry (airgap/)
  browser  the browser tests, whichever browser they drive (Playwright's driver)
  system-browser  the browser tests when the run drives Debian's Chromium (toolchain.browser)

`check(purposes)` runs before any build: it finds what is missing and, as
root on Debian, installs every missing package with a single apt-get call,
announced as a host change; elsewhere it stops within seconds with one
message that lists every missing piece and the command that installs it.
`toolchain/tests/test_host.py` fails when a build needs something this list
does not declare (it reads the cgo libraries and the commands the code runs
from the code itself).
"""

# ruff: noqa: S603, S607 - runs apt-get/go/docker by name with fixed arguments

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from toolchain import browser, versions
from toolchain.progress import note, step

PURPOSES = ("tests", "cluster", "offline", "browser", "system-browser")
PKG_CONFIG_DIRS = (
    "/usr/lib/pkgconfig",
    "/usr/lib/*/pkgconfig",
    "/usr/share/pkgconfig",
    "/usr/local/lib/pkgconfig",
)


class HostError(RuntimeError):
    """The host lacks something and it cannot be installed here; the message says what."""


@dataclass(frozen=True)
class Requirement:
    """One thing the host must have, how to tell it is there, and what installs it."""

    name: str
    needed_by: str  # the step that needs it, in a few words
    purposes: frozenset[str]
    package: str | None = None  # the Debian package that provides it, if there is one
    commands: tuple[str, ...] = ()  # every one must be on PATH
    pkg_config: tuple[str, ...] = ()  # pkg-config modules (.pc files) it provides
    files: tuple[str, ...] = ()  # glob patterns, each must match
    provides: tuple[str, ...] = ()  # commands it brings that need not be on PATH
    how: str = ""  # what to do when it cannot be installed with apt

    def present(self) -> bool:
        return (
            all(_command(c) for c in self.commands)
            and all(_pkg_config(m) for m in self.pkg_config)
            and all(glob.glob(pattern) for pattern in self.files)
        )


def _command(name: str) -> bool:
    return shutil.which(name) is not None or any(
        os.access(os.path.join(d, name), os.X_OK) for d in ("/usr/sbin", "/sbin")
    )


def _pkg_config(module: str) -> bool:
    return any(glob.glob(f"{d}/{module}.pc") for d in PKG_CONFIG_DIRS)


def _set(*purposes: str) -> frozenset[str]:
    return frozenset(purposes)


# Debian packages, by the step that needs them.
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        "PostgreSQL server",
        "the services suite's throwaway database (pg_ctl, initdb)",
        _set("tests"),
        package="postgresql",
        files=("/usr/lib/postgresql/*/bin/pg_ctl",),
        provides=("pg_ctl", "initdb", "createdb", "pgbench", "psql"),
    ),
    Requirement(
        "runuser, unshare",
        "running PostgreSQL as its own user; the nft probe's throwaway netns",
        _set("tests", "cluster"),
        package="util-linux",
        commands=("runuser", "unshare"),
    ),
    Requirement(
        "Docker engine",
        "every image build and the kind nodes (dockerd, containerd, runc, docker CLI)",
        _set("cluster"),
        package="docker.io",
        commands=("docker", "dockerd", "runc"),
        how="install Docker Engine (https://docs.docker.com/engine/install/) and start it",
    ),
    Requirement(
        "libatomic",
        "Playwright's driver (a Node.js binary that links it), whichever browser it drives",
        _set("browser"),
        package="libatomic1",
        files=("/usr/lib/*/libatomic.so.1",),
    ),
    Requirement(
        "Chromium",
        "the browser tests (the front end's promise, the report's page) offline",
        _set("system-browser"),
        package="chromium",
        files=(str(browser.SYSTEM_CHROMIUM),),
    ),
    Requirement(
        "git",
        "the upgrade promise installs the chart as of an earlier commit",
        _set("cluster"),
        package="git",
        commands=("git",),
    ),
    Requirement(
        "nftables",
        "probing whether the kernel lets kindnet enforce NetworkPolicy (nft queue)",
        _set("cluster"),
        package="nftables",
        commands=("nft",),
    ),
    Requirement(
        "iptables",
        "the egress guard that keeps an offline kind network on this host",
        _set("offline"),
        package="iptables",
        commands=("iptables", "ip6tables"),
    ),
    Requirement(
        "debootstrap",
        "the Debian base every offline image is built on",
        _set("offline"),
        package="debootstrap",
        commands=("debootstrap",),
    ),
    Requirement(
        "tar",
        "importing the debootstrap tree into Docker",
        _set("offline"),
        package="tar",
        commands=("tar",),
    ),
    Requirement(
        "C compiler",
        "runc (cgo) and the static pause binary of the kind node",
        _set("offline"),
        package="gcc",
        commands=("gcc",),
    ),
    Requirement(
        "C library headers and static libc",
        "linking cgo (runc) and the static pause binary",
        _set("offline"),
        package="libc6-dev",
        files=("/usr/include/stdio.h", "/usr/lib/*/libc.a"),
    ),
    Requirement(
        "binutils",
        "stripping the pause binary",
        _set("offline"),
        package="binutils",
        commands=("strip",),
    ),
    Requirement(
        "pkg-config",
        "cgo builds that name their C libraries with `#cgo pkg-config`",
        _set("offline"),
        package="pkg-config",
        commands=("pkg-config",),
    ),
    Requirement(
        "libseccomp",
        "runc's seccomp support, linked with cgo",
        _set("offline"),
        package="libseccomp-dev",
        pkg_config=("libseccomp",),
    ),
)


@dataclass
class Finding:
    """One requirement as this machine has it."""

    name: str
    needed_by: str
    status: str  # present | missing | installed
    fix: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def table(self) -> str:
        width = max((len(f.name) for f in self.findings), default=4)
        lines = [f"{'requirement':<{width}}  {'status':<9}  needed by"]
        lines += [f"{f.name:<{width}}  {f.status:<9}  {f.needed_by}" for f in self.findings]
        return "\n".join(lines)


def go_found() -> tuple[tuple[int, int] | None, str]:
    """(major, minor) of the `go` on PATH, and how it was found."""
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None
    )
    if go is None:
        return None, "no `go` on PATH"
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if not match:
        return None, f"`{go} env GOVERSION` said {out.stdout.strip() or out.stderr.strip()!r}"
    return (int(match.group(1)), int(match.group(2))), f"{go} ({out.stdout.strip()})"


def _version_findings() -> list[Finding]:
    need_go = ".".join(map(str, versions.GO_MINIMUM))
    found, how = go_found()
    go_ok = found is not None and found >= versions.GO_MINIMUM
    findings = [
        Finding(
            f"Go >= {need_go}",
            "building kind, helm, kubectl, actionlint and the offline images",
            "present" if go_ok else "missing",
            ""
            if go_ok
            else f"found {how}: install Go >= {need_go} from https://go.dev/dl/ "
            "and put its bin/ on PATH (Debian's golang package is older)",
        )
    ]
    python = f"python{versions.PYTHON_VERSION}"
    python_ok = python_present()
    findings.append(
        Finding(
            f"Python {versions.PYTHON_VERSION}",
            "the nox sessions' virtualenvs",
            "present" if python_ok else "missing",
            "" if python_ok else f"put {python} on PATH (pyenv, or Debian's python3)",
        )
    )
    return findings


def python_present() -> bool:
    """Python of the pinned minor is the interpreter running this check, or on PATH.

    The interpreter running the check counts: under `sudo` PATH is sudo's secure_path,
    which leaves out the user's own interpreters (setup-python's tool cache, pyenv), so
    `sudo "$(command -v python)" -m toolchain host` finds no python3.11 on PATH although
    the user's nox will run on exactly that interpreter.
    """
    running = ".".join(map(str, sys.version_info[:2]))
    return running == versions.PYTHON_VERSION or bool(
        shutil.which(f"python{versions.PYTHON_VERSION}")
    )


def required(purposes: Iterable[str]) -> list[Requirement]:
    """The requirements of these purposes, in declaration order."""
    wanted = set(purposes)
    unknown = wanted - set(PURPOSES)
    if unknown:
        raise HostError(f"--for: unknown purposes {sorted(unknown)}; known: {', '.join(PURPOSES)}")
    return [r for r in REQUIREMENTS if r.purposes & wanted]


def can_install() -> bool:
    from toolchain.docker import is_debian

    return os.geteuid() == 0 and is_debian() and shutil.which("apt-get") is not None


def _docker_satisfied() -> bool:
    """A running engine counts even without Debian's packages (Docker Desktop, a CI's)."""
    from toolchain.docker import engine_running

    return engine_running(timeout=5)


def apt_install(packages: list[str]) -> None:
    """One `apt-get install` for every package (after `apt-get update`), announced."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    note(f"HOST CHANGE: apt-get install -y --no-install-recommends {' '.join(packages)}")
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HostError(
                f"`{' '.join(cmd[:3])} ...` failed ({result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )


def _satisfied(req: Requirement) -> bool:
    # A running engine counts even without Debian's packages (Docker Desktop, a CI's).
    return req.present() or (req.package == "docker.io" and _docker_satisfied())


def check(purposes: Iterable[str], *, install: bool | None = None) -> Report:
    """Find what the purposes need; install missing packages (root on Debian) or stop.

    `install=None` installs when this process may (root on Debian with apt-get).
    """
    purposes = set(purposes)
    install = can_install() if install is None else install
    with step(f"host requirements ({', '.join(sorted(purposes))})"):
        wanted = required(purposes)
        missing = [r for r in wanted if not _satisfied(r)]
        packages = sorted({r.package for r in missing if r.package})
        installed: set[str] = set()
        if packages and install:
            apt_install(packages)
            installed = {r.name for r in missing if _satisfied(r)}
            missing = [r for r in missing if r.name not in installed]
        report = Report(_version_findings())
        for req in wanted:
            status = (
                "missing" if req in missing else "installed" if req.name in installed else "present"
            )
            fix = req.how or (f"Debian package {req.package}" if req.package else "")
            report.findings.append(Finding(req.name, req.needed_by, status, fix))
        note("host requirements as found:\n" + report.table())
        problems = [f for f in report.findings if f.status == "missing"]
        if problems:
            lines = [f"  - {f.name} ({f.needed_by}): {f.fix}" for f in problems]
            message = "this machine lacks what the run needs:\n" + "\n".join(lines)
            left = sorted({r.package for r in missing if r.package})
            if left:
                message += (
                    "\nInstall the packages as root with:\n"
                    f"  apt-get install -y --no-install-recommends {' '.join(left)}"
                )
            raise HostError(message)
        return report
