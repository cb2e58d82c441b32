"""The facts of a bring-up (harness.stand_up.summary) as the page's "decided once" and
"versions" lists, shared by every suite that stands a release up."""

from __future__ import annotations

from typing import Any

from report.model import Fact


def decided(bring_up: dict[str, Any]) -> list[Fact]:
    choice = bring_up.get("choice") or {}
    images = choice.get("images") or {}
    cluster = bring_up.get("cluster") or {}
    facts = []
    if choice:
        facts += [
            Fact("Image source", str(choice.get("source")), choice.get("source_reason", "")),
            Fact("Node image", f"`{images.get('node')}`"),
            Fact(
                "NetworkPolicy enforcer",
                str(choice.get("enforcer")),
                choice.get("enforcer_reason", ""),
            ),
        ]
        if choice.get("browser"):
            facts.append(Fact("Browser", str(choice["browser"]), choice.get("browser_reason", "")))
        if choice.get("helm"):
            facts.append(Fact("Helm", str(choice["helm"]), choice.get("helm_reason", "")))
    if bring_up.get("values"):
        facts.append(Fact("Values files", str(bring_up["values"])))
    if cluster:
        given = "made by this run" if cluster.get("created_by_run") else "given (not made here)"
        kind = "kind cluster" if cluster.get("kind") else "cluster"
        facts += [
            Fact("Cluster", f"{kind} `{cluster.get('name')}`, {given}"),
            Fact("Nodes", str(cluster.get("nodes"))),
        ]
        if cluster.get("kubelet_versions"):
            facts.append(Fact("Kubelets", ", ".join(cluster["kubelet_versions"]), _cgroup(cluster)))
    caps = bring_up.get("capabilities") or {}
    if caps:
        offered = [
            f"{need} {'yes' if why is None else 'no (' + why + ')'}" for need, why in caps.items()
        ]
        facts.append(Fact("The cluster offers", ", ".join(offered)))
    for key in ("created", "deleted"):
        if bring_up.get(key):
            facts.append(Fact(f"The run {key}", "; ".join(bring_up[key])))
    return facts


def _cgroup(cluster: dict[str, Any]) -> str:
    """How the kubelets ran on this host."""
    if cluster.get("kubelet_on_cgroup_v1"):
        return (
            "this host runs cgroup v1: every kubelet was told to accept it with its deprecated "
            "escape hatch (failCgroupV1: false)"
        )
    return "the kubelets' defaults"


def versions(bring_up: dict[str, Any]) -> list[Fact]:
    versions = bring_up.get("versions") or {}
    images = (bring_up.get("choice") or {}).get("images") or {}
    facts = []
    if versions.get("chart"):
        facts.append(Fact("Chart", str(versions["chart"])))
    if images.get("app"):
        ids = versions.get("app_image_ids") or {}
        # the runtime's name before the digest is not the image's: for a side-loaded image
        # containerd reports "docker.io/library/import-<date>@sha256:..."
        digests = sorted({i.rpartition("@")[2] for i in ids.values() if i})
        shown = ", ".join(f"`{d}`" for d in digests) or "digest not recorded"
        facts.append(Fact("App image", f"`{images['app']}`: {shown}"))
    if versions.get("kubernetes_server"):
        facts.append(Fact("Kubernetes (server)", str(versions["kubernetes_server"])))
    for tool in ("kubectl", "helm", "kind", "python", "locust", "playwright"):
        if versions.get(tool):
            facts.append(
                Fact(tool.capitalize() if tool != "kubectl" else tool, str(versions[tool]))
            )
    if images.get("postgres_repository"):
        facts.append(
            Fact(
                "PostgreSQL image",
                f"`{images['postgres_repository']}:{images.get('postgres_tag')}`",
            )
        )
    if versions.get("error"):
        facts.append(Fact("Not read", str(versions["error"])))
    return facts


def commit(bring_up: dict[str, Any]) -> str:
    commit = bring_up.get("commit") or {}
    if not commit.get("sha"):
        return ""
    return commit["sha"][:12] + (" + uncommitted changes" if commit.get("dirty") else "")
