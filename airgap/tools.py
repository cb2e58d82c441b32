"""Pinned tool binaries in `<cache>/bin`: kind, helm, kubectl, actionlint.

Each tool is built once with `GOTOOLCHAIN=local go install` into a versioned
folder `<cache>/tools/<name>/<version>/` and `<cache>/bin/<name>` is pointed at
it, so a rerun with the same pins is instant and a pin change rebuilds. Nothing
is put on the user's PATH: callers use the absolute paths `ensure_tools()`
returns (or prepend `bin_dir()` to a session's own environment).
"""

# ruff: noqa: S603, S607 - this module runs fixed build tools (docker, go, apt) by name

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from airgap import cache
from airgap.progress import mark_cached, note, step
from airgap.versions import (
    ACTIONLINT_MODULE,
    ACTIONLINT_VERSION,
    HELM_KUBERNETES_MINOR,
    HELM_MODULE,
    HELM_VERSION,
    KIND_MODULE,
    KIND_VERSION,
    KUBERNETES_VERSION,
)

KUBECTL_SOURCE = Path(__file__).parent / "kubectl"


class ToolError(RuntimeError):
    """A tool could not be built; the message says why."""


@dataclass(frozen=True)
class GoTool:
    name: str
    package: str  # what `go install` takes, without @version
    version: str
    ldflags: str = ""  # e.g. a -X version stamp; part of the cache key

    @property
    def build_id(self) -> str:
        """Versioned folder name: the version, plus a hash of the ldflags if any."""
        if not self.ldflags:
            return self.version
        return f"{self.version}-{hashlib.sha256(self.ldflags.encode()).hexdigest()[:8]}"


TOOLS = {
    "kind": GoTool("kind", KIND_MODULE, KIND_VERSION),
    # helm's version string is only "v3.19" unless stamped, and its default Kubernetes
    # version (for `helm template`/`lint` capabilities) is 1.20 unless stamped with the
    # client-go minor it is built with: what its Makefile does (client-go v0.34 -> 1.34).
    "helm": GoTool(
        "helm",
        f"{HELM_MODULE}/cmd/helm",
        HELM_VERSION,
        " ".join(
            [f"-X {HELM_MODULE}/internal/version.version={HELM_VERSION}"]
            + [
                f"-X {HELM_MODULE}/pkg/{pkg}.k8sVersion{part}={value}"
                for pkg in ("lint/rules", "chartutil")
                for part, value in (("Major", "1"), ("Minor", HELM_KUBERNETES_MINOR))
            ]
        ),
    ),
    "actionlint": GoTool("actionlint", f"{ACTIONLINT_MODULE}/cmd/actionlint", ACTIONLINT_VERSION),
}


def go_env() -> dict[str, str]:
    """Environment for Go builds: local toolchain only, static binaries."""
    if not shutil.which("go"):
        raise ToolError(
            "`go` is not installed: install Go (>= 1.24) from your distribution or go.dev; "
            "kind, helm, kubectl and the local images are built from Go modules"
        )
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def run_go(args: list[str], cwd: Path | None, env: dict[str, str], log: Path) -> None:
    """Run a go command, log its output; on a checksum-database failure retry with GOSUMDB=off."""
    note(f"go {' '.join(args)}  (log: {log})")
    with open(log, "ab") as fh:
        result = subprocess.run(
            ["go", *args], cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode == 0:
        return
    text = log.read_text(errors="replace")
    if "sum.golang.org" in text and env.get("GOSUMDB") != "off":
        note("checksum database unreachable: retrying with GOSUMDB=off")
        run_go(args, cwd, {**env, "GOSUMDB": "off"}, log)
        return
    raise ToolError(f"go {' '.join(args)} failed; last lines of {log}:\n{text[-3000:]}")


def versioned_dir(name: str, version: str) -> Path:
    return cache.sub_dir("tools", name, version)


def _link(name: str, target: Path) -> Path:
    link = cache.bin_dir() / name
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == str(target):
            return link
        link.unlink()
    link.symlink_to(target)
    return link


def ensure_go_tool(tool: GoTool) -> Path:
    """`go install` one tool at its pinned version (cached); return `<cache>/bin/<name>`."""
    with step(f"{tool.name} {tool.version}"):
        gobin = versioned_dir(tool.name, tool.build_id)
        binary = gobin / tool.name
        if not os.access(binary, os.X_OK):
            env = {**go_env(), "GOBIN": str(gobin)}
            log = cache.sub_dir("logs") / f"{tool.name}-{tool.build_id}.log"
            args = ["install", "-trimpath"]
            if tool.ldflags:
                args += ["-ldflags", tool.ldflags]
            run_go([*args, f"{tool.package}@{tool.version}"], None, env, log)
        else:
            mark_cached(str(binary))
        return _link(tool.name, binary)


def ensure_kubectl() -> Path:
    """kubectl at KUBERNETES_VERSION from the published k8s.io/kubectl module (cached)."""
    version = KUBERNETES_VERSION
    with step(f"kubectl {version}"):
        out_dir = versioned_dir("kubectl", version)
        binary = out_dir / "kubectl"
        if os.access(binary, os.X_OK):
            mark_cached(str(binary))
            return _link("kubectl", binary)
        staging = "v0" + version[2:]  # v1.34.0 -> v0.34.0 (staging module versions)
        major, minor = version.lstrip("v").split(".")[:2]
        env = go_env()
        log = cache.sub_dir("logs") / f"kubectl-{version}.log"
        with tempfile.TemporaryDirectory(dir=cache.sub_dir("tmp")) as tmp:
            work = Path(tmp)
            shutil.copy(KUBECTL_SOURCE / "main.go", work / "main.go")
            (work / "go.mod").write_text("module todo-airgap/kubectl\n\ngo 1.24.0\n")
            run_go(
                ["get", f"k8s.io/kubectl@{staging}", f"k8s.io/component-base@{staging}"],
                work,
                env,
                log,
            )
            run_go(["mod", "tidy"], work, env, log)
            stamp = {
                "gitVersion": version,
                "gitMajor": major,
                "gitMinor": minor,
                "gitTreeState": "clean",
            }
            ldflags = ["-s", "-w"]
            for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
                ldflags += [f"-X {pkg}.{key}={value}" for key, value in stamp.items()]
            run_go(
                ["build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(binary), "."],
                work,
                env,
                log,
            )
        return _link("kubectl", binary)


def ensure_tools() -> dict[str, Path]:
    """Build/link every pinned tool; return name -> absolute path in `<cache>/bin`."""
    with step("tools"):
        paths = {name: ensure_go_tool(tool) for name, tool in TOOLS.items()}
        paths["kubectl"] = ensure_kubectl()
    return paths


def tool_path(name: str) -> Path:
    """Absolute path of a tool in `<cache>/bin` (building it if needed)."""
    if name == "kubectl":
        return ensure_kubectl()
    if name not in TOOLS:
        raise ToolError(f"unknown tool {name!r}; known: kubectl, {', '.join(TOOLS)}")
    return ensure_go_tool(TOOLS[name])
