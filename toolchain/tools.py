"""The pinned command-line tools: kind, helm (Helm 4), helm3, kubectl, registry, crane,
actionlint, in `<cache>/bin`.

Each is a `toolchain.go.GoBuild` at the version in `toolchain.versions`,
built once into the cache and linked from `<cache>/bin/<name>`, so a rerun
with the same pins is instant and a pin change rebuilds. Nothing is put on
the user's PATH: callers use the absolute paths (`tool()`).

kubectl is built from the Kubernetes module at the run's cluster version
(`kubectl_version()`), with the same version stamp the node image's kubectl
gets. helm is Helm 4; helm3 is Helm 3, for runs that choose it (TODO_HELM=3).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from toolchain import cache, decide, go, versions
from toolchain.progress import step


class ToolError(RuntimeError):
    """A tool is missing or cannot be built; the message says what to do."""


def kubernetes_ldflags(version: str, build_date: str = "2025-08-27T00:00:00Z") -> tuple[str, ...]:
    """`-X` flags that stamp client-go and component-base like Kubernetes' own build does.

    kubeadm refuses an unstamped build, and kubectl reports its version from them.
    """
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+(?:[-+].*)?", version)
    if not match:
        raise ValueError(f"not a semantic Kubernetes version: {version!r}")
    values = {
        "gitVersion": version,
        "gitMajor": match.group(1),
        "gitMinor": match.group(2),
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags: list[str] = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [f"-X {pkg}.{key}={value}" for key, value in values.items()]
    return tuple(flags)


def _helm4_ldflags() -> tuple[str, ...]:
    # helm's version string is only "v4.3" unless stamped. Helm 4 reads its default
    # Kubernetes version (for `helm template`/`lint` capabilities) from the client-go module
    # in its build info, so nothing else needs stamping.
    return (f"-X {versions.HELM_MODULE}/internal/version.version={versions.HELM_VERSION}",)


def _helm3_ldflags() -> tuple[str, ...]:
    # Helm 3's version string is only "v3.22" unless stamped, and its default Kubernetes
    # version is 1.20 unless stamped with the client-go minor it is built with: what its
    # Makefile does.
    module = versions.HELM3_MODULE
    flags = [f"-X {module}/internal/version.version={versions.HELM3_VERSION}"]
    for pkg in ("lint/rules", "chartutil"):
        flags += [
            f"-X {module}/pkg/{pkg}.k8sVersionMajor=1",
            f"-X {module}/pkg/{pkg}.k8sVersionMinor={versions.HELM3_KUBERNETES_MINOR}",
        ]
    return tuple(flags)


def kubectl_build(version: str) -> go.GoBuild:
    return go.GoBuild(
        "kubectl",
        versions.KUBERNETES_MODULE,
        version,
        (("kubectl", f"{versions.KUBERNETES_MODULE}/cmd/kubectl"),),
        ldflags=kubernetes_ldflags(version),
        sibling_version=go.kubernetes_staging_version,
    )


def kubectl_version(environ: dict[str, str] | None = None) -> str:
    """The Kubernetes version of the run's node image (from the run's choice), else the
    default's: kubectl is supported within one minor of the server, and the matrix spans
    more than that, so each run's kubectl matches its cluster."""
    env = os.environ if environ is None else environ
    if env.get(decide.ENV_CHOICE):
        node = decide.RunChoice.from_json(env[decide.ENV_CHOICE]).images.node
        return versions.kubernetes_version_of(node)
    return versions.KUBERNETES_VERSION


BUILDS: dict[str, go.GoBuild] = {
    "kind": go.GoBuild(
        "kind", versions.KIND_MODULE, versions.KIND_VERSION, (("kind", versions.KIND_MODULE),)
    ),
    "helm": go.GoBuild(
        "helm",
        versions.HELM_MODULE,
        versions.HELM_VERSION,
        (("helm", f"{versions.HELM_MODULE}/cmd/helm"),),
        ldflags=_helm4_ldflags(),
    ),
    "helm3": go.GoBuild(
        "helm3",
        versions.HELM3_MODULE,
        versions.HELM3_VERSION,
        (("helm3", f"{versions.HELM3_MODULE}/cmd/helm"),),
        ldflags=_helm3_ldflags(),
    ),
    "kubectl": kubectl_build(versions.KUBERNETES_VERSION),
    "registry": go.GoBuild(
        "registry",
        versions.DISTRIBUTION_MODULE,
        versions.DISTRIBUTION_VERSION,
        (("registry", f"{versions.DISTRIBUTION_MODULE}/cmd/registry"),),
    ),
    "crane": go.GoBuild(
        "crane",
        versions.CRANE_MODULE,
        versions.CRANE_VERSION,
        (("crane", f"{versions.CRANE_MODULE}/cmd/crane"),),
    ),
    "actionlint": go.GoBuild(
        "actionlint",
        versions.ACTIONLINT_MODULE,
        versions.ACTIONLINT_VERSION,
        (("actionlint", f"{versions.ACTIONLINT_MODULE}/cmd/actionlint"),),
    ),
}
NAMES = tuple(BUILDS)


def build_spec(name: str) -> go.GoBuild:
    """The pinned build of a tool (kubectl at this run's cluster version)."""
    if name not in BUILDS:
        raise ToolError(f"unknown tool {name!r}; known: {', '.join(NAMES)}")
    if name == "kubectl":
        return kubectl_build(kubectl_version())
    return BUILDS[name]


def _link(name: str, target: Path) -> Path:
    link = cache.bin_dir() / name
    if link.is_symlink() and os.readlink(link) == str(target):
        return link
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
    return link


def ensure_tool(name: str) -> Path:
    """Build (once) and link one tool; return `<cache>/bin/<name>`."""
    return _link(name, go.build(build_spec(name)) / name)


def ensure_tools(names: tuple[str, ...] = NAMES) -> dict[str, Path]:
    """Build/link the pinned tools; return name -> absolute path in `<cache>/bin`."""
    with step("tools"):
        return {name: ensure_tool(name) for name in names}


def tool(name: str) -> Path:
    """The absolute path of a built tool at the pinned version; a clear error (never a build)
    if it is missing.

    The versioned build itself, not the `<cache>/bin` link: two checkouts with different
    pins share the cache, and the link follows whichever built last.
    """
    path = build_spec(name).out_dir() / "bin" / name
    if not path.exists():
        raise ToolError(
            f"{path} is missing: run `python -m toolchain tools` (or any nox session that "
            f"needs it) to build the pinned {name} into the cache"
        )
    return path
